"""The contract between a model and the decoders (greedy, sampling, beam search).

A decoder needs three pure functions of the parameters and two arrays from the
states they return:

    encoded = model.encode(params, src_BxS, src_len_B)
    carry = model.init_carry(params, encoded)
    carry, logits_BxV, attn_BxS = model.decode_step(params, carry, token_B, encoded)

    encoded.src_mask_BxS   True at real (non-padding) source positions
    carry.coverage_BxS     attention summed over the steps so far (the coverage penalty)

Everything else in `encoded` and `carry` is the model's own business; decoders
only carry it along. Both are pytrees whose every leaf is batch-first, because
beam search tiles and gathers them along the batch axis (one example's K beams).
`decode_step` returns float32 scores: logits, or log-probabilities (an
ensemble), as decoders take their softmax.

:class:`~seq2seq_jax.models.seq2seq.Seq2Seq` (``Encoded``, ``DecoderCarry``) and
:class:`~seq2seq_jax.decoding.ensemble.Ensemble` implement it. The Protocols are
``runtime_checkable``: ``isinstance`` checks that the members exist (not their
signatures), which is what the tests assert.

Shapes: B batch, S source length, V vocabulary.
"""
from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

import jax

Params = Any  # a pytree of arrays


@runtime_checkable
class SourceEncoding(Protocol):
  """What decoders read from a model's encoded source."""

  @property
  def src_mask_BxS(self) -> jax.Array: ...


@runtime_checkable
class DecoderState(Protocol):
  """What decoders read from a model's decoder carry."""

  @property
  def coverage_BxS(self) -> jax.Array: ...


EncodedT = TypeVar("EncodedT", bound=SourceEncoding)
CarryT = TypeVar("CarryT", bound=DecoderState)


@runtime_checkable
class DecodeModel(Protocol[EncodedT, CarryT]):
  """A model the decoders can decode. Hashable: decoders take it as a static jit argument."""

  def encode(self, params: Params, src_BxS: jax.Array, src_len_B: jax.Array) -> EncodedT: ...

  def init_carry(self, params: Params, encoded: EncodedT) -> CarryT: ...

  def decode_step(self, params: Params, carry: CarryT, token_B: jax.Array,
                  encoded: EncodedT) -> tuple[CarryT, jax.Array, jax.Array]:
    """One step: the previous token -> (carry, scores_BxV float32, attn_BxS)."""

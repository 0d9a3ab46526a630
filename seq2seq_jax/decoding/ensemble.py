"""Ensembles and checkpoint averaging.

An :class:`Ensemble` of M models of one architecture holds their parameters
stacked on a leading axis (``stack_params``) and is itself a
:class:`~seq2seq_jax.decoding.protocol.DecodeModel`: ``encode`` / ``init_carry`` /
``decode_step`` are each a ``jax.vmap`` of the member model's over the M
parameter sets. Its step returns the log of the *averaged probabilities*, so
greedy decoding and beam search decode an ensemble in the same compiled program
without knowing it is one.

Shapes: M models, B batch, S source length, V vocabulary.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.decoding.protocol import DecodeModel


def stack_params(params_list):
  """[params_1, ..., params_M] -> one pytree with a leading axis M."""
  if not params_list:
    raise ValueError("an ensemble needs at least one parameter set")
  structs = {jax.tree.structure(p) for p in params_list}
  if len(structs) > 1:
    raise ValueError("ensemble members have different parameter structures "
                     "(different model configs?)")
  return jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)


def unstack_params(params_M):
  """One pytree with a leading axis M -> [params_1, ..., params_M] (stack_params inverse)."""
  num = jax.tree.leaves(params_M)[0].shape[0]
  return [jax.tree.map(lambda x, i=i: x[i], params_M) for i in range(num)]


def average_params(params_list):
  """Element-wise mean of parameter sets (checkpoint averaging)."""
  return jax.tree.map(lambda x: x.mean(0), stack_params(params_list))


class EnsembleEncoded(NamedTuple):
  """The members' encoded sources, and the source mask they share."""
  members: Any             # the member model's encoded source, every leaf B x M x ...
  src_mask_BxS: jax.Array


class EnsembleCarry(NamedTuple):
  """The members' decoder carries, and their mean coverage (for the coverage penalty)."""
  members: Any             # the member model's carry, every leaf B x M x ...
  coverage_BxS: jax.Array


def _m_second(tree):
  """Moves the members axis M behind the batch axis, so every leaf is batch-first."""
  return jax.tree.map(lambda x: jnp.moveaxis(x, 0, 1), tree)


@dataclasses.dataclass(frozen=True)
class Ensemble:
  """M models of one config, decoded as one; params have a leading M axis.

  Encoded sources and carries keep every leaf batch-first (B, M, ...), as the
  decoders expect (they tile and gather along the batch axis).
  """
  model: DecodeModel

  def encode(self, params_M, src_BxS, src_len_B) -> EnsembleEncoded:
    enc = jax.vmap(lambda p: self.model.encode(p, src_BxS, src_len_B))(params_M)
    return EnsembleEncoded(_m_second(enc), enc.src_mask_BxS[0])

  def init_carry(self, params_M, encoded: EnsembleEncoded) -> EnsembleCarry:
    carry = jax.vmap(self.model.init_carry, in_axes=(0, 1), out_axes=1)(
        params_M, encoded.members)
    return EnsembleCarry(carry, carry.coverage_BxS.mean(1))

  def decode_step(self, params_M, carry: EnsembleCarry, token_B, encoded: EnsembleEncoded):
    """One step of every member -> (carry, log mean probability_BxV, mean attn_BxS)."""
    step = jax.vmap(self.model.decode_step, in_axes=(0, 1, None, 1), out_axes=(1, 0, 0))
    members, logits_MxBxV, attn_MxBxS = step(params_M, carry.members, token_B,
                                             encoded.members)
    logp = jax.nn.log_softmax(logits_MxBxV.astype(jnp.float32))
    mean_logp = jax.nn.logsumexp(logp, axis=0) - jnp.log(logp.shape[0])
    return EnsembleCarry(members, members.coverage_BxS.mean(1)), mean_logp, attn_MxBxS.mean(0)

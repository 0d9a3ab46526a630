"""Output lengths: the per-example limit, the static buffer size, cutting at EOS.

Shared by every decoder, so greedy decoding, sampling and beam search stop at
the same place.

Shapes: B batch, S source length, T output length.
"""
from __future__ import annotations

import math

import jax.numpy as jnp


def max_output_lengths(src_len_B, *, max_len: int, ratio: float = 2.0, offset: int = 10):
  """Per-example length limit: min(max_len, ratio * src_len + offset)."""
  limit = jnp.floor(ratio * src_len_B.astype(jnp.float32)).astype(jnp.int32) + offset
  return jnp.minimum(limit, max_len)


def static_output_len(S: int, *, max_len: int, ratio: float = 2.0, offset: int = 10) -> int:
  """The output buffer a batch of sources padded to S needs: the largest
  `max_output_lengths` any of its rows can have, so a short-source bucket does not
  carry a buffer sized for the longest sentence."""
  return int(min(max_len, math.floor(ratio * S) + offset))


def strip(tokens_T, eos_id: int) -> list[int]:
  """Token ids up to (not including) the first EOS or padding 0."""
  out = []
  for tok in list(tokens_T):
    tok = int(tok)
    if tok == eos_id or tok == 0:
      break
    out.append(tok)
  return out

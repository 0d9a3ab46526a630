"""Decoding over a model's ``encode`` / ``init_carry`` / ``decode_step``.

Model-agnostic: anything with those three methods decodes; the decoder carry is
the cache. Each algorithm is one compiled ``lax.while_loop`` with fixed shapes
that exits as soon as every sequence has finished.

Shapes: B batch, S source length, T output length, V vocabulary.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def max_output_lengths(src_len_B, *, max_len: int, ratio: float = 2.0, offset: int = 10):
  """Per-example length limit: min(max_len, ratio * src_len + offset)."""
  limit = jnp.floor(ratio * src_len_B.astype(jnp.float32)).astype(jnp.int32) + offset
  return jnp.minimum(limit, max_len)


@functools.partial(jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id", "pad_id"))
def greedy(model, params, src_BxS, src_len_B, *, max_len: int, bos_id: int, eos_id: int,
           pad_id: int = 0, len_limit_B=None):
  """Greedy decoding. Returns (tokens_BxT int32, lengths_B, attn_BxTxS).

  T = max_len (static). PAD and BOS are never produced; at an example's
  last allowed step only EOS is, so every output ends with EOS. Tokens after EOS (and
  after `len_limit_B`, default `max_output_lengths`) are 0; lengths count
  tokens up to and including EOS.
  """
  enc = model.encode(params, src_BxS, src_len_B)
  carry = model.init_carry(params, enc)
  B, S = src_BxS.shape
  if len_limit_B is None:
    len_limit_B = max_output_lengths(src_len_B, max_len=max_len)
  tokens = jnp.zeros((B, max_len), jnp.int32)
  attn = jnp.zeros((B, max_len, S), jnp.float32)
  done = jnp.zeros((B,), bool) | (len_limit_B <= 0)
  state = (0, carry, jnp.full((B,), bos_id, jnp.int32), tokens, attn, done,
           jnp.zeros((B,), jnp.int32))

  def cond(state):
    t, _, _, _, _, done, _ = state
    return (t < max_len) & ~jnp.all(done)

  def body(state):
    t, carry, prev, tokens, attn, done, lengths = state
    carry, logits, a = model.decode_step(params, carry, prev, enc)
    vocab = jnp.arange(logits.shape[-1])
    logits = jnp.where((vocab == pad_id) | (vocab == bos_id), -jnp.inf, logits)
    last = (t + 1 >= len_limit_B)[:, None]  # the last allowed step emits EOS (as beam search)
    logits = jnp.where(last & (vocab != eos_id), -jnp.inf, logits)
    nxt = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    nxt = jnp.where(done, 0, nxt)
    tokens = tokens.at[:, t].set(nxt)
    attn = attn.at[:, t].set(jnp.where(done[:, None], 0.0, a.astype(jnp.float32)))
    lengths = lengths + (~done).astype(jnp.int32)
    done = done | (nxt == eos_id) | (t + 1 >= len_limit_B)
    return t + 1, carry, nxt, tokens, attn, done, lengths

  _, _, _, tokens, attn, _, lengths = jax.lax.while_loop(cond, body, state)
  return tokens, lengths, attn


def strip(tokens_T, eos_id: int) -> list[int]:
  """Token ids up to (not including) the first EOS or padding 0."""
  out = []
  for tok in list(tokens_T):
    tok = int(tok)
    if tok == eos_id or tok == 0:
      break
    out.append(tok)
  return out

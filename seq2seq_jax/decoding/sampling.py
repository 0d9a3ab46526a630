"""Greedy decoding and ancestral sampling (temperature, top-k, top-p).

Each is one compiled ``lax.while_loop`` with fixed shapes over a
:class:`~seq2seq_jax.decoding.protocol.DecodeModel` (the decoder carry is the
cache) that exits as soon as every sequence has finished.

Shapes: B batch, S source length, T output length, V vocabulary.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from seq2seq_jax.decoding.lengths import max_output_lengths
from seq2seq_jax.decoding.protocol import DecodeModel


@functools.partial(jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id", "pad_id"))
def greedy(model: DecodeModel, params, src_BxS, src_len_B, *, max_len: int, bos_id: int,
           eos_id: int, pad_id: int = 0, len_limit_B=None):
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


def filter_logits(logits_BxV, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
  """Temperature, then top-k, then nucleus (top-p) filtering; removed tokens get -inf.

  Top-p keeps the smallest set of most likely tokens whose probability reaches
  `top_p` (Holtzman et al. 2020); the most likely token always survives.
  """
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature} (use greedy for argmax)")
  logits = logits_BxV.astype(jnp.float32) / temperature
  V = logits.shape[-1]
  if 0 < top_k < V:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass of strictly more likely tokens
    keep_sorted = before < top_p
    cutoff = jnp.min(jnp.where(keep_sorted, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, -jnp.inf, logits)
  return logits


@functools.partial(jax.jit, static_argnames=("model", "max_len", "bos_id", "eos_id", "pad_id",
                                             "temperature", "top_k", "top_p"))
def sample(model: DecodeModel, params, src_BxS, src_len_B, key, *, max_len: int, bos_id: int,
           eos_id: int, pad_id: int = 0, temperature=1.0, top_k: int = 0, top_p=1.0,
           len_limit_B=None):
  """Ancestral sampling with temperature / top-k / top-p. Returns (tokens_BxT, lengths_B).

  Step t draws with ``fold_in(key, t)``, so a key reproduces its samples.
  temperature / top_k / top_p are compile-time constants (one program each).
  Same conventions as :func:`greedy` (no PAD/BOS, EOS at the last allowed step).
  """
  enc = model.encode(params, src_BxS, src_len_B)
  carry = model.init_carry(params, enc)
  B = src_BxS.shape[0]
  if len_limit_B is None:
    len_limit_B = max_output_lengths(src_len_B, max_len=max_len)
  state = (0, carry, jnp.full((B,), bos_id, jnp.int32), jnp.zeros((B, max_len), jnp.int32),
           jnp.zeros((B,), bool) | (len_limit_B <= 0), jnp.zeros((B,), jnp.int32))

  def cond(state):
    return (state[0] < max_len) & ~jnp.all(state[4])

  def body(state):
    t, carry, prev, tokens, done, lengths = state
    carry, logits, _ = model.decode_step(params, carry, prev, enc)
    vocab = jnp.arange(logits.shape[-1])
    logits = jnp.where((vocab == pad_id) | (vocab == bos_id), -jnp.inf, logits)
    last = (t + 1 >= len_limit_B)[:, None]
    logits = jnp.where(last & (vocab != eos_id), -jnp.inf, logits)
    logits = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)
    nxt = jax.random.categorical(jax.random.fold_in(key, t), logits).astype(jnp.int32)
    nxt = jnp.where(done, 0, nxt)
    tokens = tokens.at[:, t].set(nxt)
    lengths = lengths + (~done).astype(jnp.int32)
    done = done | (nxt == eos_id) | (t + 1 >= len_limit_B)
    return t + 1, carry, nxt, tokens, done, lengths

  _, _, _, tokens, _, lengths = jax.lax.while_loop(cond, body, state)
  return tokens, lengths

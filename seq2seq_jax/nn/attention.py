"""Attention over encoder states, as pure functions.

Every function takes queries for T decoder steps at once (``q_BxTxH``; a
one-step decoder passes T=1), so teacher forcing without feedback can attend
for all target positions in one batched matmul.

Score functions (h_t query, h_s encoder state):

============  ==========================================  =======================
kind          score(h_t, h_s)                             reference
============  ==========================================  =======================
dot           h_t . h_s                                   Luong et al. 2015
scaled_dot    h_t . h_s / sqrt(H)                         Vaswani et al. 2017
general       h_t W_a h_s                                 Luong et al. 2015
concat        v . tanh(W_q h_t + W_k h_s)                 Luong et al. 2015
bahdanau      v . tanh(W_q s_{t-1} + W_k h_s)  (MLP)      Bahdanau et al. 2015
location      (W_a h_t)_s  (no dependence on h_s)         Luong et al. 2015
local_m       general score in window |s - t| <= D        Luong et al. 2015
local_p       general score in window around p_t, times   Luong et al. 2015
              exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D/2
============  ==========================================  =======================

Padded source positions get weight exactly 0. Weights sum to 1 over the
valid positions for every kind except local_p, which follows the paper
(eq. 10): the window softmax is multiplied by the Gaussian and *not*
renormalised, so its weights sum to at most 1.

local_m centres the window at p_t = min(t, len - 1) (the paper's p_t = t,
clipped so a target longer than its source still attends somewhere).
local_p predicts p_t = len * sigmoid(v_p . tanh(W_p h_t)) with each sequence's
own source length `len`, so padding does not move the window.

Parameter-dependent work that depends only on the encoder states (``W_a h_s``,
``W_k h_s``) is done once per sentence by :func:`precompute`.

Shapes: B batch, T decoder steps, S source positions, H hidden (query) size,
M memory (encoder state) size, A additive-attention size.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from seq2seq_jax.nn.cells import at_least_f32

Params = dict[str, Any]

ATTENTION_TYPES = ("dot", "scaled_dot", "general", "concat", "bahdanau",
                   "location", "local_m", "local_p")


def init_params(kind: str, key, query_dim: int, memory_dim: int,
                attention_dim: int, max_source_len: int) -> Params:
  """Fresh parameters for attention `kind` (uniform +-1/sqrt(fan_in))."""
  def u(k, shape, fan_in):
    b = 1.0 / jnp.sqrt(fan_in)
    return jax.random.uniform(k, shape, jnp.float32, -b, b)
  ks = jax.random.split(key, 4)
  if kind in ("dot", "scaled_dot"):
    if query_dim != memory_dim:
      raise ValueError(f"{kind} attention needs query size == memory size, "
                       f"got {query_dim} and {memory_dim}")
    return {}
  if kind == "general":
    return {"w_a": u(ks[0], (memory_dim, query_dim), memory_dim)}
  if kind in ("concat", "bahdanau"):
    return {"w_q": u(ks[0], (query_dim, attention_dim), query_dim),
            "w_k": u(ks[1], (memory_dim, attention_dim), memory_dim),
            "v": u(ks[2], (attention_dim,), attention_dim)}
  if kind == "location":
    return {"w_loc": u(ks[0], (query_dim, max_source_len), query_dim)}
  if kind == "local_m":
    return {"w_a": u(ks[0], (memory_dim, query_dim), memory_dim)}
  if kind == "local_p":
    return {"w_a": u(ks[0], (memory_dim, query_dim), memory_dim),
            "w_p": u(ks[1], (query_dim, attention_dim), query_dim),
            "v_p": u(ks[2], (attention_dim,), attention_dim)}
  raise ValueError(f"unknown attention type {kind!r}; expected one of {ATTENTION_TYPES}")


def precompute(kind: str, params: Params, memory_BxSxM: jax.Array) -> jax.Array:
  """Keys computed once per source sentence (the memory itself for dot)."""
  if kind in ("general", "local_m", "local_p"):
    return jnp.einsum("bsm,mh->bsh", memory_BxSxM, params["w_a"].astype(memory_BxSxM.dtype))
  if kind in ("concat", "bahdanau"):
    return jnp.einsum("bsm,ma->bsa", memory_BxSxM, params["w_k"].astype(memory_BxSxM.dtype))
  return memory_BxSxM


def masked_softmax(scores_BxTxS: jax.Array, mask_BxTxS: jax.Array) -> jax.Array:
  """Softmax over valid positions; exactly 0 on masked ones; all-masked rows -> 0."""
  s = jnp.where(mask_BxTxS, at_least_f32(scores_BxTxS), -jnp.inf)
  m = jnp.max(s, axis=-1, keepdims=True)
  m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, 0.0))
  e = jnp.where(mask_BxTxS, jnp.exp(s - m), 0.0)
  return e / jnp.maximum(e.sum(-1, keepdims=True), jnp.finfo(e.dtype).tiny)


def scores(kind: str, params: Params, q_BxTxH: jax.Array, keys_BxSx_: jax.Array) -> jax.Array:
  """Unnormalised scores_BxTxS (at least float32)."""
  if kind in ("dot", "general", "local_m", "local_p"):
    s = jnp.einsum("bth,bsh->bts", q_BxTxH, keys_BxSx_.astype(q_BxTxH.dtype))
  elif kind == "scaled_dot":
    s = jnp.einsum("bth,bsh->bts", q_BxTxH, keys_BxSx_.astype(q_BxTxH.dtype))
    s = s / jnp.sqrt(jnp.asarray(q_BxTxH.shape[-1], s.dtype))
  elif kind in ("concat", "bahdanau"):
    wq = jnp.einsum("bth,ha->bta", q_BxTxH, params["w_q"].astype(q_BxTxH.dtype))
    hidden = jnp.tanh(wq[:, :, None, :] + keys_BxSx_[:, None, :, :].astype(wq.dtype))
    s = jnp.einsum("btsa,a->bts", hidden, params["v"].astype(hidden.dtype))
  elif kind == "location":
    S = keys_BxSx_.shape[1]
    w = params["w_loc"]
    if S > w.shape[1]:
      raise ValueError(f"location attention was built for at most {w.shape[1]} source "
                       f"positions (max_source_len) but got {S}")
    s = jnp.einsum("bth,hs->bts", q_BxTxH, w[:, :S].astype(q_BxTxH.dtype))
  else:
    raise ValueError(f"unknown attention type {kind!r}; expected one of {ATTENTION_TYPES}")
  return at_least_f32(s)


def local_position(kind: str, params: Params, q_BxTxH, steps_BxT, src_len_B):
  """Window centre p_BxT (at least float32) for local_m / local_p."""
  ftype = jnp.promote_types(q_BxTxH.dtype, jnp.float32)
  length = src_len_B.astype(ftype)[:, None]
  if kind == "local_m":
    return jnp.minimum(steps_BxT.astype(ftype), jnp.maximum(length - 1.0, 0.0))
  hidden = jnp.tanh(jnp.einsum("bth,ha->bta", q_BxTxH, params["w_p"].astype(q_BxTxH.dtype)))
  logit = jnp.einsum("bta,a->bt", hidden, params["v_p"].astype(hidden.dtype))
  return length * jax.nn.sigmoid(at_least_f32(logit))


def attend(kind: str, params: Params, q_BxTxH: jax.Array, memory_BxSxM: jax.Array,
           keys: jax.Array, src_mask_BxS: jax.Array, *, steps_BxT: jax.Array | None = None,
           src_len_B: jax.Array | None = None, window: int = 10):
  """Context vectors and weights: (ctx_BxTxM, weights_BxTxS float32).

  `steps_BxT` (decoder step index of each query) and `src_len_B` are needed by
  the local kinds only; `window` is Luong's D.
  """
  s = scores(kind, params, q_BxTxH, keys)
  mask = jnp.broadcast_to(src_mask_BxS[:, None, :], s.shape)
  if kind in ("local_m", "local_p"):
    p_BxT = local_position(kind, params, q_BxTxH, steps_BxT, src_len_B)
    pos_S = jnp.arange(s.shape[-1], dtype=s.dtype)
    dist = pos_S[None, None, :] - p_BxT[:, :, None]
    mask = mask & (jnp.abs(dist) <= window)
  weights = masked_softmax(s, mask)
  if kind == "local_p":
    sigma = window / 2.0
    weights = weights * jnp.exp(-jnp.square(dist) / (2.0 * sigma * sigma))
  ctx = jnp.einsum("bts,bsm->btm", weights.astype(memory_BxSxM.dtype), memory_BxSxM)
  return ctx, weights

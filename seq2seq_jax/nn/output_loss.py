"""The output layer and the cross-entropy as one function with a hand-written gradient.

Reverse-mode autodiff of ``log_softmax(h @ W + b)`` followed by the token NLL keeps
three NxV arrays around (the logits, the log-probabilities saved for the backward
pass, and their gradient), N = B*T tokens: at B=64, T=30, V=8000 that is 61 MB each,
and at T=1000 it dominates the memory of a training step. The gradient of a token
loss with respect to its logits is known in closed form,

    d loss / d logits = w_n * (softmax(logits) - q_n),
    q_n = (1 - e) * onehot(target_n) + e / V          (label smoothing e),

so this function computes it in the forward pass, right after the logits, and keeps
only what the backward pass scales by the incoming cotangent: dL/dh (NxH), dL/dW (HxV)
and dL/db (V). With ``chunk`` > 0 it does so ``chunk`` rows at a time in a scan, so
only one chunk's logits ever exist, and nothing is recomputed.

The forward pass therefore costs the three GEMMs of a training step (logits, dh, dW)
even when no gradient is taken: use it for the training loss only (``train_step``),
not for evaluation.

Semantics: the returned NLL sum and weight sum are metrics with ``stop_gradient``;
only the (smoothed) loss sum is differentiable, as in ``train.token_losses`` when its
NLL is used as an auxiliary output; targets and weights are data (no gradient). ``tests/output_loss_test.py`` checks values and
gradients against autodiff of the plain computation.

Shapes: N rows (tokens), H features, V vocabulary.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def plain_losses(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing: float = 0.0):
  """(loss sum, NLL sum, weight sum) by autodiff-friendly plain code (the reference)."""
  logits = jnp.dot(h_NxH, w_HxV, preferred_element_type=jnp.float32) + b_V.astype(jnp.float32)
  logp = jax.nn.log_softmax(logits)
  nll = -jnp.take_along_axis(logp, targets_N[:, None], axis=-1)[:, 0]
  loss = nll
  if label_smoothing:
    loss = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
  w = weights_N.astype(jnp.float32)
  return (loss * w).sum(), jax.lax.stop_gradient((nll * w).sum()), jax.lax.stop_gradient(w.sum())


def _chunk_sums_and_grads(h, w_HxV, b_V, targets, weights, e: float):
  """Sums and the loss-sum gradients (dh, dW, db) of one chunk of rows."""
  logits = jnp.dot(h, w_HxV, preferred_element_type=jnp.float32) + b_V.astype(jnp.float32)
  lse = jax.nn.logsumexp(logits, axis=-1)
  tgt_logit = jnp.take_along_axis(logits, targets[:, None], axis=-1)[:, 0]
  nll = lse - tgt_logit
  wt = weights.astype(jnp.float32)
  loss = nll if not e else (1.0 - e) * nll + e * (lse - logits.mean(-1))
  vocab = logits.shape[-1]
  onehot = jax.nn.one_hot(targets, vocab, dtype=jnp.float32)
  q = onehot if not e else (1.0 - e) * onehot + e / vocab
  dlogits = wt[:, None] * (jnp.exp(logits - lse[:, None]) - q)
  dh = jnp.dot(dlogits.astype(h.dtype), w_HxV.T, preferred_element_type=jnp.float32)
  dw = jnp.dot(h.T, dlogits.astype(h.dtype), preferred_element_type=jnp.float32)
  sums = ((loss * wt).sum(), (nll * wt).sum(), wt.sum())
  return sums, (dh, dw, dlogits.sum(0))


def _forward(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing, chunk):
  N = h_NxH.shape[0]
  if not chunk or chunk >= N:
    return _chunk_sums_and_grads(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing)
  n = -(-N // chunk)
  pad = n * chunk - N  # padded rows have weight 0: no loss, no gradient
  padded = [jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
            for x in (h_NxH, targets_N, weights_N)]
  h_c, t_c, w_c = (x.reshape((n, chunk) + x.shape[1:]) for x in padded)

  def body(acc, xs):
    sums, (dh, dw, db) = _chunk_sums_and_grads(xs[0], w_HxV, b_V, xs[1], xs[2],
                                               label_smoothing)
    (s_loss, s_nll, s_w), (a_dw, a_db) = acc
    return ((s_loss + sums[0], s_nll + sums[1], s_w + sums[2]), (a_dw + dw, a_db + db)), dh

  zero = jnp.float32(0)
  init = ((zero, zero, zero), (jnp.zeros(w_HxV.shape, jnp.float32),
                               jnp.zeros(b_V.shape, jnp.float32)))
  (sums, (dw, db)), dh = jax.lax.scan(body, init, (h_c, t_c, w_c))
  return sums, (dh.reshape(n * chunk, -1)[:N], dw, db)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def fused_losses(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing: float = 0.0,
                 chunk: int = 0):
  """(loss sum, NLL sum, weight sum) of ``plain_losses``, with the gradient computed in
  the forward pass (and ``chunk`` rows at a time when > 0)."""
  sums, _ = _forward(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing, chunk)
  return sums


def _fwd(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing, chunk):
  sums, (dh, dw, db) = _forward(h_NxH, w_HxV, b_V, targets_N, weights_N, label_smoothing,
                                chunk)
  # Kept in the inputs' dtypes (bf16 compute keeps bf16 residuals).
  return sums, (dh.astype(h_NxH.dtype), dw.astype(w_HxV.dtype), db.astype(b_V.dtype))


def _bwd(label_smoothing, chunk, residuals, cotangents):
  del label_smoothing, chunk
  ct_loss = cotangents[0]  # the NLL and weight sums are metrics (stop_gradient)
  dh, dw, db = ((ct_loss * g).astype(g.dtype) for g in residuals)
  return dh, dw, db, None, None  # targets and weights are data: no gradient


fused_losses.defvjp(_fwd, _bwd)

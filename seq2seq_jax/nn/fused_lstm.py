"""The LSTM recurrence with a hand-written backward pass (``jax.custom_vjp``).

Reverse-mode autodiff of ``lax.scan`` accumulates the recurrent weight gradient
inside the backward loop: every step does a small [H,B]x[B,4H] matmul and adds
it into dW_hh. cuDNN and oneDNN instead run the backward loop only for what is
truly sequential (dh, dc and the gate gradients) and compute

    dW_hh = sum_t h_{t-1}^T dgates_t = H_prev^T (H x T*B) @ dGates (T*B x 4H)

as one large GEMM after the loop. This module does the same. The forward pass
saves what the backward pass needs (previous h and c, gate activations) so no
step is recomputed.

Semantics equal ``recurrent.scan_recurrence(lstm, ..., fused_lstm=False)`` (the
plain scan) exactly, padding mask included: masked steps keep the carry and output
zeros. ``recurrent`` takes this path for a float32 LSTM unless called with
``fused_lstm=False``; ``tests/fused_lstm_test`` checks values and gradients
against the plain scan.

Shapes: T time, B batch, H hidden, G = 4H (gate order i, f, g, o).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _forward(w_hh, xp_TxBxG, carry0, mask_TxB):
  """Forward scan; also returns the residuals the backward pass needs."""
  def body(carry, inputs):
    h, c = carry
    xp_t, m_B = inputs
    gates = xp_t + h @ w_hh
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    i, f, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jax.nn.sigmoid(o)
    g = jnp.tanh(g)
    c_new = f * c + i * g
    tc = jnp.tanh(c_new)
    h_new = o * tc
    m = m_B[:, None]
    h_out = jnp.where(m, h_new, 0.0)
    carry = (jnp.where(m, h_new, h), jnp.where(m, c_new, c))
    return carry, (h_out, (h, c, jnp.concatenate([i, f, g, o], -1), tc))
  final, (h_TxBxH, saved) = jax.lax.scan(body, carry0, (xp_TxBxG, mask_TxB))
  return final, h_TxBxH, saved


@jax.custom_vjp
def lstm_scan(w_hh, xp_TxBxG, carry0, mask_TxB):
  """(final (h, c), h_TxBxH) of an LSTM over pre-projected inputs xp = x W_ih + b."""
  final, h_TxBxH, _ = _forward(w_hh, xp_TxBxG, carry0, mask_TxB)
  return final, h_TxBxH


def _fwd(w_hh, xp_TxBxG, carry0, mask_TxB):
  final, h_TxBxH, saved = _forward(w_hh, xp_TxBxG, carry0, mask_TxB)
  return (final, h_TxBxH), (w_hh, mask_TxB, saved)


def _bwd(residuals, cotangents):
  w_hh, mask_TxB, (h_prev, c_prev, acts, tc) = residuals
  (dh_final, dc_final), dh_out_TxBxH = cotangents
  w_hh_T = w_hh.T

  def body(carry, inputs):
    dh, dc = carry
    dh_out, m_B, h_p, c_p, act, tc_t = inputs
    i, f, g, o = jnp.split(act, 4, axis=-1)
    m = m_B[:, None]
    dh_tot = dh + dh_out
    do = dh_tot * tc_t
    dc_tot = dc + dh_tot * o * (1.0 - tc_t * tc_t)
    dgates = jnp.concatenate([dc_tot * g * i * (1.0 - i),       # d(i pre-activation)
                              dc_tot * c_p * f * (1.0 - f),     # d(f ...)
                              dc_tot * i * (1.0 - g * g),       # d(g ...)
                              do * o * (1.0 - o)], axis=-1)     # d(o ...)
    dgates = jnp.where(m, dgates, 0.0)
    # A masked step passed its carry through unchanged, so does its gradient.
    dh_prev = jnp.where(m, dgates @ w_hh_T, dh)
    dc_prev = jnp.where(m, dc_tot * f, dc)
    return (dh_prev, dc_prev), dgates

  (dh0, dc0), dgates_TxBxG = jax.lax.scan(
      body, (dh_final, dc_final), (dh_out_TxBxH, mask_TxB, h_prev, c_prev, acts, tc),
      reverse=True)
  T, B, G = dgates_TxBxG.shape
  H = h_prev.shape[-1]
  # The one large GEMM over all time steps.
  dw_hh = h_prev.reshape(T * B, H).T @ dgates_TxBxG.reshape(T * B, G)
  return dw_hh, dgates_TxBxG, (dh0, dc0), None


lstm_scan.defvjp(_fwd, _bwd)


def supported(cell_name: str, w_hh, xp) -> bool:
  """The fused path covers the float32 LSTM; other cells/dtypes use the plain scan."""
  return cell_name == "lstm" and w_hh.dtype == jnp.float32 and xp.dtype == jnp.float32

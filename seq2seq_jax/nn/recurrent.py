"""Recurrent layers over time: masked scans, bidirectional and stacked layers.

Layout is time-major inside this module (``x_TxBxE``) because ``lax.scan``
walks the leading axis; the model transposes once at its boundary.

Speed by design: a layer projects the inputs of all T steps with one matmul
(``cell.project`` on ``T*B`` rows) and scans only the recurrent matmul.

Padding: ``lengths_B`` gives each sequence's true length. Steps ``t >= length``
leave the carry untouched and emit zeros, so the final carry is the state at
each sequence's own last token and appending padding changes nothing. The
backward direction of a bidirectional layer reverses each sequence within its
own length (``reverse_padded``), not the padded tensor.

The float32 LSTM runs through ``fused_lstm.lstm_scan`` by default, whose backward
pass computes the recurrent weight gradient as one GEMM over all steps;
``fused_lstm=False`` differentiates the plain scan instead (same values to float32
rounding). The switch is an argument, not a global, so it is part of what a jitted
function traces: changing it compiles a new program rather than being ignored.

Shapes: T time, B batch, E input features, H hidden units, G = gates * H.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from seq2seq_jax.nn import cells as cells_lib
# Aliased: `fused_lstm` is the name of the switch every function here takes.
from seq2seq_jax.nn import fused_lstm as fused_lib

Params = dict[str, Any]


def time_mask(lengths_B: jax.Array, max_len: int) -> jax.Array:
  """mask_TxB: True where t < length."""
  return jnp.arange(max_len)[:, None] < lengths_B[None, :]


def reverse_padded(x_TxB_: jax.Array, lengths_B: jax.Array) -> jax.Array:
  """Reverses each sequence within its own length; padding stays in place.

  For length L, position t < L takes position L-1-t; t >= L maps to itself.
  The function is its own inverse.
  """
  t = jnp.arange(x_TxB_.shape[0])[:, None]
  src_TxB = jnp.where(t < lengths_B[None, :], lengths_B[None, :] - 1 - t, t)
  idx = src_TxB.reshape(src_TxB.shape + (1,) * (x_TxB_.ndim - 2))
  return jnp.take_along_axis(x_TxB_, idx, axis=0)


def remat_scan(fn, carry0, xs, chunk: int = 0):
  """``lax.scan(fn, carry0, xs)`` that keeps only every `chunk`-th carry for the backward
  pass and recomputes the steps in between (``jax.checkpoint`` per chunk).

  Plain reverse-mode autodiff of a scan stores every step's residuals (an LSTM: h, c,
  the four gates, tanh(c)), O(T) of them; here the stored state is the T/chunk chunk
  boundaries plus one chunk's residuals while it is differentiated, at the cost of one
  more forward pass. chunk ~ sqrt(T) minimises memory. `fn(carry, xs_chunk)` scans a
  whole chunk (so a fused kernel such as ``fused_lstm.lstm_scan`` runs per chunk);
  leading axis T of `xs` need not divide by `chunk`: the remainder is one last,
  shorter chunk. chunk 0 (or >= T) is the plain ``fn(carry0, xs)``.
  """
  T = jax.tree.leaves(xs)[0].shape[0]
  if not chunk or chunk >= T:
    return fn(carry0, xs)
  n = T // chunk
  head = jax.tree.map(lambda x: x[:n * chunk].reshape((n, chunk) + x.shape[1:]), xs)
  fn_ckpt = jax.checkpoint(fn)
  carry, ys = jax.lax.scan(fn_ckpt, carry0, head)
  ys = jax.tree.map(lambda y: y.reshape((n * chunk,) + y.shape[2:]), ys)
  if n * chunk < T:
    carry, ys_tail = fn_ckpt(carry, jax.tree.map(lambda x: x[n * chunk:], xs))
    ys = jax.tree.map(lambda a, b: jnp.concatenate([a, b], axis=0), ys, ys_tail)
  return carry, ys


def scan_recurrence(cell: cells_lib.Cell, params: Params, xp_TxBxG: jax.Array,
                    carry0, mask_TxB: jax.Array | None = None, remat_chunk: int = 0, *,
                    fused_lstm: bool = True):
  """Runs the recurrent half of `cell` over T steps of projected inputs.

  Returns (final_carry, h_TxBxH). With a mask, masked steps keep the carry and
  output zeros. `remat_chunk` > 0 rematerialises the scan in chunks of that many
  steps (`remat_scan`): the same values and gradients in less memory.
  `fused_lstm`: a float32 LSTM uses ``fused_lstm.lstm_scan`` (see the module doc);
  other cells and dtypes always take the plain scan.
  """
  if remat_chunk and remat_chunk < xp_TxBxG.shape[0]:
    if mask_TxB is None:
      mask_TxB = jnp.ones(xp_TxBxG.shape[:2], bool)
    return remat_scan(lambda c, xs: scan_recurrence(cell, params, xs[0], c, xs[1],
                                                    fused_lstm=fused_lstm),
                      carry0, (xp_TxBxG, mask_TxB), remat_chunk)
  if fused_lstm and fused_lib.supported(cell.name, params["w_hh"], xp_TxBxG):
    if mask_TxB is None:
      mask_TxB = jnp.ones(xp_TxBxG.shape[:2], bool)
    return fused_lib.lstm_scan(params["w_hh"], xp_TxBxG, carry0, mask_TxB)
  if mask_TxB is None:
    def body(carry, xp_t):
      return cell.recur(params, carry, xp_t)
    return jax.lax.scan(body, carry0, xp_TxBxG)

  def masked_body(carry, inputs):
    xp_t, m_B = inputs
    new_carry, h = cell.recur(params, carry, xp_t)
    m = m_B[:, None]
    carry = jax.tree.map(lambda n, o: jnp.where(m, n, o), new_carry, carry)
    return carry, jnp.where(m, h, jnp.zeros_like(h))
  return jax.lax.scan(masked_body, carry0, (xp_TxBxG, mask_TxB))


def run_layer(cell: cells_lib.Cell, params: Params, x_TxBxE: jax.Array,
              lengths_B: jax.Array | None, carry0=None, reverse: bool = False,
              remat_chunk: int = 0, *, fused_lstm: bool = True):
  """One unidirectional layer. Returns (h_TxBxH, final_carry).

  `reverse=True` reads each sequence backwards within its length and returns
  outputs aligned with the input positions. `remat_chunk`, `fused_lstm`: see
  `scan_recurrence`.
  """
  T, B = x_TxBxE.shape[:2]
  H = params["w_hh"].shape[0]
  if carry0 is None:
    carry0 = cell.init_carry(B, H, params["w_hh"].dtype)
  if reverse:
    x_TxBxE = reverse_padded(x_TxBxE, lengths_B)
  xp = cell.project(params, x_TxBxE)
  mask = None if lengths_B is None else time_mask(lengths_B, T)
  final, h_TxBxH = scan_recurrence(cell, params, xp, carry0, mask, remat_chunk,
                                   fused_lstm=fused_lstm)
  if reverse:
    h_TxBxH = reverse_padded(h_TxBxH, lengths_B)
  return h_TxBxH, final


def concat_carries(a, b):
  """Joins forward and backward final states along features: H/2 + H/2 -> H."""
  return jax.tree.map(lambda x, y: jnp.concatenate([x, y], axis=-1), a, b)


def run_bidirectional(cell, params: Params, x_TxBxE, lengths_B, remat_chunk: int = 0, *,
                      fused_lstm: bool = True):
  """A bidirectional layer: params {'fwd','bwd'}, each H/2 units; outputs h_TxBxH."""
  kw = dict(remat_chunk=remat_chunk, fused_lstm=fused_lstm)
  h_fwd, c_fwd = run_layer(cell, params["fwd"], x_TxBxE, lengths_B, **kw)
  h_bwd, c_bwd = run_layer(cell, params["bwd"], x_TxBxE, lengths_B, reverse=True, **kw)
  return jnp.concatenate([h_fwd, h_bwd], axis=-1), concat_carries(c_fwd, c_bwd)


def dropout(x, rate: float, key, deterministic: bool):
  """Inverted dropout; identity when deterministic, rate 0 or no key."""
  if deterministic or rate == 0.0 or key is None:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x)).astype(x.dtype)


def run_stack(cell: cells_lib.Cell, layers: Sequence[Params], x_TxBxE: jax.Array,
              lengths_B: jax.Array | None, *, bidirectional: Sequence[bool],
              residual_start: int | None = None, carries0=None,
              dropout_rate: float = 0.0, key=None, deterministic: bool = True,
              remat_chunk: int = 0, fused_lstm: bool = True):
  """Stacked layers with dropout on each layer's input and optional residuals.

  Layer l's input is dropped out (Zaremba et al. 2014: non-recurrent
  connections only). From layer `residual_start` on (GNMT: 2), a layer adds its
  input to its output. Returns (h_TxBxH of the top layer, [final carry per layer]).
  `remat_chunk` > 0 rematerialises every layer's scan and `fused_lstm` selects the
  LSTM's backward pass (both: `scan_recurrence`).
  """
  finals = []
  x = x_TxBxE
  for l, params in enumerate(layers):
    layer_key = None if key is None else jax.random.fold_in(key, l)
    inp = dropout(x, dropout_rate, layer_key, deterministic)
    if bidirectional[l]:
      h, final = run_bidirectional(cell, params, inp, lengths_B, remat_chunk,
                                   fused_lstm=fused_lstm)
    else:
      carry0 = None if carries0 is None else carries0[l]
      h, final = run_layer(cell, params, inp, lengths_B, carry0=carry0,
                           remat_chunk=remat_chunk, fused_lstm=fused_lstm)
    if residual_start is not None and l >= residual_start:
      h = h + x
    finals.append(final)
    x = h
  return x, finals

"""Looking inside recurrent cells: gate activations and states, step by step.

The cells of :mod:`seq2seq_jax.nn.cells` return only what a layer needs (the new
carry and h). For plots and analysis (the "inside the LSTM" notebook) these
functions recompute the same step and also return every gate:

* :func:`lstm_gates` -- one LSTM step: input gate i, forget gate f, candidate g,
  output gate o (after their nonlinearities), the new cell state c and h.
* :func:`gru_gates` -- one GRU step (Cho et al. 2014, or the reset-after variant
  of cuDNN/PyTorch): reset gate r, update gate z, candidate n and h.
* :func:`rnn_gates` -- one vanilla-RNN step: just h.
* :func:`trace` -- runs a cell over a sequence (``lax.scan``) and stacks every
  step's gates: ``{name: array_TxBxH}``.

Each step function returns ``(carry, h_BxH, gates)`` where ``(carry, h)`` equals
the cell's own ``step`` (tests check this against ``cells.lstm_step`` and the
GRU/RNN records), so what is plotted is what the model computes.

Shapes: T time, B batch, E input features, H hidden units.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from seq2seq_jax.nn import cells as cells_lib

Params = dict[str, Any]

TRACEABLE = ("rnn", "lstm", "gru", "gru_reset_after")


def lstm_gates(params: Params, carry, x_BxE):
  """One LSTM step with its gates: (h, c), x -> ((h', c'), h', {i, f, g, o, c, h})."""
  h, c = carry
  pre = cells_lib.get_cell("lstm").project(params, x_BxE) + cells_lib.matmul(h, params["w_hh"])
  i, f, g, o = jnp.split(cells_lib.at_least_f32(pre), 4, axis=-1)
  i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
  c_new = f * c + i * g
  h_new = (o * jnp.tanh(c_new)).astype(h.dtype)
  return (h_new, c_new), h_new, {"i": i, "f": f, "g": g, "o": o, "c": c_new, "h": h_new}


def gru_gates(params: Params, h, x_BxE, reset_after: bool = False):
  """One GRU step with its gates: h, x -> (h', h', {r, z, n, h}).

  ``reset_after=False`` is Cho et al. 2014 (cell "gru"): n = tanh(x W_in + b_in +
  (r * h) W_hn + b_hn). ``True`` is cuDNN/PyTorch ("gru_reset_after"):
  n = tanh(x W_in + b_in + r * (h W_hn + b_hn)). In both, h' = (1 - z) n + z h.
  """
  name = "gru_reset_after" if reset_after else "gru"
  H = h.shape[-1]
  w_hh, b_hh = params["w_hh"], params["b_hh"]
  xp = cells_lib.at_least_f32(cells_lib.get_cell(name).project(params, x_BxE))
  x_r, x_z, x_n = jnp.split(xp, 3, axis=-1)
  h32 = cells_lib.at_least_f32(h)
  hw_rz = cells_lib.at_least_f32(cells_lib.matmul(h, w_hh[:, :2 * H]) + b_hh[:2 * H])
  r = jax.nn.sigmoid(x_r + hw_rz[:, :H])
  z = jax.nn.sigmoid(x_z + hw_rz[:, H:])
  if reset_after:
    hw_n = cells_lib.at_least_f32(cells_lib.matmul(h, w_hh[:, 2 * H:]) + b_hh[2 * H:])
    n = jnp.tanh(x_n + r * hw_n)
  else:
    rh = (r * h32).astype(h.dtype)
    n = jnp.tanh(x_n + cells_lib.matmul(rh, w_hh[:, 2 * H:]) + b_hh[2 * H:])
  h_new = ((1.0 - z) * n + z * h32).astype(h.dtype)
  return h_new, h_new, {"r": r, "z": z, "n": n, "h": h_new}


def rnn_gates(params: Params, h, x_BxE):
  """One vanilla-RNN step: h, x -> (h', h', {h}) (an RNN has no gates)."""
  h_new, _ = cells_lib.get_cell("rnn").step(params, h, x_BxE)
  return h_new, h_new, {"h": h_new}


def step_with_gates(cell: str, params: Params, carry, x_BxE):
  """The step function of `cell` (one of TRACEABLE) returning its gates too."""
  if cell == "lstm":
    return lstm_gates(params, carry, x_BxE)
  if cell in ("gru", "gru_reset_after"):
    return gru_gates(params, carry, x_BxE, reset_after=cell == "gru_reset_after")
  if cell == "rnn":
    return rnn_gates(params, carry, x_BxE)
  raise ValueError(f"cannot trace cell {cell!r}; traceable cells: {TRACEABLE}")


def trace(cell: str, params: Params, x_TxBxE, lengths_B=None, carry0=None):
  """Runs `cell` over a sequence; returns (final carry, {gate name: array_TxBxH}).

  Steps t >= lengths_B[b] keep sequence b's carry (as ``recurrent.run_layer``
  does) and report zeros for every gate, so the final carry is the state at each
  sequence's last step and ``gates["h"]`` equals the layer's output.
  """
  T, B = x_TxBxE.shape[:2]
  H = params["w_hh"].shape[0]
  if carry0 is None:
    carry0 = cells_lib.get_cell(cell).init_carry(B, H, params["w_hh"].dtype)
  mask_TxB = (jnp.ones((T, B), bool) if lengths_B is None
              else jnp.arange(T)[:, None] < jnp.asarray(lengths_B)[None, :])

  def body(carry, inputs):
    x_t, m_B = inputs
    new, _, gates = step_with_gates(cell, params, carry, x_t)
    m = m_B[:, None]
    carry = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, carry)
    return carry, {k: jnp.where(m, v, jnp.zeros_like(v)) for k, v in gates.items()}

  return jax.lax.scan(body, carry0, (x_TxBxE, mask_TxB))

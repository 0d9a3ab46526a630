"""Recurrent cells as pure functions over explicit parameter dicts.

Every cell is described by a :class:`Cell` record of pure functions:

* ``project(params, x_NxE) -> xp_Nx(G*H)``: the input half of the gate
  pre-activations. Layers call it once on all time steps (one big matmul)
  before ``lax.scan``. It is ``finish(params, x @ w_ih)``: ``finish`` adds the
  bias (or layer-normalises), so a decoder whose input has a part known only
  inside the scan (input feeding) can add that part's matmul before ``finish``.
* ``recur(params, carry, xp_BxG) -> (carry, h_BxH)``: the recurrent half,
  the only thing the scan runs step by step.
* ``step(params, carry, x_BxE) = recur(params, carry, project(params, x))``:
  the textbook one-step cell.
* ``init_carry(B, H, dtype)`` and ``hidden(carry)``.

Weight layout (equal to PyTorch's ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``, transposed
so that inputs multiply from the left, ``x @ w``):

=========  =======================  ==========================================
cell       gate order along G*H     parameters
=========  =======================  ==========================================
rnn        (h)                      w_ih [E,H], w_hh [H,H], b [H]
lstm       (i, f, g, o)             w_ih [E,4H], w_hh [H,4H], b [4H]
ln_lstm    (i, f, g, o)             lstm's + ln_x, ln_h (scale/bias [4H]), ln_c [H]
gru        (r, z, n)                w_ih [E,3H], w_hh [H,3H], b_ih [3H], b_hh [3H]
=========  =======================  ==========================================

Mapping from PyTorch (see :func:`from_torch`): ``w_ih = weight_ih_l0.T``,
``w_hh = weight_hh_l0.T``; for rnn/lstm ``b = bias_ih_l0 + bias_hh_l0`` (the two
biases are only ever added); GRU keeps both because in the reset-after variant
``b_hh``'s n-part sits inside ``r * (...)``.

Shapes: B batch, E input features, H hidden units.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, Any]
Carry = Any

CELL_TYPES = ("rnn", "lstm", "ln_lstm", "gru", "gru_reset_after")


def matmul(x, w):
  """x @ w in the parameter's compute dtype (bf16 compute keeps fp32 params)."""
  return jnp.dot(x.astype(w.dtype), w, preferred_element_type=w.dtype)


def at_least_f32(x):
  """Upcasts bf16/f16 to f32 for pointwise gate math; leaves f32/f64 alone."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _layer_norm(x, scale, bias, eps=1e-5):
  x32 = at_least_f32(x)
  mean = x32.mean(-1, keepdims=True)
  var = jnp.square(x32 - mean).mean(-1, keepdims=True)
  y = (x32 - mean) * jax.lax.rsqrt(var + eps)
  return (y * scale + bias).astype(x.dtype)


# ----------------------------------------------------------------------------
# Vanilla RNN (Elman): h' = tanh(x W_ih + h W_hh + b)
# ----------------------------------------------------------------------------
def _add_bias(params, xw):
  return xw + params["b"].astype(xw.dtype)


def rnn_recur(params, h, xp):
  h_new = jnp.tanh(xp + matmul(h, params["w_hh"])).astype(h.dtype)
  return h_new, h_new


# ----------------------------------------------------------------------------
# LSTM (Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al. 2000):
#   i, f, g, o = split(x W_ih + h W_hh + b)
#   c' = sig(f) * c + sig(i) * tanh(g);  h' = sig(o) * tanh(c')
# ----------------------------------------------------------------------------
def _lstm_update(c, gates):
  i, f, g, o = jnp.split(at_least_f32(gates), 4, axis=-1)
  c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c_new, jax.nn.sigmoid(o)


def lstm_recur(params, carry, xp):
  h, c = carry
  c_new, o = _lstm_update(c, xp + matmul(h, params["w_hh"]))
  h_new = (o * jnp.tanh(c_new)).astype(h.dtype)
  return (h_new, c_new), h_new


# ----------------------------------------------------------------------------
# Layer-normalised LSTM (Ba, Kiros & Hinton 2016, eq. 20-22):
#   gates = LN(x W_ih) + LN(h W_hh) + b;  h' = sig(o) * tanh(LN(c'))
# LN of the input part depends on x alone, so it is hoisted out of the scan too.
# ----------------------------------------------------------------------------
def ln_lstm_finish(params, xw):
  return _layer_norm(xw, params["ln_x_scale"], params["ln_x_bias"]) + params["b"]


def ln_lstm_recur(params, carry, xp):
  h, c = carry
  hw = _layer_norm(matmul(h, params["w_hh"]), params["ln_h_scale"], params["ln_h_bias"])
  c_new, o = _lstm_update(c, xp + hw)
  c_norm = _layer_norm(c_new, params["ln_c_scale"], params["ln_c_bias"])
  h_new = (o * jnp.tanh(c_norm)).astype(h.dtype)
  return (h_new, c_new), h_new


# ----------------------------------------------------------------------------
# GRU. Cho et al. 2014 ("reset before"): the reset gate scales h before W_hn:
#   r = sig(x W_ir + h W_hr + b_r);  z = sig(x W_iz + h W_hz + b_z)
#   n = tanh(x W_in + b_in + (r * h) W_hn + b_hn);  h' = (1 - z) * n + z * h
# cuDNN / PyTorch ("reset after") apply r after the matmul, so the whole
# recurrent matmul [H,3H] is one GEMM:  n = tanh(x W_in + b_in + r * (h W_hn + b_hn)).
# ----------------------------------------------------------------------------
def _add_gru_bias(params, xw):
  return xw + params["b_ih"].astype(xw.dtype)


def _gru_gates(xp, hw_rz):
  x_r, x_z, x_n = jnp.split(at_least_f32(xp), 3, axis=-1)
  h_r, h_z = jnp.split(at_least_f32(hw_rz), 2, axis=-1)
  return jax.nn.sigmoid(x_r + h_r), jax.nn.sigmoid(x_z + h_z), x_n


def gru_recur(params, h, xp):
  """Cho et al. 2014: reset applied to h before the candidate's matmul."""
  hsize = h.shape[-1]
  w_hh, b_hh = params["w_hh"], params["b_hh"]
  hw_rz = matmul(h, w_hh[:, : 2 * hsize]) + b_hh[: 2 * hsize]
  r, z, x_n = _gru_gates(xp, hw_rz)
  rh = (r * at_least_f32(h)).astype(h.dtype)
  n = jnp.tanh(x_n + matmul(rh, w_hh[:, 2 * hsize:]) + b_hh[2 * hsize:])
  h_new = ((1.0 - z) * n + z * at_least_f32(h)).astype(h.dtype)
  return h_new, h_new


def gru_reset_after_recur(params, h, xp):
  """cuDNN/PyTorch GRU: one [H,3H] recurrent GEMM, reset applied after it."""
  hsize = h.shape[-1]
  hw = matmul(h, params["w_hh"]) + params["b_hh"]
  r, z, x_n = _gru_gates(xp, hw[:, : 2 * hsize])
  n = jnp.tanh(x_n + r * at_least_f32(hw[:, 2 * hsize:]))
  h_new = ((1.0 - z) * n + z * at_least_f32(h)).astype(h.dtype)
  return h_new, h_new


# ----------------------------------------------------------------------------
# Parameter initialisers (pure, numpy-free; Flax modules call these through
# `self.param`). Uniform(-1/sqrt(H), 1/sqrt(H)) as in PyTorch and Sutskever 2014
# (who used U(-0.08, 0.08) for H=1000), forget-gate bias 1.0 (Jozefowicz 2015).
# ----------------------------------------------------------------------------
def _uniform(key, shape, bound, dtype=jnp.float32):
  return jax.random.uniform(key, shape, dtype, -bound, bound)


def init_params(cell: str, key, in_dim: int, hidden: int,
                forget_bias: float = 1.0) -> Params:
  """Fresh parameters of `cell` mapping E=in_dim inputs to H=hidden units."""
  gates = num_gates(cell)
  bound = 1.0 / np.sqrt(hidden)
  k_ih, k_hh, k_b, k_b2 = jax.random.split(key, 4)
  p = {
      "w_ih": _uniform(k_ih, (in_dim, gates * hidden), bound),
      "w_hh": _uniform(k_hh, (hidden, gates * hidden), bound),
  }
  if cell.startswith("gru"):
    p["b_ih"] = _uniform(k_b, (gates * hidden,), bound)
    p["b_hh"] = _uniform(k_b2, (gates * hidden,), bound)
    return p
  b = jnp.zeros((gates * hidden,), jnp.float32)
  if cell in ("lstm", "ln_lstm"):
    b = b.at[hidden:2 * hidden].set(forget_bias)
  p["b"] = b
  if cell == "ln_lstm":
    for name, size in (("ln_x", 4 * hidden), ("ln_h", 4 * hidden), ("ln_c", hidden)):
      p[f"{name}_scale"] = jnp.ones((size,), jnp.float32)
      p[f"{name}_bias"] = jnp.zeros((size,), jnp.float32)
  return p


def num_gates(cell: str) -> int:
  try:
    return {"rnn": 1, "lstm": 4, "ln_lstm": 4, "gru": 3, "gru_reset_after": 3}[cell]
  except KeyError:
    raise ValueError(f"unknown cell type {cell!r}; expected one of {CELL_TYPES}") from None


# ----------------------------------------------------------------------------
# The cell records.
# ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Cell:
  name: str
  finish: Callable[[Params, jax.Array], jax.Array]
  recur: Callable[[Params, Carry, jax.Array], tuple[Carry, jax.Array]]
  has_cell_state: bool

  def project(self, params: Params, x: jax.Array) -> jax.Array:
    """Input part of the gate pre-activations, for any leading shape of x."""
    return self.finish(params, matmul(x, params["w_ih"]))

  def step(self, params: Params, carry: Carry, x: jax.Array):
    """One textbook time step: x_BxE, carry -> (carry, h_BxH)."""
    return self.recur(params, carry, self.project(params, x))

  def init_carry(self, batch: int, hidden: int, dtype=jnp.float32) -> Carry:
    h = jnp.zeros((batch, hidden), dtype)
    if self.has_cell_state:
      # The cell state stays fp32 under bf16 compute: it integrates over time.
      return (h, jnp.zeros((batch, hidden), jnp.promote_types(dtype, jnp.float32)))
    return h

  def hidden(self, carry: Carry) -> jax.Array:
    return carry[0] if self.has_cell_state else carry


_CELLS = {
    "rnn": Cell("rnn", _add_bias, rnn_recur, False),
    "lstm": Cell("lstm", _add_bias, lstm_recur, True),
    "ln_lstm": Cell("ln_lstm", ln_lstm_finish, ln_lstm_recur, True),
    "gru": Cell("gru", _add_gru_bias, gru_recur, False),
    "gru_reset_after": Cell("gru_reset_after", _add_gru_bias, gru_reset_after_recur, False),
}


def get_cell(name: str) -> Cell:
  if name not in _CELLS:
    raise ValueError(f"unknown cell type {name!r}; expected one of {CELL_TYPES}")
  return _CELLS[name]


def lstm_step(params: Params, carry: Carry, x: jax.Array):
  """The LSTM cell as one pure function: (h, c), x_BxE -> ((h, c), h)."""
  return _CELLS["lstm"].step(params, carry, x)


def from_torch(cell: str, weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> Params:
  """Parameters of one PyTorch `nn.RNN/LSTM/GRU` layer (one direction) in our layout.

  For `nn.GRU` use ``cell="gru_reset_after"`` (PyTorch's GRU is the reset-after
  variant). Arguments are array-likes with PyTorch's shapes, e.g. for an LSTM
  ``weight_ih_l0`` [4H,E], ``weight_hh_l0`` [4H,H], biases [4H].
  """
  w_ih = jnp.asarray(np.asarray(weight_ih).T)
  w_hh = jnp.asarray(np.asarray(weight_hh).T)
  zeros = np.zeros(w_hh.shape[1], np.float32)
  b_ih = np.asarray(bias_ih) if bias_ih is not None else zeros
  b_hh = np.asarray(bias_hh) if bias_hh is not None else zeros
  if cell == "gru":
    raise ValueError("PyTorch's nn.GRU is the reset-after variant: use cell='gru_reset_after'")
  if cell.startswith("gru"):
    return {"w_ih": w_ih, "w_hh": w_hh, "b_ih": jnp.asarray(b_ih), "b_hh": jnp.asarray(b_hh)}
  if cell not in ("rnn", "lstm"):
    raise ValueError(f"no PyTorch counterpart for cell {cell!r}")
  return {"w_ih": w_ih, "w_hh": w_hh, "b": jnp.asarray(b_ih + b_hh)}

"""Cells against plain NumPy float64 implementations of their published equations."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import test_util

from seq2seq_jax.nn import cells

B, E, H, T = 3, 5, 4, 6


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def np_params(p):
  return {k: np.asarray(v, np.float64) for k, v in p.items()}


def np_layer_norm(x, g, b, eps=1e-5):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * g + b


# Reference equations, written from the papers with PyTorch's gate order.
def ref_rnn(p, h, x):
  h = np.tanh(x @ p["w_ih"] + h @ p["w_hh"] + p["b"])
  return h, h


def ref_lstm(p, carry, x):
  h, c = carry
  z = x @ p["w_ih"] + h @ p["w_hh"] + p["b"]
  i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
  c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
  h = sigmoid(o) * np.tanh(c)
  return (h, c), h


def ref_ln_lstm(p, carry, x):
  h, c = carry
  z = (np_layer_norm(x @ p["w_ih"], p["ln_x_scale"], p["ln_x_bias"])
       + np_layer_norm(h @ p["w_hh"], p["ln_h_scale"], p["ln_h_bias"]) + p["b"])
  i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
  c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
  h = sigmoid(o) * np.tanh(np_layer_norm(c, p["ln_c_scale"], p["ln_c_bias"]))
  return (h, c), h


def _gru_split(p):
  w_ir, w_iz, w_in = np.split(p["w_ih"], 3, axis=1)
  w_hr, w_hz, w_hn = np.split(p["w_hh"], 3, axis=1)
  b_ir, b_iz, b_in = np.split(p["b_ih"], 3)
  b_hr, b_hz, b_hn = np.split(p["b_hh"], 3)
  return w_ir, w_iz, w_in, w_hr, w_hz, w_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn


def ref_gru(p, h, x):
  """Cho et al. 2014, eq. 5-8: candidate uses U (r * h)."""
  w_ir, w_iz, w_in, w_hr, w_hz, w_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn = _gru_split(p)
  r = sigmoid(x @ w_ir + b_ir + h @ w_hr + b_hr)
  z = sigmoid(x @ w_iz + b_iz + h @ w_hz + b_hz)
  n = np.tanh(x @ w_in + b_in + (r * h) @ w_hn + b_hn)
  h = (1 - z) * n + z * h
  return h, h


def ref_gru_reset_after(p, h, x):
  """PyTorch nn.GRU docs: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
  w_ir, w_iz, w_in, w_hr, w_hz, w_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn = _gru_split(p)
  r = sigmoid(x @ w_ir + b_ir + h @ w_hr + b_hr)
  z = sigmoid(x @ w_iz + b_iz + h @ w_hz + b_hz)
  n = np.tanh(x @ w_in + b_in + r * (h @ w_hn + b_hn))
  h = (1 - z) * n + z * h
  return h, h


REFS = {"rnn": ref_rnn, "lstm": ref_lstm, "ln_lstm": ref_ln_lstm, "gru": ref_gru,
        "gru_reset_after": ref_gru_reset_after}


def random_params(name, key):
  """Initial params with every vector perturbed, so no term is trivially zero/one."""
  p = cells.init_params(name, key, E, H)
  return {k: v + 0.3 * jax.random.normal(jax.random.fold_in(key, i), v.shape)
          for i, (k, v) in enumerate(sorted(p.items()))}


@pytest.mark.parametrize("name", cells.CELL_TYPES)
def test_cell_matches_numpy_reference_step_by_step(name):
  cell = cells.get_cell(name)
  p = random_params(name, jax.random.key(1))
  xs = np.random.RandomState(0).randn(T, B, E)
  carry = cell.init_carry(B, H)
  ref_carry = jax.tree.map(lambda a: np.asarray(a, np.float64), carry)
  step = jax.jit(cell.step)
  for t in range(T):
    carry, y = step(p, carry, jnp.asarray(xs[t], jnp.float32))
    ref_carry, ref_y = REFS[name](np_params(p), ref_carry, xs[t])
    np.testing.assert_allclose(y, ref_y, atol=1e-5, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                 carry, ref_carry)


@pytest.mark.parametrize("name", cells.CELL_TYPES)
def test_cell_gradients_match_finite_differences(name):
  cell = cells.get_cell(name)
  with jax.enable_x64(True):
    p = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), random_params(name, jax.random.key(2)))
    xs = jnp.asarray(np.random.RandomState(1).randn(3, B, E))

    def loss(p, xs):
      carry = cell.init_carry(B, H, jnp.float64)
      total = 0.0
      for t in range(xs.shape[0]):
        carry, y = cell.step(p, carry, xs[t])
        total = total + jnp.sum(jnp.sin(y * (t + 1)))
      return total

    test_util.check_grads(loss, (p, xs), order=1, modes=["rev"], eps=1e-6, atol=1e-6, rtol=1e-6)


def test_lstm_forget_bias_is_one_and_layout_is_ifgo():
  p = cells.init_params("lstm", jax.random.key(0), E, H)
  np.testing.assert_array_equal(p["b"][H:2 * H], np.ones(H))
  np.testing.assert_array_equal(p["b"][:H], np.zeros(H))
  np.testing.assert_array_equal(p["b"][2 * H:], np.zeros(2 * H))
  assert p["w_ih"].shape == (E, 4 * H) and p["w_hh"].shape == (H, 4 * H)


def test_from_torch_mapping_gives_the_pytorch_equations():
  rng = np.random.RandomState(3)
  w_ih, w_hh = rng.randn(4 * H, E), rng.randn(4 * H, H)  # PyTorch's [4H, E] layout
  b_ih, b_hh = rng.randn(4 * H), rng.randn(4 * H)
  p = cells.from_torch("lstm", w_ih, w_hh, b_ih, b_hh)
  x, h, c = rng.randn(B, E), rng.randn(B, H), rng.randn(B, H)
  # PyTorch docs: gates = W_ih x + b_ih + W_hh h + b_hh, chunked (i, f, g, o).
  gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
  i, f, g, o = np.split(gates, 4, axis=1)
  c_ref = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
  h_ref = sigmoid(o) * np.tanh(c_ref)
  (h_new, c_new), _ = cells.lstm_step(p, (jnp.asarray(h, jnp.float32), jnp.asarray(c, jnp.float32)),
                                      jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(h_new, h_ref, atol=1e-5)
  np.testing.assert_allclose(c_new, c_ref, atol=1e-5)
  g = cells.from_torch("gru_reset_after", rng.randn(3 * H, E), rng.randn(3 * H, H),
                       rng.randn(3 * H), rng.randn(3 * H))
  assert set(g) == {"w_ih", "w_hh", "b_ih", "b_hh"}
  with pytest.raises(ValueError, match="reset-after"):
    cells.from_torch("gru", w_ih, w_hh)


def test_unknown_cell_is_a_clear_error():
  with pytest.raises(ValueError, match="unknown cell type 'lstmm'"):
    cells.get_cell("lstmm")


def test_bfloat16_compute_keeps_cell_state_float32():
  cell = cells.get_cell("lstm")
  p = jax.tree.map(lambda a: a.astype(jnp.bfloat16), cells.init_params("lstm", jax.random.key(0), E, H))
  (h, c), y = cell.step(p, cell.init_carry(B, H, jnp.bfloat16), jnp.ones((B, E), jnp.bfloat16))
  assert h.dtype == jnp.bfloat16 and c.dtype == jnp.float32

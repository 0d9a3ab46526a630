"""nn/gate_trace.py: the gate-reporting steps equal the cells' own steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.nn import cells
from seq2seq_jax.nn import gate_trace
from seq2seq_jax.nn import recurrent

B, E, H, T = 3, 5, 4, 7


def _inputs(cell, seed=0):
  k_p, k_x, k_h, k_c = jax.random.split(jax.random.key(seed), 4)
  params = cells.init_params(cell, k_p, E, H)
  # Non-zero biases so that every parameter matters.
  params = {k: v + 0.1 * jax.random.normal(jax.random.fold_in(k_p, i), v.shape)
            for i, (k, v) in enumerate(sorted(params.items()))}
  x = jax.random.normal(k_x, (B, E))
  h = 0.5 * jax.random.normal(k_h, (B, H))
  c = jax.random.normal(k_c, (B, H))
  return params, x, h, c


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_lstm_gates_equal_lstm_step():
  params, x, h, c = _inputs("lstm")
  (h_ref, c_ref), out_ref = cells.lstm_step(params, (h, c), x)
  (h_new, c_new), out, g = gate_trace.lstm_gates(params, (h, c), x)
  np.testing.assert_allclose(h_new, h_ref, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(c_new, c_ref, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(out, out_ref, rtol=1e-6, atol=1e-6)
  # The gates are the published equations' (PyTorch order i, f, g, o), in float64.
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  z = np.asarray(x, np.float64) @ p["w_ih"] + np.asarray(h, np.float64) @ p["w_hh"] + p["b"]
  i, f, gg, o = np.split(z, 4, axis=-1)
  np.testing.assert_allclose(g["i"], _sigmoid(i), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g["f"], _sigmoid(f), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g["g"], np.tanh(gg), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g["o"], _sigmoid(o), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g["c"], g["f"] * c + g["i"] * g["g"], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(g["h"], g["o"] * np.tanh(g["c"]), rtol=1e-6, atol=1e-6)
  for name in "ifo":  # sigmoid gates lie in (0, 1)
    assert np.all((np.asarray(g[name]) > 0) & (np.asarray(g[name]) < 1))


@pytest.mark.parametrize("cell", ["gru", "gru_reset_after"])
def test_gru_gates_equal_cell_step(cell):
  params, x, h, _ = _inputs(cell)
  h_ref, out_ref = cells.get_cell(cell).step(params, h, x)
  h_new, out, g = gate_trace.gru_gates(params, h, x, reset_after=cell == "gru_reset_after")
  np.testing.assert_allclose(h_new, h_ref, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(out, out_ref, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(g["h"], (1 - g["z"]) * g["n"] + g["z"] * h, rtol=1e-6, atol=1e-6)
  assert set(g) == {"r", "z", "n", "h"}


def test_rnn_and_unknown_cell():
  params, x, h, _ = _inputs("rnn")
  h_ref, _ = cells.get_cell("rnn").step(params, h, x)
  h_new, _, g = gate_trace.step_with_gates("rnn", params, h, x)
  np.testing.assert_allclose(h_new, h_ref, rtol=1e-6, atol=1e-6)
  assert set(g) == {"h"}
  with pytest.raises(ValueError, match="cannot trace"):
    gate_trace.step_with_gates("ln_lstm", params, h, x)


@pytest.mark.parametrize("cell", gate_trace.TRACEABLE)
def test_trace_equals_layer_output_with_padding(cell):
  params, _, _, _ = _inputs(cell, seed=1)
  x = jax.random.normal(jax.random.key(2), (T, B, E))
  lengths = jnp.array([T, 3, 5])
  h_ref, final_ref = recurrent.run_layer(cells.get_cell(cell), params, x, lengths)
  final, gates = gate_trace.trace(cell, params, x, lengths)
  np.testing.assert_allclose(gates["h"], h_ref, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(final_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  for name, v in gates.items():
    assert v.shape == (T, B, H), name
    assert float(jnp.abs(v[3:, 1]).max()) == 0.0  # past sequence 1's length: zeros

"""Sequence-to-one models and the hidden-state gradient norms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import seq2one as sm
from seq2seq_jax.data import synthetic
from seq2seq_jax.nn import cells as cells_lib


def _cfg(cell="lstm", head="regression", layers=1, forget_bias=1.0):
  return sm.SequenceModelConfig(cell=cell, input_dim=2, hidden_dim=8,
                                output_dim=1 if head == "regression" else 4, head=head,
                                num_layers=layers, forget_bias=forget_bias)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_padding_never_changes_the_output(cell):
  cfg = _cfg(cell, layers=2)
  params = sm.init(cfg, jax.random.key(0))
  x, lengths, _ = synthetic.adding_batch(jax.random.key(1), 4, 20)
  out = sm.apply(cfg, params, x, lengths)
  padded = jnp.concatenate([x, jax.random.normal(jax.random.key(2), (4, 7, 2))], axis=1)
  np.testing.assert_allclose(sm.apply(cfg, params, padded, lengths), out, rtol=1e-6)


def test_output_is_read_at_each_sequences_end():
  cfg = _cfg("lstm")
  params = sm.init(cfg, jax.random.key(0))
  x, lengths, _ = synthetic.adding_batch(jax.random.key(1), 3, 20)
  out = sm.apply(cfg, params, x, lengths)
  cell = cells_lib.get_cell("lstm")
  for b in range(3):
    carry = cell.init_carry(1, 8)
    for t in range(int(lengths[b])):
      carry, _ = cell.step(params["layers"][0], carry, x[b:b + 1, t])
    ref = cell.hidden(carry) @ params["out"]["w"] + params["out"]["b"]
    np.testing.assert_allclose(out[b], ref[0, 0], rtol=1e-5, atol=1e-6)


def test_classification_loss_and_errors():
  cfg = _cfg(head="classification")
  logits = jnp.array([[5.0, 0, 0, 0], [0, 0, 5.0, 0]])
  y = jnp.array([0, 1])
  np.testing.assert_array_equal(sm.errors(cfg, logits, y, 0.04), [0.0, 1.0])
  np.testing.assert_allclose(sm.loss_fn(cfg, logits, y),
                             -jax.nn.log_softmax(logits)[jnp.arange(2), y], rtol=1e-6)


def test_grad_norm_at_lag_zero_is_the_output_gradient():
  cfg = _cfg("lstm")
  params = sm.init(cfg, jax.random.key(0))
  x, lengths, y = synthetic.adding_batch(jax.random.key(1), 16, 20)
  norms = sm.hidden_grad_norms(cfg, params, x, lengths, y)
  out = sm.apply(cfg, params, x, lengths)
  # loss = (out - y)^2 and out = h_T . w + b, so dL/dh_T = 2 (out - y) w.
  expected = np.mean(np.abs(2 * (out - y)) * np.linalg.norm(params["out"]["w"]))
  np.testing.assert_allclose(norms[0], expected, rtol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_grad_norm_matches_a_split_computation(cell):
  """||dL/dh_t|| by differentiating the rest of the sequence from an explicit h_t."""
  cfg = _cfg(cell)
  params = sm.init(cfg, jax.random.key(0))
  x, lengths, y = synthetic.adding_batch(jax.random.key(1), 2, 20)
  lengths = jnp.array([22, 22])  # equal lengths: lag k is step 21 - k for both
  norms = np.asarray(sm.hidden_grad_norms(cfg, params, x, lengths, y))
  c = cells_lib.get_cell(cell)
  p = params["layers"][0]
  for k in (1, 5, 15):
    t = 21 - k
    carry = c.init_carry(2, 8)
    for s in range(t + 1):
      carry, _ = c.step(p, carry, x[:, s])

    def rest(h, carry=carry, t=t):
      cr = (h,) + tuple(carry[1:]) if c.has_cell_state else h
      for s in range(t + 1, 22):
        cr, _ = c.step(p, cr, x[:, s])
      out = c.hidden(cr) @ params["out"]["w"][:, 0] + params["out"]["b"][0]
      return jnp.sum(jnp.square(out - y))
    g = jax.grad(rest)(c.hidden(carry))
    np.testing.assert_allclose(norms[k], np.linalg.norm(g, axis=-1).mean(), rtol=1e-4)


def test_rnn_gradient_vanishes_faster_than_a_carousel_lstm():
  x, lengths, y = synthetic.adding_batch(jax.random.key(1), 64, 100)
  ratios = {}
  for cell, fb in (("rnn", 1.0), ("lstm", 5.0)):
    cfg = _cfg(cell, forget_bias=fb)
    norms = sm.hidden_grad_norms(cfg, sm.init(cfg, jax.random.key(0)), x, lengths, y)
    ratios[cell] = float(norms[50] / norms[0])
  assert ratios["rnn"] < 1e-3 * ratios["lstm"], ratios


def test_config_errors():
  with pytest.raises(ValueError, match="head"):
    _cfg(head="ranking")
  with pytest.raises(ValueError, match="unknown cell"):
    _cfg(cell="tcn")
  with pytest.raises(ValueError, match="unknown field"):
    sm.SequenceModelConfig.from_dict(dict(cell="lstm", input_dim=2, hidden_dim=4,
                                          output_dim=1, dropout=0.1))

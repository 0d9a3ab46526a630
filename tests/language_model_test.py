"""The recurrent language model: carried state, padding, the regularisers' masks, tied
embeddings, and its loss against a step-by-step reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import language_model as lm
from seq2seq_jax.nn import cells as cells_lib

V, B, T = 23, 3, 8


def config(**kw):
  base = dict(vocab_size=V, embed_dim=6, hidden_dim=5, num_layers=2)
  return lm.LanguageModelConfig(**dict(base, **kw))


def tokens(shape, seed=0):
  return jax.random.randint(jax.random.key(seed), shape, 0, V)


def run(cfg, params, x, carry, lengths=None, **kw):
  lengths = jnp.full((x.shape[0],), x.shape[1]) if lengths is None else lengths
  fn = jax.jit(lambda p, x, c, l, k: lm.hidden_states(cfg, p, x, l, c, key=k,
                                                      deterministic=k is None)[:2])
  return fn(params, x, carry, lengths, kw.get("key"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carrying_state_equals_one_scan_over_the_concatenation(cell):
  cfg = config(cell=cell)
  params = lm.init(cfg, jax.random.key(1))
  x = tokens((B, 2 * T))
  h_all, c_all = run(cfg, params, x, lm.init_carry(cfg, B))
  h1, c1 = run(cfg, params, x[:, :T], lm.init_carry(cfg, B))
  h2, c2 = run(cfg, params, x[:, T:], c1)
  np.testing.assert_allclose(np.concatenate([h1, h2]), h_all, rtol=1e-6, atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), c2, c_all)


def test_padding_steps_leave_the_state_alone():
  cfg = config()
  params = lm.init(cfg, jax.random.key(1))
  x = tokens((B, T))
  n = 5
  h_short, c_short = run(cfg, params, x[:, :n], lm.init_carry(cfg, B))
  h_pad, c_pad = run(cfg, params, x, lm.init_carry(cfg, B), lengths=jnp.full((B,), n))
  np.testing.assert_allclose(h_pad[:n], h_short, rtol=1e-6, atol=1e-6)
  assert not np.asarray(h_pad[n:]).any()
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6),
               c_pad, c_short)


def test_dropconnect_mask_is_fixed_within_a_window_and_off_at_evaluation():
  cfg = config(dropconnect=0.5)
  params = lm.init(cfg, jax.random.key(1))
  x, key = tokens((B, 2 * T)), jax.random.key(7)
  c0 = lm.init_carry(cfg, B)
  h_whole, _ = run(cfg, params, x, c0, key=key)
  # The same key on the two halves with the state carried: equal only if the mask on
  # w_hh does not depend on the time step.
  h1, c1 = run(cfg, params, x[:, :T], c0, key=key)
  h2, _ = run(cfg, params, x[:, T:], c1, key=key)
  np.testing.assert_allclose(np.concatenate([h1, h2]), h_whole, rtol=1e-6, atol=1e-6)
  plain = config()
  h_eval, _ = run(cfg, params, x, c0)
  np.testing.assert_array_equal(h_eval, run(plain, params, x, c0)[0])
  assert np.abs(np.asarray(h_whole) - np.asarray(h_eval)).max() > 1e-3  # masks did act
  other, _ = run(cfg, params, x, c0, key=jax.random.key(8))
  assert np.abs(np.asarray(other) - np.asarray(h_whole)).max() > 1e-3  # a new mask per key


def test_locked_dropout_uses_one_mask_for_every_step():
  cfg = config(input_dropout=0.5, locked_dropout=True, num_layers=1, cell="rnn")
  params = lm.init(cfg, jax.random.key(1))
  # Every step reads the same token: with one mask per window, the projected inputs
  # are equal at every step, so an RNN started from zero gets the same input each step.
  x = jnp.full((B, T), 4)
  emb = params["embed"]["w"]
  h, _ = run(cfg, params, x, lm.init_carry(cfg, B), key=jax.random.key(3))
  p = params["layers"]["layer_0"]
  # Recover each step's input from h_t = tanh(x_t w_ih + h_{t-1} w_hh + b).
  h = np.asarray(h, np.float64)
  pre = np.arctanh(np.clip(h, -1 + 1e-7, 1 - 1e-7))
  prev = np.concatenate([np.zeros_like(h[:1]), h[:-1]])
  xw = pre - prev @ np.asarray(p["w_hh"]) - np.asarray(p["b"])
  np.testing.assert_allclose(xw, np.broadcast_to(xw[:1], xw.shape), rtol=1e-4, atol=1e-4)
  assert not np.allclose(xw[0], np.asarray(emb[4] @ p["w_ih"]))  # dropout acted


def test_tied_model_uses_the_embedding_as_softmax_weights():
  cfg = config(tie_embeddings=True, embed_dim=4, hidden_dim=9)
  params = lm.init(cfg, jax.random.key(0))
  assert "w" not in params["output"]
  assert [d for d in cfg.layer_dims()] == [(4, 9), (9, 4)]  # top layer: embed_dim units
  w, _ = lm.output_weights(cfg, params)
  np.testing.assert_array_equal(w, params["embed"]["w"].T)


def reference_nll(cfg, params, x_BxT, y_BxT):
  """Step by step with the textbook cell and a plain log_softmax per step."""
  cell = cells_lib.get_cell(cfg.cell)
  carry = lm.init_carry(cfg, x_BxT.shape[0])
  w, b = lm.output_weights(cfg, params)
  total = 0.0
  for t in range(x_BxT.shape[1]):
    h = params["embed"]["w"][x_BxT[:, t]]
    for l in range(cfg.num_layers):
      carry[l], h = cell.step(params["layers"][f"layer_{l}"], carry[l], h)
    logp = jax.nn.log_softmax(h @ w + b)
    total = total - jnp.take_along_axis(logp, y_BxT[:, t:t + 1], 1).sum()
  return total


@pytest.mark.parametrize("tied", [False, True])
def test_the_loss_and_its_gradient_equal_a_step_by_step_reference(tied):
  """The scanned model with the fused softmax (hand-written gradient) against plain
  autodiff of the textbook computation; tied: the embedding gets both gradients."""
  cfg = config(tie_embeddings=tied, embed_dim=5, init_scale=0.3)
  params = lm.init(cfg, jax.random.key(2))
  x, y = tokens((B, T), 1), tokens((B, T), 2)

  def loss(p):
    h, _, _ = lm.hidden_states(cfg, p, x, jnp.full((B,), T), lm.init_carry(cfg, B))
    return lm.loss_sums(cfg, p, h, y, jnp.ones((B, T), bool))[0]
  value, grads = jax.value_and_grad(loss)(params)
  ref_value, ref_grads = jax.value_and_grad(lambda p: reference_nll(cfg, p, x, y))(params)
  assert float(value) == pytest.approx(float(ref_value), rel=1e-5)
  jax.tree.map(lambda g, r: np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6),
               grads, ref_grads)
  assert float(jnp.abs(grads["embed"]["w"]).max()) > 0


def test_bad_configs_name_the_field():
  with pytest.raises(ValueError, match="dropconnect must be in"):
    config(dropconnect=1.0)
  with pytest.raises(ValueError, match="unknown cell type"):
    config(cell="lstmm")
  with pytest.raises(ValueError, match="unknown field"):
    lm.LanguageModelConfig.from_dict(dict(vocab_size=3, embed_dim=2, hidden_dim=2, hiden=2))

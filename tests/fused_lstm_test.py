"""The fused LSTM (one-GEMM weight gradient) equals autodiff of the plain scan."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import seq2seq as model_lib
from seq2seq_jax.nn import cells, fused_lstm, recurrent


def _inputs(T=9, B=5, E=6, H=7, seed=0):
  k = jax.random.split(jax.random.key(seed), 5)
  params = cells.init_params("lstm", k[0], E, H)
  x = jax.random.normal(k[1], (T, B, E))
  carry0 = (jax.random.normal(k[2], (B, H)), jax.random.normal(k[3], (B, H)))
  lengths = jnp.array([9, 1, 4, 9, 6])[:B]
  return params, x, carry0, lengths


def _run(use_fused, params, x, carry0, lengths):
  cell = cells.get_cell("lstm")

  def loss(params, x, carry0):
    xp = cell.project(params, x)
    mask = None if lengths is None else recurrent.time_mask(lengths, x.shape[0])
    (h, c), out = recurrent.scan_recurrence(cell, params, xp, carry0, mask,
                                            fused_lstm=use_fused)
    # Weight every output and the final state differently so all cotangents matter.
    w = jnp.arange(out.size, dtype=out.dtype).reshape(out.shape) / out.size
    return jnp.sum(jnp.sin(out) * w) + jnp.sum(h * 0.3) + jnp.sum(c ** 2 * 0.1), (h, c, out)

  (val, aux), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
      params, x, carry0)
  return val, aux, grads


@pytest.mark.parametrize("masked", [True, False])
def test_fused_values_and_gradients_equal_the_plain_scan(masked):
  params, x, carry0, lengths = _inputs()
  lengths = lengths if masked else None
  v1, a1, g1 = _run(True, params, x, carry0, lengths)
  v0, a0, g0 = _run(False, params, x, carry0, lengths)
  np.testing.assert_allclose(v1, v0, rtol=1e-6)
  for p, q in zip(jax.tree.leaves(a1), jax.tree.leaves(a0)):
    np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7)
  for p, q in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    np.testing.assert_allclose(p, q, rtol=2e-5, atol=2e-6)


def test_fused_path_is_taken_only_for_float32_lstm():
  w = jnp.zeros((4, 16))
  assert fused_lstm.supported("lstm", w, jnp.zeros((2, 3, 16)))
  assert not fused_lstm.supported("gru", w, jnp.zeros((2, 3, 16)))
  assert not fused_lstm.supported("lstm", w.astype(jnp.bfloat16), jnp.zeros((2, 3, 16)))


@pytest.mark.parametrize("attention,feed", [("general", False), ("none", False),
                                            ("general", True)])
def test_whole_model_gradients_equal_with_and_without_fusion(attention, feed):
  k = jax.random.split(jax.random.key(1), 3)
  src = jax.random.randint(k[0], (3, 7), 4, 13)
  src_len = jnp.array([7, 3, 5])
  tgt = jax.random.randint(k[1], (3, 6), 4, 11)
  grads = {}
  for fused in (True, False):
    cfg = model_lib.ModelConfig(src_vocab_size=13, tgt_vocab_size=11, embed_dim=8,
                                hidden_dim=12, encoder_layers=2, decoder_layers=2,
                                bidirectional="first", attention=attention, input_feeding=feed,
                                fused_lstm=fused)
    model = model_lib.Seq2Seq(cfg)

    def loss(p):
      logits, _ = model(p, src, src_len, tgt)
      return jnp.mean(jax.nn.log_softmax(logits)[..., 0])

    grads[fused] = jax.grad(loss)(model.init(jax.random.key(0)))
  for p, q in zip(jax.tree.leaves(grads[True]), jax.tree.leaves(grads[False])):
    np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("remat_chunk", [0, 3])
def test_the_argument_selects_the_path_inside_one_jitted_function(remat_chunk):
  """fused_lstm is traced (a static argument), not read from a global: one jitted
  function compiles both paths, they agree, and only True has the custom VJP."""
  params, x, _, lengths = _inputs()
  cell = cells.get_cell("lstm")
  layers = [params, cells.init_params("lstm", jax.random.key(7), 7, 7)]

  def loss(layers, x, fused_lstm):
    h, _ = recurrent.run_stack(cell, layers, x, lengths, bidirectional=(False, False),
                               remat_chunk=remat_chunk, fused_lstm=fused_lstm)
    return jnp.sum(jnp.sin(h))

  grad_fn = jax.jit(jax.value_and_grad(loss), static_argnames="fused_lstm")
  (v1, g1), (v0, g0) = grad_fn(layers, x, fused_lstm=True), grad_fn(layers, x, fused_lstm=False)
  assert grad_fn._cache_size() == 2
  np.testing.assert_allclose(v1, v0, rtol=1e-6)
  for p, q in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
    np.testing.assert_allclose(p, q, rtol=2e-5, atol=2e-6)
  jaxpr = {f: str(jax.make_jaxpr(loss, static_argnums=2)(layers, x, f)) for f in (True, False)}
  # One custom VJP per layer (under remat, in the body of the scan over chunks: T=9 is
  # three chunks of 3, no shorter last chunk).
  assert jaxpr[True].count("custom_vjp_call") == len(layers)
  assert "custom_vjp_call" not in jaxpr[False]

"""The fused output layer + cross-entropy equals autodiff of the plain computation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.nn import output_loss

N, H, V = 23, 6, 11


def _inputs(seed=0):
  rng = np.random.RandomState(seed)
  h = jnp.asarray(rng.randn(N, H), jnp.float32)
  w = jnp.asarray(rng.randn(H, V) * 0.5, jnp.float32)
  b = jnp.asarray(rng.randn(V) * 0.1, jnp.float32)
  targets = jnp.asarray(rng.randint(0, V, N), jnp.int32)
  weights = jnp.asarray((rng.rand(N) > 0.3).astype(np.float32))
  return h, w, b, targets, weights


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("chunk", [0, 5, 23, 64])  # 5 does not divide N=23: padded rows
def test_fused_losses_equal_plain_values_and_gradients(smoothing, chunk):
  h, w, b, t, wt = _inputs()
  ref = output_loss.plain_losses(h, w, b, t, wt, smoothing)
  got = jax.jit(output_loss.fused_losses, static_argnums=(5, 6))(h, w, b, t, wt, smoothing, chunk)
  np.testing.assert_allclose(got, ref, rtol=1e-6)

  def grads(fn):
    return jax.grad(lambda h, w, b: 3.0 * fn(h, w, b, t, wt, smoothing)[0]
                    + fn(h, w, b, t, wt, smoothing)[1], argnums=(0, 1, 2))(h, w, b)
  ref_g = grads(output_loss.plain_losses)  # the NLL output is a metric: no gradient
  got_g = jax.jit(lambda h, w, b: grads(
      lambda *a: output_loss.fused_losses(*a, chunk)))(h, w, b)
  for a, r in zip(got_g, ref_g):
    np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)


def test_fused_losses_under_vmap_and_in_bfloat16():
  h, w, b, t, wt = _inputs(1)
  stacked = jax.tree.map(lambda x: jnp.stack([x, x * 0.5]), (h, w, b))
  fn = lambda h, w, b: jax.grad(lambda h, w, b: output_loss.fused_losses(  # noqa: E731
      h, w, b, t, wt, 0.1, 4)[0], argnums=(0, 1, 2))(h, w, b)
  ref = lambda h, w, b: jax.grad(lambda h, w, b: output_loss.plain_losses(  # noqa: E731
      h, w, b, t, wt, 0.1)[0], argnums=(0, 1, 2))(h, w, b)
  for a, r in zip(jax.vmap(fn)(*stacked), jax.vmap(ref)(*stacked)):
    np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
  bf = [x.astype(jnp.bfloat16) for x in (h, w)]
  g = fn(bf[0], bf[1], b)
  assert g[0].dtype == jnp.bfloat16 and g[1].dtype == jnp.bfloat16
  for a, r in zip(g, ref(h, w, b)):
    np.testing.assert_allclose(np.asarray(a, np.float32), r, rtol=0.05, atol=0.02)

"""Attention: normalisation, exact zeros on padding, local windows, padding invariance."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.nn import attention

B, T, S, H = 3, 5, 9, 6
D = 2
LENGTHS = jnp.array([9, 6, 2])


def _setup(kind, seed=0, s=S):
  rng = np.random.RandomState(seed)
  params = attention.init_params(kind, jax.random.key(seed), H, H, 7, max_source_len=16)
  q = jnp.asarray(rng.randn(B, T, H), jnp.float32)
  mem = jnp.asarray(rng.randn(B, s, H), jnp.float32)
  mask = jnp.arange(s)[None] < LENGTHS[:, None]
  steps = jnp.broadcast_to(jnp.arange(T)[None], (B, T))
  return params, q, mem, mask, steps


def _attend(kind, params, q, mem, mask, steps):
  keys = attention.precompute(kind, params, mem)
  return attention.attend(kind, params, q, mem, keys, mask, steps_BxT=steps,
                          src_len_B=LENGTHS, window=D)


@pytest.mark.parametrize("kind", attention.ATTENTION_TYPES)
def test_weights_are_a_distribution_over_valid_positions(kind):
  params, q, mem, mask, steps = _setup(kind)
  ctx, w = _attend(kind, params, q, mem, mask, steps)
  assert ctx.shape == (B, T, H) and w.shape == (B, T, S)
  w = np.asarray(w)
  assert (w[~np.broadcast_to(np.asarray(mask)[:, None], w.shape)] == 0.0).all()  # exactly 0
  assert (w >= 0).all()
  if kind == "local_p":  # Luong eq. 10: softmax times a Gaussian, not renormalised
    assert (w.sum(-1) <= 1 + 1e-6).all() and (w.sum(-1) > 0.1).all()
  else:
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
  np.testing.assert_allclose(ctx, np.einsum("bts,bsh->bth", w, mem), atol=1e-5)


@pytest.mark.parametrize("kind", attention.ATTENTION_TYPES)
def test_appending_source_padding_changes_nothing(kind):
  params, q, mem, mask, steps = _setup(kind)
  mem_pad = jnp.concatenate([mem, 3.0 * jnp.ones((B, 4, H))], axis=1)
  mask_pad = jnp.arange(S + 4)[None] < LENGTHS[:, None]
  ctx, w = _attend(kind, params, q, mem, mask, steps)
  ctx_p, w_p = _attend(kind, params, q, mem_pad, mask_pad, steps)
  np.testing.assert_allclose(ctx_p, ctx, atol=1e-6)
  np.testing.assert_allclose(w_p[..., :S], w, atol=1e-7)
  assert (np.asarray(w_p[..., S:]) == 0).all()


def test_local_m_window_is_centred_on_the_target_step_clipped_to_length():
  params, q, mem, mask, steps = _setup("local_m")
  _, w = _attend("local_m", params, q, mem, mask, steps)
  w = np.asarray(w)
  for b, n in enumerate(np.asarray(LENGTHS)):
    for t in range(T):
      p = min(t, n - 1)
      outside = [s for s in range(S) if abs(s - p) > D]
      assert (w[b, t, outside] == 0).all()


def test_local_p_puts_its_mass_inside_the_window_around_its_predicted_position():
  params, q, mem, mask, steps = _setup("local_p")
  _, w = _attend("local_p", params, q, mem, mask, steps)
  p = attention.local_position("local_p", params, q, steps, LENGTHS)
  assert ((p >= 0) & (p <= LENGTHS[:, None])).all()
  pos = np.arange(S)[None, None, :]
  outside = np.abs(pos - np.asarray(p)[..., None]) > D
  assert (np.asarray(w)[outside] == 0).all()
  # The Gaussian (sigma = D/2) makes the weight peak near p: weight decays with distance.
  inside = ~outside & np.asarray(mask)[:, None, :]
  assert inside.any(axis=-1).all()


def test_all_padding_row_gives_zero_weights_not_nan():
  params, q, mem, _, steps = _setup("general")
  mask = jnp.zeros((B, S), bool)
  keys = attention.precompute("general", params, mem)
  ctx, w = attention.attend("general", params, q, mem, keys, mask)
  assert np.isfinite(np.asarray(ctx)).all() and (np.asarray(w) == 0).all()


def test_gradients_through_masked_softmax_are_finite():
  params, q, mem, mask, steps = _setup("concat")
  def loss(q):
    return _attend("concat", params, q, mem, mask, steps)[0].sum()
  g = jax.grad(loss)(q)
  assert np.isfinite(np.asarray(g)).all()


def test_bad_arguments_are_clear_errors():
  with pytest.raises(ValueError, match="unknown attention type 'luong'"):
    attention.init_params("luong", jax.random.key(0), H, H, H, 10)
  with pytest.raises(ValueError, match="query size == memory size"):
    attention.init_params("dot", jax.random.key(0), H, H + 1, H, 10)
  params = attention.init_params("location", jax.random.key(0), H, H, H, max_source_len=4)
  with pytest.raises(ValueError, match="at most 4 source positions"):
    attention.scores("location", params, jnp.ones((1, 1, H)), jnp.ones((1, 5, H)))

"""Layers over time: hoisted projections, masking, bidirectional, stacking."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.nn import cells, recurrent

T, B, E, H = 7, 3, 5, 4
LENGTHS = np.array([7, 4, 1])


def _inputs(seed=0, t=T):
  return jnp.asarray(np.random.RandomState(seed).randn(t, B, E), jnp.float32)


def _step_loop(cell, p, x_TxBxE, length):
  """Reference: textbook per-step cell on one unpadded sequence."""
  carry = cell.init_carry(1, p["w_hh"].shape[0])
  hs = []
  for t in range(length):
    carry, h = cell.step(p, carry, x_TxBxE[t:t + 1])
    hs.append(h[0])
  return jnp.stack(hs), carry


def test_reverse_padded_reverses_within_length_and_is_an_involution():
  x = jnp.arange(T)[:, None] * 10 + jnp.arange(B)[None, :]
  r = recurrent.reverse_padded(x, jnp.asarray(LENGTHS))
  np.testing.assert_array_equal(r[:4, 1], [30, 20, 10, 0][:4] + np.array(1))
  np.testing.assert_array_equal(r[4:, 1], x[4:, 1])  # padding stays in place
  np.testing.assert_array_equal(r[:, 0], x[::-1, 0])
  np.testing.assert_array_equal(recurrent.reverse_padded(r, jnp.asarray(LENGTHS)), x)


@pytest.mark.parametrize("name", cells.CELL_TYPES)
def test_layer_equals_per_step_cell_and_final_state_is_at_last_token(name):
  cell = cells.get_cell(name)
  p = cells.init_params(name, jax.random.key(0), E, H)
  x = _inputs()
  h, final = recurrent.run_layer(cell, p, x, jnp.asarray(LENGTHS))
  for b, n in enumerate(LENGTHS):
    ref_h, ref_carry = _step_loop(cell, p, x[:, b], n)
    np.testing.assert_allclose(h[:n, b], ref_h, atol=1e-5)
    np.testing.assert_array_equal(h[n:, b], 0.0)  # padded steps output zeros
    jax.tree.map(lambda a, r: np.testing.assert_allclose(a[b], r[0], atol=1e-5), final, ref_carry)


@pytest.mark.parametrize("name", cells.CELL_TYPES)
def test_backward_direction_reads_each_sequence_reversed_within_its_length(name):
  cell = cells.get_cell(name)
  p = cells.init_params(name, jax.random.key(1), E, H)
  x = _inputs(1)
  h, final = recurrent.run_layer(cell, p, x, jnp.asarray(LENGTHS), reverse=True)
  for b, n in enumerate(LENGTHS):
    ref_h, ref_carry = _step_loop(cell, p, x[:n, b][::-1], n)
    np.testing.assert_allclose(h[:n, b], ref_h[::-1], atol=1e-5)
    jax.tree.map(lambda a, r: np.testing.assert_allclose(a[b], r[0], atol=1e-5), final, ref_carry)


@pytest.mark.parametrize("name", cells.CELL_TYPES)
@pytest.mark.parametrize("bidi", [False, True])
def test_appending_padding_changes_nothing(name, bidi):
  cell = cells.get_cell(name)
  layers = [{"fwd": cells.init_params(name, jax.random.key(2), E, H // 2),
             "bwd": cells.init_params(name, jax.random.key(3), E, H // 2)} if bidi
            else cells.init_params(name, jax.random.key(2), E, H),
            cells.init_params(name, jax.random.key(4), H, H)]
  x = _inputs(2)
  padded = jnp.concatenate([x, 5.0 * jnp.ones((4, B, E))], axis=0)  # garbage padding
  run = lambda x: recurrent.run_stack(cell, layers, x, jnp.asarray(LENGTHS),
                                      bidirectional=(bidi, False), residual_start=1)
  h, finals = run(x)
  h_pad, finals_pad = run(padded)
  mask = recurrent.time_mask(jnp.asarray(LENGTHS), T)[..., None]
  np.testing.assert_allclose(jnp.where(mask, h_pad[:T], 0), jnp.where(mask, h, 0), atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), finals_pad, finals)


def test_residual_adds_the_layer_input_and_dropout_needs_a_key():
  cell = cells.get_cell("lstm")
  layers = [cells.init_params("lstm", jax.random.key(l), E if l == 0 else H, H) for l in range(3)]
  x = _inputs(3)
  lengths = jnp.full((B,), T)
  plain, _ = recurrent.run_stack(cell, layers, x, lengths, bidirectional=(False,) * 3)
  l0, _ = recurrent.run_layer(cell, layers[0], x, lengths)
  l1, _ = recurrent.run_layer(cell, layers[1], l0, lengths)
  l2, _ = recurrent.run_layer(cell, layers[2], l1 + l0, lengths)
  res, _ = recurrent.run_stack(cell, layers, x, lengths, bidirectional=(False,) * 3,
                               residual_start=1)
  np.testing.assert_allclose(res, l2 + l1 + l0, atol=1e-6)
  assert not np.allclose(plain, res)
  kw = dict(bidirectional=(False,) * 3, dropout_rate=0.5)
  det, _ = recurrent.run_stack(cell, layers, x, lengths, key=jax.random.key(0), **kw)
  np.testing.assert_allclose(det, plain, atol=1e-6)  # deterministic by default
  d1, _ = recurrent.run_stack(cell, layers, x, lengths, key=jax.random.key(0),
                              deterministic=False, **kw)
  d2, _ = recurrent.run_stack(cell, layers, x, lengths, key=jax.random.key(1),
                              deterministic=False, **kw)
  assert not np.allclose(d1, plain) and not np.allclose(d1, d2)


def test_dropout_is_inverted_and_zeroes_about_the_rate():
  x = jnp.ones((1000, 10))
  y = recurrent.dropout(x, 0.3, jax.random.key(0), deterministic=False)
  kept = np.asarray(y) != 0
  assert abs(kept.mean() - 0.7) < 0.02
  np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.7, rtol=1e-6)


@pytest.mark.parametrize("name,fused", [("lstm", True), ("lstm", False), ("gru", False)])
@pytest.mark.parametrize("chunk", [2, 3, 7])  # 3 does not divide T=7: a shorter last chunk
def test_rematerialised_scan_gives_the_same_values_and_gradients(name, fused, chunk):
  cell = cells.get_cell(name)
  p = cells.init_params(name, jax.random.key(1), E, H)
  p2 = {"fwd": cells.init_params(name, jax.random.key(2), H, H // 2),
        "bwd": cells.init_params(name, jax.random.key(3), H, H // 2)}
  x, lengths = _inputs(3), jnp.asarray(LENGTHS)

  def loss(p, x, chunk):
    h, final = recurrent.run_stack(cell, [p, p2], x, lengths, bidirectional=(False, True),
                                   remat_chunk=chunk, fused_lstm=fused)
    return jnp.sum(h * jnp.cos(h)) + sum(jnp.sum(jnp.sin(f)) for f in jax.tree.leaves(final))

  ref_val, ref_grads = jax.value_and_grad(loss, argnums=(0, 1))(p, x, 0)
  val, grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), static_argnums=2)(p, x, chunk)
  np.testing.assert_allclose(val, ref_val, rtol=1e-6)
  jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6),
               grads, ref_grads)


def test_rematerialised_scan_stores_less_for_the_backward_pass():
  """What remat is for: XLA's own buffer accounting of the compiled gradient shrinks."""
  cell, t = cells.get_cell("lstm"), 400
  p = cells.init_params("lstm", jax.random.key(0), 32, 64)
  x = jnp.zeros((t, 8, 32), jnp.float32)

  def temp_bytes(chunk):
    loss = lambda p: jnp.sum(recurrent.run_layer(cell, p, x, None, remat_chunk=chunk)[0])
    stats = jax.jit(jax.grad(loss)).lower(p).compile().memory_analysis()
    return stats.temp_size_in_bytes

  plain, remat = temp_bytes(0), temp_bytes(20)
  # Without remat the backward pass keeps h, c, the 4 gates and tanh(c) of every step
  # (7H floats per row); with chunks of 20 it keeps 20 carries and one chunk's worth.
  residuals = t * 8 * 7 * 64 * 4
  assert plain - remat > 0.8 * residuals, (plain, remat, residuals)

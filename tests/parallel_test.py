"""Data parallel over 8 simulated CPU devices equals one device.

XLA_FLAGS must be set before jax is imported, and pytest workers import jax
early, so the check runs in a child process started by the test.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def child():
  import jax
  import ml_collections
  import numpy as np

  from seq2seq_jax.models import seq2seq as model_lib
  import functools

  from seq2seq_jax import optimizer, parallel, steps
  from seq2seq_jax.tasks import translation

  assert jax.device_count() == 8, jax.devices()
  m = model_lib.Seq2Seq(model_lib.ModelConfig(
      src_vocab_size=23, tgt_vocab_size=29, embed_dim=8, hidden_dim=12, encoder_layers=2,
      decoder_layers=2, bidirectional="first", attention="general", dropout=0.2))
  tx, _ = optimizer.make_optimizer(ml_collections.ConfigDict(
      dict(name="adam", learning_rate=1e-2, clip_norm=1.0)), 10)
  params = m.init(jax.random.key(0))
  rng = np.random.RandomState(0)
  B = 16
  batch = {"src": rng.randint(3, 23, (1, B, 7)).astype(np.int32),
           "src_len": rng.randint(1, 8, (1, B)).astype(np.int32),
           "tgt_in": rng.randint(3, 29, (1, B, 6)).astype(np.int32),
           "tgt_out": rng.randint(3, 29, (1, B, 6)).astype(np.int32),
           "tgt_weights": (rng.rand(1, B, 6) > 0.2).astype(np.float32)}

  def run(devices):
    mesh = parallel.make_mesh(devices)
    state = steps.TrainState(np.int32(0), params, tx.init(params))
    state = jax.device_put(state, parallel.replicated(mesh))
    loss_fn = functools.partial(translation.sequence_loss, m, label_smoothing=0.1, fused=True,
                                loss_chunk=0)
    step = jax.jit(lambda s, b: steps.train_step(s, b, loss_fn=loss_fn, tx=tx,
                                                 dropout_key=jax.random.key(1)))
    gb = parallel.global_batch(mesh, batch, batch_axis=1)
    assert len(gb["src"].sharding.device_set) == len(devices)
    for _ in range(3):
      state, metrics = step(state, gb)
    return state, metrics

  one, m1 = run(jax.devices()[:1])
  eight, m8 = run(jax.devices())
  assert len(jax.tree.leaves(eight.params)[0].sharding.device_set) == 8
  np.testing.assert_allclose(float(m8["nll"]), float(m1["nll"]), rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b),
                                                       atol=2e-5, rtol=1e-4),
               eight.params, one.params)
  print("PARALLEL_OK")


def test_eight_devices_give_the_same_parameters_as_one():
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8"
  env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu")  # + the suite's
  out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                       cwd=os.path.dirname(HERE), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0 and "PARALLEL_OK" in out.stdout, out.stderr[-3000:]


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
  sys.path.insert(0, os.path.dirname(HERE))
  child()

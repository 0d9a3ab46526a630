"""End-to-end training: train_and_evaluate, exact resume, NaN stop, bad inputs."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import REPO, tiny_config
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import train


def train_losses(workdir):
  """{step: nll} of the train records in metrics.jsonl (last record per step wins)."""
  out = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      if r["split"] == "train":
        out[r["step"]] = r["nll"]
  return out


def test_train_and_evaluate_end_to_end(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 40
  c.eval_every_steps = 20
  c.optimizer.learning_rate = 0.01
  final = train.train_and_evaluate(c, str(tmp_path / "run"))
  losses = train_losses(str(tmp_path / "run"))
  assert set(losses) == set(range(1, 41))
  assert np.mean([losses[s] for s in range(31, 41)]) < np.mean([losses[s] for s in range(1, 6)]) - 0.5
  for split in ("validation", "test"):
    assert 0.0 <= final[split]["bleu"] <= 100.0
    assert "tok:13a" in final[split]["bleu_signature"]
  assert os.path.exists(tmp_path / "run" / "tokenizer")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["36", "38", "40"]
  assert len(os.listdir(tmp_path / "run" / "best")) == 1
  assert any(f.startswith("events") for f in os.listdir(tmp_path / "run" / "tb"))


def _run_cli(workdir, corpus, steps, extra=()):
  args = [sys.executable, "-m", "seq2seq_jax.main", "--config=configs/default.py:runlocal",
          f"--workdir={workdir}", f"--config.dataset=text:{corpus}",
          "--config.tokenizer.kind=word", "--config.tokenizer.vocab_size=64",
          "--config.model.embed_dim=16", "--config.model.hidden_dim=16",
          "--config.tokens_per_batch=0", "--config.batch_size=16",
          "--config.buckets=(12,)", "--config.max_len=12", "--config.eval_batch_size=16",
          f"--config.num_train_steps={steps}", "--config.log_every_steps=1",
          "--config.eval_every_steps=1000", "--config.checkpoint_every_steps=2",
          "--config.max_eval_sentences=8", "--config.num_examples_to_print=0",
          "--config.progress_bar=False", *extra]
  return args


def test_resume_after_sigkill_is_bit_exact(toy_corpus, tmp_path):
  steps = 24
  ref_dir, kill_dir = str(tmp_path / "ref"), str(tmp_path / "killed")
  env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu")
  subprocess.run(_run_cli(ref_dir, toy_corpus, steps), cwd=REPO, env=env, check=True,
                 capture_output=True)
  # Kill at an arbitrary point after training started; checkpoints are written every
  # 2 steps, so the kill often lands inside a save.
  proc = subprocess.Popen(_run_cli(kill_dir, toy_corpus, steps), cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  metrics = os.path.join(kill_dir, "metrics.jsonl")
  deadline = time.time() + 300
  target = np.random.RandomState(int(time.time())).randint(5, 15)
  while time.time() < deadline:
    if os.path.exists(metrics) and len(train_losses(kill_dir)) >= target:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = max(train_losses(kill_dir))
  assert killed_at < steps, "the run finished before it could be killed"
  subprocess.run(_run_cli(kill_dir, toy_corpus, steps), cwd=REPO, env=env, check=True,
                 capture_output=True)
  ref, resumed = train_losses(ref_dir), train_losses(kill_dir)
  assert set(resumed) == set(ref)
  for s in ref:  # bit for bit: the JSON floats are the exact float64 reprs
    assert resumed[s] == ref[s], f"step {s}: {resumed[s]!r} != {ref[s]!r} (killed at {killed_at})"
  params_ref = ckpt_lib.restore_for_inference(os.path.join(ref_dir, "checkpoints"))[0]
  params_res = ckpt_lib.restore_for_inference(os.path.join(kill_dir, "checkpoints"))[0]
  jax.tree.map(np.testing.assert_array_equal, params_res, params_ref)


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(toy_corpus, tmp_path, caplog):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 6
  wd = str(tmp_path / "run")
  train.train_and_evaluate(c, wd)
  # Corrupt the newest checkpoint's state item.
  state_dir = os.path.join(wd, "checkpoints", "6", "state")
  for root, _, files in os.walk(state_dir):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"garbage")
  c.num_train_steps = 8
  with caplog.at_level("WARNING"):
    train.train_and_evaluate(c, wd)
  assert any("Skipping corrupt checkpoint at step 6" in r.getMessage() for r in caplog.records)
  losses = train_losses(wd)
  assert 5 in losses and 8 in losses


def test_checkpoint_from_another_model_is_refused_naming_the_field(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 2
  wd = str(tmp_path / "run")
  train.train_and_evaluate(c, wd)
  c.model.hidden_dim = 32
  with pytest.raises(ckpt_lib.CheckpointMismatchError, match="hidden_dim: checkpoint=16 vs run=32"):
    train.train_and_evaluate(c, wd)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2"]  # nothing lost


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 4
  wd = str(tmp_path / "run")
  train.train_and_evaluate(c, wd)
  c.num_train_steps = 8
  c.optimizer.learning_rate = float("nan")
  with pytest.raises(train.NonFiniteLossError, match="non-finite parameters .* at step 5"):
    train.train_and_evaluate(c, wd)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints")))[-1] == "4"
  params = ckpt_lib.restore_for_inference(os.path.join(wd, "checkpoints"))[0]
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_bad_inputs_are_clear_errors(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.dataset = "no_such_dataset_xyz/en-de"
  with pytest.raises(Exception, match="no_such_dataset_xyz"):
    train.train_and_evaluate(c, str(tmp_path / "a"))
  c = tiny_config(str(tmp_path / "missing"))
  with pytest.raises(FileNotFoundError, match="missing"):
    train.train_and_evaluate(c, str(tmp_path / "b"))
  c = tiny_config(toy_corpus)
  c.model.attention = "luong"
  with pytest.raises(ValueError, match="attention must be"):
    train.train_and_evaluate(c, str(tmp_path / "c"))
  c = tiny_config(toy_corpus)
  c.optimizer.name = "adagrad2"
  with pytest.raises(ValueError, match="optimizer.name"):
    train.train_and_evaluate(c, str(tmp_path / "d"))


def test_gradient_accumulation_equals_one_big_batch():
  import ml_collections
  from seq2seq_jax import model as model_lib
  m = model_lib.Seq2Seq(model_lib.ModelConfig(src_vocab_size=11, tgt_vocab_size=11, embed_dim=8,
                                              hidden_dim=8, encoder_layers=1, decoder_layers=1))
  oc = ml_collections.ConfigDict(dict(name="sgd", learning_rate=0.1))
  tx, _ = train.make_optimizer(oc, 10)
  params = m.init(jax.random.key(0))
  rng = np.random.RandomState(0)
  batch = {"src": rng.randint(3, 11, (8, 5)), "src_len": rng.randint(1, 6, (8,)),
           "tgt_in": rng.randint(3, 11, (8, 4)), "tgt_out": rng.randint(3, 11, (8, 4)),
           "tgt_weights": (rng.rand(8, 4) > 0.3).astype(np.float32)}
  state = train.TrainState(np.int32(0), params, tx.init(params))
  step = jax.jit(lambda s, b: train.train_step(s, b, model=m, tx=tx, dropout_key=jax.random.key(1),
                                               label_smoothing=0.1))
  one, _ = step(state, {k: v[None] for k, v in batch.items()})
  two, _ = step(state, {k: v.reshape((2, 4) + v.shape[1:]) for k, v in batch.items()})
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), one.params, two.params)


def test_early_stopping_and_time_budget(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 40
  c.eval_every_steps = 2
  c.optimizer.learning_rate = 0.0  # validation BLEU can never improve
  c.early_stopping_patience = 2
  final = train.train_and_evaluate(c, str(tmp_path / "early"))
  assert final["step"] == 6  # evals at 2 (best), 4, 6 (two without improvement)
  c = tiny_config(toy_corpus)
  c.num_train_steps = 1000
  c.train_time_budget_minutes = 1e-6
  final = train.train_and_evaluate(c, str(tmp_path / "budget"))
  assert final["step"] == 1  # stops at the first step boundary past the budget
  assert "1" in os.listdir(tmp_path / "budget" / "checkpoints")


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd"])
@pytest.mark.parametrize("schedule", ["constant", "rsqrt", "cosine", "linear", "step"])
def test_optimizers_and_schedules_minimise_a_quadratic(name, schedule):
  import jax.numpy as jnp
  import ml_collections
  oc = ml_collections.ConfigDict(dict(name=name, learning_rate=0.1, schedule=schedule,
                                      warmup_steps=5, clip_norm=1.0, momentum=0.9,
                                      decay_start=20, decay_every=10))
  tx, sched = train.make_optimizer(oc, 60)
  assert float(sched(0)) == 0.0 and float(sched(5)) == pytest.approx(0.1, rel=1e-5)
  if schedule != "constant":
    assert float(sched(59)) < 0.1
  x = {"w": jnp.array([3.0, -2.0])}
  opt = tx.init(x)
  for _ in range(60):
    g = jax.grad(lambda p: jnp.sum(p["w"] ** 2))(x)
    upd, opt = tx.update(g, opt, x)
    x = jax.tree.map(lambda a, b: a + b, x, upd)
  assert float(jnp.abs(x["w"]).max()) < 1.5


def test_label_smoothing_loss_matches_its_definition():
  import jax.numpy as jnp
  logits = jnp.array([[[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]])
  targets, weights = jnp.array([[0, 2]]), jnp.array([[1.0, 0.0]])
  loss, nll, w = train.token_losses(logits, targets, weights, label_smoothing=0.1)
  logp = jax.nn.log_softmax(logits[0, 0])
  assert float(nll) == pytest.approx(-float(logp[0]), rel=1e-6) and float(w) == 1.0
  assert float(loss) == pytest.approx(0.9 * -float(logp[0]) - 0.1 * float(logp.mean()), rel=1e-6)

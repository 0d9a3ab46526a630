"""The one trainer, end to end on the translation task: train_and_evaluate, exact resume,
NaN stop, bad inputs, early stopping, the time budget, multi-seed runs, optimizers, the
shared train step (accumulation, fused loss, remat)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import REPO, tiny_config, write_toy_corpus
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import losses, optimizer, steps, trainer
from seq2seq_jax.decoding import ensemble as ens_lib
from seq2seq_jax.inference import predictor, translator
from seq2seq_jax.metrics_writer import MetricsWriter
from seq2seq_jax.tasks import translation


def translation_step(state, batch, *, model, tx, dropout_key, label_smoothing,
                     fused_loss=True, loss_chunk=0):
  """steps.train_step with the translation task's loss."""
  import functools  # pylint: disable=g-import-not-at-top
  loss_fn = functools.partial(translation.sequence_loss, model, label_smoothing=label_smoothing,
                              fused=fused_loss, loss_chunk=loss_chunk)
  return steps.train_step(state, batch, loss_fn=loss_fn, tx=tx, dropout_key=dropout_key)


def train_losses(workdir):
  """{step: nll} of the train records in metrics.jsonl (last record per step wins)."""
  return {step: r["nll"] for step, r in train_records(workdir).items()}


def test_train_and_evaluate_end_to_end(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 40
  c.eval_every_steps = 20
  c.optimizer.learning_rate = 0.01
  final = trainer.train_and_evaluate(c, str(tmp_path / "run"))
  losses = train_losses(str(tmp_path / "run"))
  assert set(losses) == set(range(1, 41))
  assert np.mean([losses[s] for s in range(31, 41)]) < np.mean([losses[s] for s in range(1, 6)]) - 0.5
  for split in ("validation", "test"):
    assert "tok:13a" in final[split]["bleu_signature"]
  # The final scores are those of the best checkpoint's translations, as written.
  from seq2seq_jax import evaluation  # pylint: disable=g-import-not-at-top
  refs = open(os.path.join(toy_corpus, "test.de")).read().splitlines()
  hyps = open(tmp_path / "run" / "final_test.hyp.txt").read().splitlines()
  assert final["test"]["bleu"] == evaluation.bleu(hyps, refs).score
  assert final["test"]["chrf"] == evaluation.chrf(hyps, refs).score
  assert os.path.exists(tmp_path / "run" / "tokenizer")
  assert sorted(os.listdir(tmp_path / "run" / "checkpoints")) == ["36", "38", "40"]
  assert len(os.listdir(tmp_path / "run" / "best")) == 1
  assert any(f.startswith("events") for f in os.listdir(tmp_path / "run" / "tb"))
  # Final translations, one line per sentence scored: all 24 test sentences, and the
  # first max_eval_sentences of validation.
  for split, n in (("test", 24), ("validation", c.max_eval_sentences)):
    assert len(open(tmp_path / "run" / f"final_{split}.hyp.txt").read().splitlines()) == n


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


# `python -c` in place of `-m seq2seq_jax.main`: SIGKILLs itself when orbax is about to
# commit the state item of the checkpoint directory ending in $KILL_AT (its other items
# written, the checkpoint's temporary directory not yet renamed).
_KILLED_MAIN = r"""
import os, signal
from orbax.checkpoint._src.path import atomicity
finalize = atomicity.AtomicRenameTemporaryPath.finalize
async def killing_finalize(self, *args, **kwargs):
  if str(self.get_final()).endswith(os.environ["KILL_AT"]):
    os.kill(os.getpid(), signal.SIGKILL)
  return await finalize(self, *args, **kwargs)
atomicity.AtomicRenameTemporaryPath.finalize = killing_finalize
from absl import app
from seq2seq_jax import main
app.run(main.main)
"""
SIGKILL_STEPS = 24
SIGKILL_EXTRA = ("--config.eval_every_steps=8",)  # a best/ written mid-run, then kept or not


def _records(workdir):
  """metrics.jsonl without its timing field (the time since the last record or resume)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k != "tokens_per_sec"} for line in f]


@pytest.fixture(scope="module")
def sigkill_reference(tmp_path_factory):
  """(corpus, uninterrupted run, environment): the runs share the session's compilation cache."""
  root = tmp_path_factory.mktemp("sigkill")
  corpus, ref_dir = write_toy_corpus(str(root / "corpus")), str(root / "ref")
  env = dict(os.environ, PYTHONUNBUFFERED="1", JAX_PLATFORMS="cpu")
  subprocess.run(_run_cli(ref_dir, corpus, SIGKILL_STEPS, SIGKILL_EXTRA), cwd=REPO, env=env,
                 check=True, capture_output=True)
  return corpus, ref_dir, env


@pytest.mark.parametrize("kill", ["at a random moment", "during the best/ write"])
def test_resume_after_sigkill_is_bit_exact(kill, sigkill_reference, tmp_path):
  corpus, ref_dir, env = sigkill_reference
  kill_dir = str(tmp_path / "killed")
  args = _run_cli(kill_dir, corpus, SIGKILL_STEPS, SIGKILL_EXTRA)
  if kill == "at a random moment":
    # Checkpoints are written every 2 steps, so the kill often lands inside a save.
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = os.path.join(kill_dir, "metrics.jsonl")
    deadline = time.time() + 300
    target = np.random.RandomState(int(time.time())).randint(5, 15)
    while time.time() < deadline:
      if os.path.exists(metrics) and len(train_losses(kill_dir)) >= target:
        break
      time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  else:  # the write of the step the uninterrupted run keeps as best
    (best,) = os.listdir(os.path.join(ref_dir, "best"))
    run = subprocess.run([sys.executable, "-c", _KILLED_MAIN] + args[3:], cwd=REPO,
                         env=dict(env, KILL_AT=f"/best/{best}.orbax-checkpoint-tmp/state"),
                         capture_output=True)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()[-2000:]
    assert any(".orbax-checkpoint-tmp" in d for d in os.listdir(os.path.join(kill_dir, "best")))
  killed_at = max(train_losses(kill_dir))
  assert killed_at < SIGKILL_STEPS, "the run finished before it could be killed"
  subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True)
  # The log line for line (bit for bit: the JSON floats are the exact float64 reprs), the
  # final scores, and the same checkpoints in checkpoints/ and best/.
  assert _records(kill_dir) == _records(ref_dir), f"killed at step {killed_at}"
  with open(os.path.join(ref_dir, "final_metrics.json")) as f, \
       open(os.path.join(kill_dir, "final_metrics.json")) as g:
    assert json.load(g) == json.load(f)
  for name in ("checkpoints", "best"):
    assert sorted(os.listdir(os.path.join(kill_dir, name))) == \
        sorted(os.listdir(os.path.join(ref_dir, name)))
    params_ref = ckpt_lib.restore_for_inference(os.path.join(ref_dir, name))[0]
    params_res = ckpt_lib.restore_for_inference(os.path.join(kill_dir, name))[0]
    jax.tree.map(np.testing.assert_array_equal, params_res, params_ref)


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(toy_corpus, tmp_path, caplog):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 6
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(c, wd)
  # Corrupt the newest checkpoint's state item.
  state_dir = os.path.join(wd, "checkpoints", "6", "state")
  for root, _, files in os.walk(state_dir):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"garbage")
  c.num_train_steps = 8
  with caplog.at_level("WARNING"):
    trainer.train_and_evaluate(c, wd)
  warnings = [r.getMessage() for r in caplog.records if "Unreadable checkpoint" in r.getMessage()]
  assert len(warnings) == 1 and "checkpoints/6 (" in warnings[0], warnings
  assert "\n" not in warnings[0]  # one line, not TensorStore's whole spec
  losses = train_losses(wd)
  assert 5 in losses and 8 in losses


def test_checkpoint_from_another_model_is_refused_naming_the_field(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 2
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(c, wd)
  c.model.hidden_dim = 32
  with pytest.raises(ckpt_lib.CheckpointMismatchError, match="hidden_dim: checkpoint=16 vs run=32"):
    trainer.train_and_evaluate(c, wd)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2"]  # nothing lost


def test_memory_options_do_not_make_a_checkpoint_incompatible():
  saved = {"model": {"hidden_dim": 16, "cell": "lstm"}}  # written before remat_chunk existed
  ckpt_lib.check_compatible(saved, {"model": {"hidden_dim": 16, "cell": "lstm",
                                              "remat_chunk": 32}}, where="ckpt")
  with pytest.raises(ckpt_lib.CheckpointMismatchError, match="cell: checkpoint='lstm'"):
    ckpt_lib.check_compatible(saved, {"model": {"hidden_dim": 16, "cell": "gru",
                                                "remat_chunk": 32}}, where="ckpt")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 4
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(c, wd)
  c.num_train_steps = 8
  c.optimizer.learning_rate = float("nan")
  with pytest.raises(trainer.NonFiniteLossError, match="non-finite parameters .* at step 5") as e:
    trainer.train_and_evaluate(c, wd)
  # True to the run: the checkpoint that exists, and no remedy already in effect.
  assert f"The newest checkpoint is {os.path.join(wd, 'checkpoints', '4')};" in str(e.value)
  assert "clip_norm" not in str(e.value) and "float32" not in str(e.value)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints")))[-1] == "4"
  params = ckpt_lib.restore_for_inference(os.path.join(wd, "checkpoints"))[0]
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_a_diverged_finite_loss_stops_without_saving(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)  # V = 28 target words: uniform-distribution loss ln 28 = 3.33
  c.optimizer.learning_rate = 1e6  # loss ~1e6 from step 3 on, finite
  wd = str(tmp_path / "run")
  with pytest.raises(trainer.DivergedError) as e:
    trainer.train_and_evaluate(c, wd)
  message = str(e.value)
  assert "training diverged: loss" in message and "at step 5" in message, message
  assert "2x the uniform-distribution loss 3.332" in message and "\n" not in message
  assert "checkpoints/2" in message  # saved at step 2, before the loss left the normal range
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2"]  # not the diverged 4
  assert not os.path.exists(os.path.join(wd, "final_metrics.json"))


def test_bad_inputs_are_clear_errors(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.dataset = "no_such_dataset_xyz/en-de"
  with pytest.raises(Exception, match="no_such_dataset_xyz"):
    trainer.train_and_evaluate(c, str(tmp_path / "a"))
  c = tiny_config(str(tmp_path / "missing"))
  with pytest.raises(FileNotFoundError, match="missing"):
    trainer.train_and_evaluate(c, str(tmp_path / "b"))
  c = tiny_config(toy_corpus)
  c.model.attention = "luong"
  with pytest.raises(ValueError, match="attention must be"):
    trainer.train_and_evaluate(c, str(tmp_path / "c"))
  c = tiny_config(toy_corpus)
  c.optimizer.name = "adagrad2"
  with pytest.raises(ValueError, match="optimizer.name"):
    trainer.train_and_evaluate(c, str(tmp_path / "d"))
  c = tiny_config(toy_corpus)
  c.final_checkpoint = "newest"
  with pytest.raises(ValueError, match="final_checkpoint must be"):
    trainer.train_and_evaluate(c, str(tmp_path / "e"))
  assert not (tmp_path / "e").exists()
  c = tiny_config(toy_corpus)
  c.loss_chunk = -4
  with pytest.raises(ValueError, match="loss_chunk must be"):
    trainer.train_and_evaluate(c, str(tmp_path / "f"))
  assert not (tmp_path / "f").exists()
  c = tiny_config(toy_corpus)
  c.eval_max_len = c.max_len - 1
  with pytest.raises(ValueError, match="eval_max_len must be"):
    trainer.train_and_evaluate(c, str(tmp_path / "g"))
  assert not (tmp_path / "g").exists()


def test_gradient_accumulation_equals_one_big_batch():
  import ml_collections
  from seq2seq_jax.models import seq2seq as model_lib
  m = model_lib.Seq2Seq(model_lib.ModelConfig(src_vocab_size=11, tgt_vocab_size=11, embed_dim=8,
                                              hidden_dim=8, encoder_layers=1, decoder_layers=1))
  oc = ml_collections.ConfigDict(dict(name="sgd", learning_rate=0.1))
  tx, _ = optimizer.make_optimizer(oc, 10)
  params = m.init(jax.random.key(0))
  rng = np.random.RandomState(0)
  batch = {"src": rng.randint(3, 11, (8, 5)), "src_len": rng.randint(1, 6, (8,)),
           "tgt_in": rng.randint(3, 11, (8, 4)), "tgt_out": rng.randint(3, 11, (8, 4)),
           "tgt_weights": (rng.rand(8, 4) > 0.3).astype(np.float32)}
  state = steps.TrainState(np.int32(0), params, tx.init(params))
  step = jax.jit(lambda s, b: translation_step(s, b, model=m, tx=tx, dropout_key=jax.random.key(1),
                                               label_smoothing=0.1))
  one, _ = step(state, {k: v[None] for k, v in batch.items()})
  two, _ = step(state, {k: v.reshape((2, 4) + v.shape[1:]) for k, v in batch.items()})
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), one.params, two.params)


@pytest.mark.parametrize("fused,loss_chunk,remat_chunk", [(True, 0, 0), (False, 2, 0),
                                                           (True, 3, 2), (False, 4, 0)])
def test_fused_or_chunked_loss_and_remat_give_the_same_update(fused, loss_chunk, remat_chunk):
  """Memory options change what is stored, not the update (T=7: 3 leaves a last chunk of 1)."""
  import dataclasses
  import ml_collections
  from seq2seq_jax.models import seq2seq as model_lib
  cfg = model_lib.ModelConfig(src_vocab_size=13, tgt_vocab_size=17, embed_dim=8, hidden_dim=8,
                              encoder_layers=1, decoder_layers=2, dropout=0.3)
  m = model_lib.Seq2Seq(cfg)
  m_mem = model_lib.Seq2Seq(dataclasses.replace(cfg, remat_chunk=remat_chunk))
  tx, _ = optimizer.make_optimizer(ml_collections.ConfigDict(dict(name="adam", learning_rate=0.01)), 10)
  params = m.init(jax.random.key(0))
  rng = np.random.RandomState(1)
  batch = {"src": rng.randint(3, 13, (1, 4, 6)), "src_len": rng.randint(1, 7, (1, 4)),
           "tgt_in": rng.randint(3, 17, (1, 4, 7)), "tgt_out": rng.randint(3, 17, (1, 4, 7)),
           "tgt_weights": (rng.rand(1, 4, 7) > 0.2).astype(np.float32)}
  state = steps.TrainState(np.int32(0), params, tx.init(params))
  kw = dict(tx=tx, dropout_key=jax.random.key(2), label_smoothing=0.1)
  ref, ref_metrics = jax.jit(lambda s: translation_step(s, batch, model=m, fused_loss=False,
                                                        **kw))(state)  # autodiff
  new, metrics = jax.jit(lambda s: translation_step(s, batch, model=m_mem, fused_loss=fused,
                                                    loss_chunk=loss_chunk, **kw))(state)
  np.testing.assert_allclose(metrics["nll"], ref_metrics["nll"], rtol=1e-6)
  np.testing.assert_allclose(metrics["grad_norm"], ref_metrics["grad_norm"], rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               new.params, ref.params)


def test_fused_loss_keeps_no_logits_and_chunked_one_chunk():
  """XLA's buffer accounting: the BxTxV logits (and their gradient) are gone."""
  import ml_collections
  from seq2seq_jax.models import seq2seq as model_lib
  B, T, V = 4, 200, 3000
  m = model_lib.Seq2Seq(model_lib.ModelConfig(src_vocab_size=50, tgt_vocab_size=V, embed_dim=16,
                                              hidden_dim=16, encoder_layers=1, decoder_layers=1))
  tx, _ = optimizer.make_optimizer(ml_collections.ConfigDict(dict(name="sgd", learning_rate=0.1)), 10)
  params = m.init(jax.random.key(0))
  batch = {"src": np.ones((1, B, 5), np.int32), "src_len": np.full((1, B), 5, np.int32),
           "tgt_in": np.ones((1, B, T), np.int32), "tgt_out": np.ones((1, B, T), np.int32),
           "tgt_weights": np.ones((1, B, T), np.float32)}
  state = steps.TrainState(np.int32(0), params, tx.init(params))

  def temp_bytes(fused, chunk):
    fn = jax.jit(lambda s: translation_step(s, batch, model=m, tx=tx, dropout_key=jax.random.key(0),
                                            label_smoothing=0.0, fused_loss=fused,
                                            loss_chunk=chunk))
    return fn.lower(state).compile().memory_analysis().temp_size_in_bytes

  logits_bytes = B * T * V * 4
  plain, fused, chunked = temp_bytes(False, 0), temp_bytes(True, 0), temp_bytes(False, 10)
  assert plain > 2 * logits_bytes  # logits and their gradient (at least)
  assert fused < plain - logits_bytes, (plain, fused, logits_bytes)  # one NxV at most
  assert chunked < 0.3 * logits_bytes, (plain, chunked, logits_bytes)


def test_early_stopping_and_time_budget(toy_corpus, tmp_path):
  c = tiny_config(toy_corpus)
  c.num_train_steps = 40
  c.eval_every_steps = 2
  c.optimizer.learning_rate = 0.0  # validation BLEU can never improve
  c.early_stopping_patience = 2
  final = trainer.train_and_evaluate(c, str(tmp_path / "early"))
  assert final["step"] == 6  # evals at 2 (best), 4, 6 (two without improvement)
  assert final["checkpoint"] == "best (step 2)"
  # The same run scored with its last parameters: resuming at step 6 only re-scores.
  os.remove(tmp_path / "early" / "final_metrics.json")
  c.final_checkpoint, c.num_train_steps = "last", 6
  assert trainer.train_and_evaluate(c, str(tmp_path / "early"))["checkpoint"] == "last (step 6)"
  c = tiny_config(toy_corpus)
  c.num_train_steps = 1000
  c.train_time_budget_minutes = 1e-6
  final = trainer.train_and_evaluate(c, str(tmp_path / "budget"))
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
  tx, sched = optimizer.make_optimizer(oc, 60)
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
  loss, nll, w = losses.token_losses(logits, targets, weights, label_smoothing=0.1)
  logp = jax.nn.log_softmax(logits[0, 0])
  assert float(nll) == pytest.approx(-float(logp[0]), rel=1e-6) and float(w) == 1.0
  assert float(loss) == pytest.approx(0.9 * -float(logp[0]) - 0.1 * float(logp.mean()), rel=1e-6)


# -----------------------------------------------------------------------------
# Multi-seed training (num_seeds > 1): seeds vmapped over a leading params axis
# -----------------------------------------------------------------------------
SEED, NUM_SEEDS = 3, 2


def multi_seed_config(corpus, **overrides):
  c = tiny_config(corpus)
  # Enough training for a seed to translate a little (chrF > 0), at a learning rate low
  # enough that vmap's float32 rounding differences are not amplified (see below).
  c.optimizer.learning_rate = 0.01
  c.num_train_steps = 64
  c.checkpoint_every_steps = 16
  # One validation, at the end: the best checkpoint is then the last one for the vmapped
  # run and the solo runs alike, so their final scores are comparable.
  c.eval_every_steps = 64
  c.seed, c.num_seeds = SEED, NUM_SEEDS
  c.update(overrides)
  return c


def train_records(workdir):
  """{step: record} of the train records in metrics.jsonl (last record per step wins)."""
  out = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      r = json.loads(line)
      if r["split"] == "train":
        out[r["step"]] = r
  return out


@pytest.fixture(scope="module")
def multi_seed_run(tmp_path_factory):
  """(corpus, workdir, final metrics) of a 2-seed run."""
  root = tmp_path_factory.mktemp("multi_seed")
  corpus = write_toy_corpus(str(root / "corpus"))
  workdir = str(root / "run")
  return corpus, workdir, trainer.train_and_evaluate(multi_seed_config(corpus), workdir)


def last_params(workdir):
  return ckpt_lib.restore_for_inference(os.path.join(workdir, "checkpoints"))[0]


def test_multi_seed_training_equals_each_seed_trained_alone(multi_seed_run, tmp_path):
  corpus, multi_dir, final = multi_seed_run
  multi = train_records(multi_dir)
  multi_params = last_params(multi_dir)
  for i in range(NUM_SEEDS):
    solo_dir = str(tmp_path / f"seed{i}")
    # The same seed and the same batches (data_seed: the vmapped run's order).
    solo_final = trainer.train_and_evaluate(
        multi_seed_config(corpus, seed=SEED + i, num_seeds=1, data_seed=SEED), solo_dir)
    solo = train_records(solo_dir)
    assert set(solo) == set(multi) == set(range(1, 65))
    # vmap batches the matmuls, which changes float32 rounding by an ulp here and there.
    # Measured on CPU: relative loss differences < 2e-7 and parameter differences < 0.1x
    # the tolerance below after 64 steps; rtol 1e-6 on losses and (1e-5, 1e-6) on params
    # are the tightest round tolerances with margin. (At learning rate 0.03 the early,
    # chaotic training amplifies the same differences to ~1e-4 by step 48.)
    np.testing.assert_allclose([multi[s]["nll_per_seed"][i] for s in sorted(solo)],
                               [solo[s]["nll"] for s in sorted(solo)], rtol=1e-6, atol=0)
    jax.tree.map(lambda m, p: np.testing.assert_allclose(m[i], p, rtol=1e-5, atol=1e-6),
                 multi_params, last_params(solo_dir))
    per_seed = final["seeds"][i]
    assert per_seed["seed"] == SEED + i
    for split in ("validation", "test"):
      for k in ("bleu", "chrf"):
        assert per_seed[split][k] == solo_final[split][k], (i, split, k)
      assert per_seed[split]["ppl"] == pytest.approx(solo_final[split]["ppl"], rel=1e-5)
      assert open(os.path.join(multi_dir, f"final_{split}.seed{SEED + i}.hyp.txt")).read() == \
          open(os.path.join(solo_dir, f"final_{split}.hyp.txt")).read()
  assert any(s["test"]["chrf"] > 0 for s in final["seeds"])  # not vacuously equal
  for r in multi.values():  # the logged train loss is the mean over seeds
    assert r["nll"] == pytest.approx(np.mean(r["nll_per_seed"]), rel=1e-12)


def test_multi_seed_final_metrics_and_hypothesis_files(multi_seed_run):
  _, workdir, final = multi_seed_run
  with open(os.path.join(workdir, "final_metrics.json")) as f:
    assert json.load(f) == final
  assert [s["seed"] for s in final["seeds"]] == [SEED, SEED + 1]
  for split, num_lines in (("validation", 16), ("test", 24)):
    summary = final[split]
    assert summary["num_seeds"] == NUM_SEEDS
    for k in ("bleu", "chrf", "ppl"):
      values = [s[split][k] for s in final["seeds"]]
      assert summary[k] == pytest.approx(np.mean(values), rel=1e-12)
      assert summary[f"{k}_std"] == pytest.approx(np.std(values, ddof=0), rel=1e-12, abs=1e-12)
    assert "tok:13a" in summary["bleu_signature"]
    for seed in (SEED, SEED + 1):
      lines = open(os.path.join(workdir, f"final_{split}.seed{seed}.hyp.txt")).read()
      assert len(lines.splitlines()) == num_lines
  assert not os.path.exists(os.path.join(workdir, "final_test.hyp.txt"))
  # Periodic validation: the mean over seeds (what picks the best checkpoint) and each seed.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    valid = [r for r in map(json.loads, f) if r["split"] == "validation"]
  assert len(valid) == 1 and len(valid[0]["bleu_per_seed"]) == NUM_SEEDS
  assert valid[0]["bleu"] == pytest.approx(np.mean(valid[0]["bleu_per_seed"]), rel=1e-12)
  # The checkpoint keeps the seed axis; its meta says how many seeds.
  params, meta, _, _ = ckpt_lib.restore_for_inference(os.path.join(workdir, "best"))
  assert meta["num_seeds"] == NUM_SEEDS
  assert all(x.shape[0] == NUM_SEEDS for x in jax.tree.leaves(params))


class _Interrupted(Exception):
  pass


def test_multi_seed_resume_matches_the_uninterrupted_run(multi_seed_run, tmp_path, monkeypatch):
  corpus, ref_dir, ref_final = multi_seed_run
  workdir = str(tmp_path / "run")
  write = MetricsWriter.write

  def write_until_step_21(self, step, split, metrics):
    if step == 21:  # after the step-16 checkpoint, before the step-32 one
      raise _Interrupted
    write(self, step, split, metrics)

  monkeypatch.setattr(MetricsWriter, "write", write_until_step_21)
  with pytest.raises(_Interrupted):
    trainer.train_and_evaluate(multi_seed_config(corpus), workdir)
  monkeypatch.setattr(MetricsWriter, "write", write)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["16"]
  final = trainer.train_and_evaluate(multi_seed_config(corpus), workdir)
  ref, resumed = train_records(ref_dir), train_records(workdir)
  assert set(resumed) == set(ref)
  for s in ref:  # bit for bit
    assert resumed[s]["nll_per_seed"] == ref[s]["nll_per_seed"], s
  jax.tree.map(np.testing.assert_array_equal, last_params(workdir), last_params(ref_dir))
  assert final == ref_final

  # Another number of seeds would need another stacked state: refused, naming the field.
  for num_seeds in (3, 1):
    c = multi_seed_config(corpus, num_seeds=num_seeds)
    with pytest.raises(ckpt_lib.CheckpointMismatchError,
                       match=f"num_seeds: checkpoint=2 vs run={num_seeds}"):
      trainer.train_and_evaluate(c, workdir)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["32", "48", "64"]


def test_non_finite_loss_names_the_seed():
  nll_N, param_norm_N = np.array([2.0, np.nan], np.float32), np.array([1.0, 1.0], np.float32)
  with pytest.raises(trainer.NonFiniteLossError, match="non-finite loss of seed 8 .* at step 5"):
    trainer.check_finite(nll_N, param_norm_N, [7, 8], 5)
  trainer.check_finite(nll_N[:1], param_norm_N[:1], [7], 5)  # finite: no error


def test_load_translator_on_a_multi_seed_run(multi_seed_run):
  _, workdir, _ = multi_seed_run
  best = ckpt_lib.restore_for_inference(os.path.join(workdir, "best"))[0]
  ensemble = predictor.load_predictor(workdir, "best")
  assert isinstance(ensemble.model, ens_lib.Ensemble)
  jax.tree.map(np.testing.assert_array_equal, ensemble.params, best)
  lines = ["open the file", "close", "new folder settings print"]
  assert len(ensemble.translate(lines, beam=2)) == len(lines)
  for i in range(NUM_SEEDS):
    solo = predictor.load_predictor(workdir, "best", seed_index=i)
    assert not isinstance(solo.model, ens_lib.Ensemble)
    jax.tree.map(lambda a, b, i=i: np.testing.assert_array_equal(a, b[i]), solo.params, best)
  assert len(solo.translate(lines, beam=2)) == len(lines)
  with pytest.raises(ValueError, match="seed_index=2 is out of range"):
    predictor.load_predictor(workdir, "best", seed_index=2)
  with pytest.raises(FileNotFoundError, match="seq2seq_jax.average"):
    predictor.load_predictor(workdir, "avg")
  ckpt_lib.average_checkpoints(os.path.join(workdir, "checkpoints"),
                               os.path.join(workdir, "averaged"))
  averaged = predictor.load_predictor(workdir, "avg")
  assert all(x.shape[0] == NUM_SEEDS for x in jax.tree.leaves(averaged.params))



def test_eval_length_limits_default_cap_and_location_attention(toy_corpus):
  from seq2seq_jax.models import seq2seq as model_lib
  c = tiny_config(toy_corpus)
  m_cfg = model_lib.ModelConfig(src_vocab_size=40, tgt_vocab_size=40, embed_dim=8,
                                hidden_dim=8, encoder_layers=1, decoder_layers=1,
                                attention="general", max_source_len=30)
  limits = lambda cfg: translator.Translator(model_lib.Seq2Seq(cfg), None, None, None,
                                             c.to_dict())
  assert limits(m_cfg).max_len == c.max_len  # default: the training limit
  c.eval_max_len = 4 * c.max_len
  tr = limits(m_cfg)
  assert tr.max_len == 4 * c.max_len == tr.buckets[-1] and tr.buckets[0] == c.buckets[0]
  loc = dataclasses.replace(m_cfg, attention="location")  # reads max_source_len positions
  assert limits(loc).max_len == 30


def test_eval_max_len_evaluates_long_pairs_whole_as_the_translator_does(tmp_path):
  from seq2seq_jax import tasks
  corpus = write_toy_corpus(str(tmp_path / "corpus"))
  with open(os.path.join(corpus, "test.en"), "a") as fe, \
       open(os.path.join(corpus, "test.de"), "a") as fd:
    fe.write(" ".join(["open", "the", "file"] * 6) + "\n")  # 18 words: over max_len=12
    fd.write(" ".join(["öffnen", "die", "datei"] * 6) + "\n")
  c = tiny_config(corpus)
  c.num_train_steps = 4
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(c, wd)
  tr = predictor.load_predictor(wd, "last")
  task = tasks.get("translation")

  def evaluate(config):
    run = tasks.Run(config, wd, task.build_data(config, wd), tr.model, [config.seed])
    (res,) = task.evaluate(run, tr.params, "test", step=4, final=True)
    return res, open(os.path.join(wd, "final_test.hyp.txt")).read().splitlines()

  c.final_beam = 1
  cut, cut_hyps = evaluate(c)
  c.eval_max_len = 48
  whole, hyps = evaluate(c)
  # Greedy outputs that stopped at the old output limit now go on; the rest are as before.
  assert all(h.startswith(old) for h, old in zip(hyps[:-1], cut_hyps[:-1]))
  assert sum(h == old for h, old in zip(hyps[:-1], cut_hyps[:-1])) > 0
  assert len(hyps[-1].split()) > len(cut_hyps[-1].split()) or hyps[-1] != cut_hyps[-1]
  assert whole["nll"] != cut["nll"]  # the long pair's loss now covers all of it

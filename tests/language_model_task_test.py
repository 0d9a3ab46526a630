"""The language-modelling task on the one trainer: training lowers perplexity, evaluation
equals a direct computation, resume is bit for bit (carried state included), seeds and
accumulation agree, and bad input is a clear error."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO
from fault_injection_test import Killed, kill_train_step
from seq2seq_jax import experiment, trainer
from seq2seq_jax.config_base import ConfigError
from seq2seq_jax.data.lm import corpus
from seq2seq_jax.data.lm.vocab import Vocab
from seq2seq_jax.data.sources.base import DatasetError
from seq2seq_jax.models import language_model as lm
from seq2seq_jax.nn import cells as cells_lib


def config(**overrides):
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "zaremba2014"))
  c = module.get_config("size=tiny,variant=small")
  c.progress_bar = False
  c.lm.generation_prompts = 0  # the experiment test and test_generation cover it
  for k, v in overrides.items():
    node = c
    *parents, leaf = k.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = v
  return c


def records(workdir):
  """metrics.jsonl without the throughput (a rate measured by the clock)."""
  return [{k: v for k, v in json.loads(l).items() if not k.endswith("_per_sec")}
          for l in open(os.path.join(workdir, "metrics.jsonl"))]


def last_params(workdir):
  from seq2seq_jax import checkpoints as ckpt_lib
  return ckpt_lib.restore_for_inference(os.path.join(workdir, "checkpoints"))[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("lm") / "run")
  return workdir, trainer.train_and_evaluate(config(), workdir)


def direct_test_ppl(cfg, params, vocab):
  """exp(mean NLL) over the test stream, one token at a time from a zero state."""
  ids, _ = vocab.encode(corpus.load_lines("synthetic/grammar", "test"))
  cell = cells_lib.get_cell(cfg.cell)
  w, b = lm.output_weights(cfg, params)

  def step(carry, xy):
    x, y = xy
    h = params["embed"]["w"][x][None]
    carry = list(carry)
    for l in range(cfg.num_layers):
      carry[l], h = cell.step(params["layers"][f"layer_{l}"], carry[l], h)
    return carry, -jax.nn.log_softmax(h[0] @ w + b)[y]
  _, nll = jax.jit(lambda: jax.lax.scan(step, lm.init_carry(cfg, 1),
                                        (jnp.asarray(ids[:-1]), jnp.asarray(ids[1:]))))()
  return float(np.exp(np.asarray(nll, np.float64).mean()))


def test_training_lowers_perplexity_and_the_test_score_is_the_direct_one(reference):
  workdir, final = reference
  V = final["vocab_size"]
  assert V == len(Vocab.load(os.path.join(workdir, "vocab.json")))
  assert len(final["test_ppl"]) == 2  # two seeds
  first = [r for r in records(workdir) if r.get("split") == "train"][0]
  # It learned: far below the uniform perplexity V, and well below its first 10 steps.
  assert max(final["test_ppl"]) < 0.25 * V and first["ppl"] > 1.4 * max(final["test_ppl"])
  from seq2seq_jax import checkpoints as ckpt_lib
  params, meta, _, _ = ckpt_lib.restore_for_inference(os.path.join(workdir, "best"))
  cfg = lm.LanguageModelConfig.from_dict(meta["model"])
  vocab = Vocab.load(os.path.join(workdir, "vocab.json"))
  for i in range(2):
    p = jax.tree.map(lambda x: x[i], params)
    assert final["test_ppl"][i] == pytest.approx(direct_test_ppl(cfg, p, vocab), rel=1e-5)


def test_the_log_counts_tokens_not_rows(reference):
  """Zaremba's loss weight counts rows; the throughput counts target tokens."""
  from seq2seq_jax import tasks, train_log
  workdir, _ = reference
  lines = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  train = [r for r in lines if r["split"] == "train"]
  assert train and all(r["tokens_per_sec"] > 0 for r in train)
  assert all("tokens" not in r for r in train)  # the count is not a logged mean
  window = train_log.LogWindow()
  # K=2 steps, N=2 seeds: 20 rows of a 35-step window each step.
  metrics = {"loss": np.full((2, 2), 4.0), "tokens": np.full((2, 2), 35.0),
             "weight": np.full((2, 2), 20.0), "grad_norm": np.ones((2, 2)),
             "param_norm": np.ones((2, 2))}
  window.add(metrics, "tokens")
  assert window.weight == 2 * 20 * 35 and set(window.sums) == {"loss"}
  task = tasks.get("language_model")
  assert trainer._loss_key(metrics, task) == "loss"  # pylint: disable=protected-access


def test_a_killed_run_resumes_bit_for_bit(reference, tmp_path, monkeypatch):
  ref_dir, ref_final = reference
  workdir = str(tmp_path / "run")
  with monkeypatch.context() as mp:
    kill_train_step(mp, 3)  # after step 30; the newest checkpoint is step 20
    with pytest.raises(Killed):
      trainer.train_and_evaluate(config(), workdir)
  final = trainer.train_and_evaluate(config(), workdir)
  assert final == ref_final
  assert records(workdir) == records(ref_dir)
  jax.tree.map(np.testing.assert_array_equal, last_params(workdir), last_params(ref_dir))


def _trigger_at_first_evaluation(mp):
  """NT-ASGD's trigger, forced at the first evaluation (step 20 of the tiny run)."""
  from seq2seq_jax import averaging
  mp.setattr(averaging, "should_start",
             lambda oc, opt_state, *a: not averaging.started(opt_state))


def test_nt_asgd_evaluates_keeps_and_resumes_the_averaged_weights(reference, tmp_path,
                                                                  monkeypatch, capsys):
  from seq2seq_jax import checkpoints as ckpt_lib
  ref_dir, _ = reference
  c = lambda: config(**{"optimizer.averaging": "nt_asgd", "optimizer.nonmono": 1,
                        "final_checkpoint": "last"})
  _trigger_at_first_evaluation(monkeypatch)
  whole = str(tmp_path / "whole")
  final = trainer.train_and_evaluate(c(), whole)
  assert "Step 20: validation ppl is worse" in capsys.readouterr().out
  for_inference = ckpt_lib.restore_for_inference  # the averaged params of the run
  avg = for_inference(os.path.join(whole, "checkpoints"))[0]
  # Averaging leaves the updates alone: the raw trajectory is the plain run's (reference)
  # ... and what is evaluated and kept is the mean of the iterates after step 20.
  from orbax import checkpoint as ocp
  state = ocp.CheckpointManager(os.path.abspath(os.path.join(whole, "checkpoints"))).restore(
      40, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
  assert int(np.asarray(state["opt_state"]["start"])[0]) == 21
  jax.tree.map(np.testing.assert_array_equal, state["params"], last_params(ref_dir))
  assert not np.allclose(jax.tree.leaves(avg)[0], jax.tree.leaves(state["params"])[0])
  meta = for_inference(os.path.join(whole, "checkpoints"))[1]
  cfg = lm.LanguageModelConfig.from_dict(meta["model"])
  vocab = Vocab.load(os.path.join(whole, "vocab.json"))
  for i in range(2):
    p = jax.tree.map(lambda x: x[i], avg)
    assert final["test_ppl"][i] == pytest.approx(direct_test_ppl(cfg, p, vocab), rel=1e-5)
  # Killed after step 30 (the newest checkpoint, step 20, holds the trigger) and resumed:
  # the same averaged weights, bit for bit.
  part = str(tmp_path / "resumed")
  with monkeypatch.context() as mp:
    kill_train_step(mp, 3)
    with pytest.raises(Killed):
      trainer.train_and_evaluate(c(), part)
  assert trainer.train_and_evaluate(c(), part) == final
  jax.tree.map(np.testing.assert_array_equal, for_inference(os.path.join(part, "checkpoints"))[0],
               avg)


def test_a_seed_of_a_vmapped_run_equals_that_seed_alone(reference, tmp_path):
  ref_dir, ref_final = reference
  c = config(num_seeds=1, seed=1, data_seed=0)
  final = trainer.train_and_evaluate(c, str(tmp_path / "solo"))
  assert final["test_ppl"][0] == pytest.approx(ref_final["test_ppl"][1], rel=1e-5)
  jax.tree.map(lambda m, s: np.testing.assert_allclose(m[1], s, rtol=1e-5, atol=1e-6),
               last_params(ref_dir), last_params(str(tmp_path / "solo")))


def test_accumulating_half_rows_gives_the_same_update(tmp_path):
  kw = dict(num_seeds=1, num_train_steps=10, eval_every_steps=10, checkpoint_every_steps=10)
  one = trainer.train_and_evaluate(config(**kw), str(tmp_path / "a"))
  two = trainer.train_and_evaluate(config(grad_accum_steps=2, **kw), str(tmp_path / "b"))
  assert two["val_ppl"][0] == pytest.approx(one["val_ppl"][0], rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               last_params(str(tmp_path / "a")), last_params(str(tmp_path / "b")))


def test_awd_scales_the_update_of_a_window_by_its_length(tmp_path):
  """scale_lr_with_length: the first update is length/bptt times the unscaled one."""
  from seq2seq_jax import optimizer, steps, tasks
  task = tasks.get("language_model")
  updates = {}
  for scale in (False, True):
    c = config(num_seeds=1, **{"lm.variable_length": True, "lm.scale_lr_with_length": scale,
                               "optimizer.clip_norm": 0.0})
    data = task.build_data(c, str(tmp_path / str(scale)))
    run = tasks.Run(c, "", data, task.build_model(c, data), [0])
    tx, _ = optimizer.make_optimizer(c.optimizer, c.num_train_steps)
    state, key = steps.init_state(run.model.init, tx, 0)
    state = state.replace(carry=task.init_carry(run))
    batches = task.train_batches(run, batch_multiple=1, shard_index=0, shard_count=1)
    step = steps.make_step(loss_fn=lambda p, mb, k, cr: task.loss(run, p, mb, k, cr), tx=tx,
                           dropout_key=key, num_seeds=1)
    p0 = jax.tree.map(np.asarray, state.params)
    new, _ = steps.make_call(step, num_steps=1, generate=batches.generate)(state)
    updates[scale] = jax.tree.map(lambda a, b: np.asarray(a) - b, new.params, p0)
    length = int(task.schedule(run).length[0])
  assert length != c.lm.bptt  # a random length was drawn
  jax.tree.map(lambda s, u: np.testing.assert_allclose(s, u * length / c.lm.bptt, rtol=2e-4,
                                                       atol=1e-7), updates[True], updates[False])


@pytest.mark.parametrize("overrides, error, message", [
    ({"lm.dataset": "no_such_corpus!"}, DatasetError, "Unknown language-modelling corpus"),
    ({"lm.loss_normalisation": "batch"}, ConfigError, "loss_normalisation must be one of"),
    ({"lm.alpha": 2.0}, ConfigError, "AR/TAR"),
    ({"lm.steps_per_epoch": 7}, ConfigError, "steps_per_epoch=7, but"),
    ({"batch_size": 50000}, ConfigError, "cannot fill 50000 rows"),
    ({"batch_size": 5000}, ConfigError, "shorter than one BPTT window of 10"),
    ({"model.dropconnect": 1.5}, ConfigError, "dropconnect must be in"),
])
def test_bad_input_is_one_clear_error(overrides, error, message, tmp_path):
  with pytest.raises(error, match=message):
    trainer.train_and_evaluate(config(**overrides), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "checkpoints") or not os.listdir(
      tmp_path / "run" / "checkpoints")


def test_an_empty_training_file_is_named(tmp_path):
  d = tmp_path / "corpus"
  d.mkdir()
  (d / "train.txt").write_text("")
  (d / "valid.txt").write_text("a b\n")
  (d / "test.txt").write_text("a\n")
  with pytest.raises(DatasetError, match="train.txt is empty"):
    trainer.train_and_evaluate(config(**{"lm.dataset": f"text:{d}"}), str(tmp_path / "run"))


# ---- generation -------------------------------------------------------------------
@pytest.fixture(scope="module")
def generator(reference):
  from seq2seq_jax.inference import predictor as predictor_lib
  return predictor_lib.load_predictor(reference[0], "best", seed_index=0)


def test_greedy_continuation_is_the_argmax_of_the_model_on_its_own_output(generator):
  g = generator
  (text,), = g.generate(["the cat"], method="greedy", max_len=6)
  ids = g.encode_prompt("the cat") + [g.vocab.index[t] for t in text.split()]
  h, _, _ = lm.hidden_states(g.cfg, g.params, jnp.asarray([ids]), jnp.asarray([len(ids)]),
                             lm.init_carry(g.cfg, 1))
  argmax = np.asarray(jnp.argmax(lm.log_probs(g.cfg, g.params, h[:, 0]), -1))
  # Each generated token is the argmax after the prompt and the tokens before it; the
  # last prediction is <eos> unless max_len cut the line.
  n = len(text.split())
  assert argmax[2:2 + n].tolist() == ids[3:3 + n]
  if n < 5:
    assert argmax[2 + n] == g.vocab.eos_id
  assert g.generate(["the cat"], method="beam", beam=1, max_len=6) == [[text]]


def test_sampling_is_reproducible_and_varies_with_the_seed(generator):
  a = generator.generate(["the"], method="sample", num_samples=4, seed=1, max_len=8)
  assert a == generator.generate(["the"], method="sample", num_samples=4, seed=1, max_len=8)
  assert len(a[0]) == 4 and len(set(a[0])) > 1
  assert a != generator.generate(["the"], method="sample", num_samples=4, seed=2, max_len=8)


def test_generate_cli_reads_stdin_and_names_unknown_words(reference):
  import subprocess
  import sys
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-m", "seq2seq_jax.generate",
                        f"--workdir={reference[0]}", "--max-len=5", "--beam=3"],
                       input="the cat\nthe zebra sees\n".encode(), capture_output=True,
                       cwd=REPO, env=env, timeout=300)
  assert out.returncode == 0, out.stderr.decode()[-2000:]
  lines = out.stdout.decode().splitlines()
  assert [l.split(" | ")[0] for l in lines] == ["the cat", "the zebra sees"]
  assert "prompt 2: 1 token(s) not in the vocabulary, read as <unk>: 'zebra'" in \
      out.stderr.decode()
  bad = subprocess.run([sys.executable, "-m", "seq2seq_jax.generate",
                        f"--workdir={reference[0]}", "--max-len=0", "--prompt=the"],
                       capture_output=True, cwd=REPO, env=env, timeout=300)
  assert bad.returncode == 2 and "--max-len must be >= 1" in bad.stderr.decode()
  assert len(bad.stderr.decode().strip().splitlines()) == 2  # the error and the hint

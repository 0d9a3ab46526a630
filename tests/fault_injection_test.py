"""Fault injection: a run killed at every phase, and every kind of checkpoint file corrupted.

Each case either resumes to the uninterrupted run's result -- final_metrics.json,
metrics.jsonl line for line, the steps and parameters in checkpoints/ and best/ -- or goes
on with a one-line reason where that is impossible (the only copy of the best checkpoint
is unreadable), and nothing already saved is lost: an unreadable directory is set aside,
never deleted. The counts of faults injected and survived are printed at the end
(``pytest -s``, or see the last test's output).

Run: the long-lag task at tiny size (20 steps, 5 per compiled call; evaluations and
checkpoints every 5 steps, 2 kept; the best steps are 5 and then 10, so best/ is written
twice and replaced once, and the final scores restore best/10 after checkpoints/10 is
gone). Programs are compiled once per session into a temporary persistent cache, so a
case costs about two seconds.

Kills are simulated in-process: the patched function raises `Killed`, a BaseException
that no ``except Exception`` of the trainer, orbax or grain catches, at the named phase.
On disk that leaves what a SIGKILL there leaves (an orbax temporary directory, a half
deleted step directory, log lines past the last checkpoint); trainer_test kills a real
process during the best/ write.
"""
import collections
import contextlib
import gc
import json
import os
import shutil
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from orbax.checkpoint._src.path import atomicity, deleter

from conftest import REPO
from seq2seq_jax import checkpointer as checkpointer_lib
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import experiment, steps, trainer
from seq2seq_jax.metrics_writer import MetricsWriter
from seq2seq_jax.tasks import long_lag

COUNTS = collections.Counter()  # faults injected / survived, over the cases that ran

# A simulated kill inside orbax's event loop leaves callbacks to a closed loop and
# coroutines never awaited, which Python reports when it collects them: test noise.
pytestmark = [pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
              pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")]


@contextlib.contextmanager
def no_tensorstore_dumps():
  """Fails if a failed read's leftover coroutines reach Python's unraisable hook (stderr,
  outside pytest) with TensorStore's spec, dozens of lines per array; the Checkpointer
  sends those to the debug log."""
  dumps, previous = [], sys.unraisablehook

  def hook(unraisable):
    if "TensorStore" in str(unraisable.exc_value):
      dumps.append(str(unraisable.exc_value)[:200])
    else:
      previous(unraisable)
  sys.unraisablehook = hook
  try:
    yield
    gc.collect()
  finally:
    sys.unraisablehook = previous
  assert not dumps, dumps


class Killed(BaseException):
  """A simulated SIGKILL."""


def config():
  h = experiment.load_experiment(os.path.join(REPO, "experiments", "hochreiter1997"))
  c = h.get_config("size=tiny,variant=adding_T100_lstm")
  c.optimizer.learning_rate, c.optimizer.warmup_steps = 0.03, 2  # best at 5, then at 10
  c.eval_every_steps = c.checkpoint_every_steps = 5
  c.keep_checkpoints, c.final_checkpoint, c.progress_bar = 2, "best", False
  return c


@pytest.fixture(scope="module", autouse=True)
def compilation_cache():
  """The session's persistent compilation cache (conftest) stores every program of this
  module's runs, however fast it compiled: each case recompiles the same few."""
  name = "jax_persistent_cache_min_compile_time_secs"
  old = getattr(jax.config, name)
  jax.config.update(name, 0.0)
  yield
  jax.config.update(name, old)


def step_dirs(workdir, name):
  return sorted((e for e in os.listdir(os.path.join(workdir, name)) if e.isdigit()), key=int)


def snapshot(workdir):
  """Everything a case must reproduce."""
  log = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  final = json.load(open(os.path.join(workdir, "final_metrics.json")))
  dirs = {name: step_dirs(workdir, name) for name in ("checkpoints", "best")}
  params = {(name, s): ckpt_lib.restore_for_inference(os.path.join(workdir, name), int(s))[0]
            for name, steps_ in dirs.items() for s in steps_}
  return {"final": final, "log": log, "dirs": dirs, "params": params}


def assert_same_run(workdir, ref):
  got = snapshot(workdir)
  assert got["final"] == ref["final"]
  assert got["log"] == ref["log"]
  assert got["dirs"] == ref["dirs"]
  for key, params in ref["params"].items():
    jax.tree.map(np.testing.assert_array_equal, got["params"][key], params)
  assert not [d for _, ds, _ in os.walk(workdir) for d in ds if checkpointer_lib.TMP_MARK in d]


def set_aside(workdir):
  return sorted(f"{name}/{e}" for name in ("checkpoints", "best")
                for e in os.listdir(os.path.join(workdir, name)) if ".corrupt-" in e)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("reference") / "run")
  trainer.train_and_evaluate(config(), workdir)
  ref = snapshot(workdir)
  assert ref["dirs"] == {"checkpoints": ["15", "20"], "best": ["10"]}
  assert ref["final"]["checkpoint"] == "best (step 10)"
  return workdir, ref


# -----------------------------------------------------------------------------
# Kill points: each patches one phase to raise Killed at its `where` occurrence.
# -----------------------------------------------------------------------------
def kill_train_step(mp, call_no):
  """After compiled call `call_no` ran (its input state is donated, so gone)."""
  make_call, calls = steps.make_call, iter(range(1, 1000))

  def patched(*a, **k):
    fn = make_call(*a, **k)

    def call(*args):
      out = fn(*args)
      if next(calls) == call_no:
        raise Killed
      return out
    return call
  mp.setattr(steps, "make_call", patched)


def kill_after_record(mp, step, split):
  """Right after metrics.jsonl got the record (`step`, `split`)."""
  write = MetricsWriter.write

  def patched(self, s, sp, metrics):
    write(self, s, sp, metrics)
    if (s, sp) == (step, split):
      raise Killed
  mp.setattr(MetricsWriter, "write", patched)


def kill_in_evaluate(mp, at_step, at_final=False):
  evaluate = long_lag.LongLag.evaluate

  def patched(self, run, params, split, *, step, final=False):
    if (step, final) == (at_step, at_final):
      raise Killed
    return evaluate(self, run, params, split, step=step, final=final)
  mp.setattr(long_lag.LongLag, "evaluate", patched)


def kill_in_final_metrics(mp):
  def patched(*a, **k):
    raise Killed
  mp.setattr(long_lag.LongLag, "final_metrics", patched)


def kill_at_commit(mp, where, item=None):
  """When orbax is about to commit (rename from its temporary name) step directory `where`
  (e.g. "best/10"), complete; with `item`, that item of it: in the middle of the write, the
  items written but only some committed (and no write in flight any more)."""
  finalize = atomicity.AtomicRenameTemporaryPath.finalize
  suffix = f"/{where}" + (f"{checkpointer_lib.TMP_MARK}/{item}" if item else "")

  async def patched(self, *a, **k):
    if str(self.get_final()).endswith(suffix):
      raise Killed
    return await finalize(self, *a, **k)
  mp.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", patched)


def kill_in_delete(mp, where):
  """Halfway through deleting the step directory `where`."""
  delete = deleter.PathDeleter.delete

  def patched(self, path, *a, **k):
    if str(path).endswith(f"/{where}"):
      shutil.rmtree(os.path.join(str(path), "state"), ignore_errors=True)
      if os.path.exists(os.path.join(str(path), "_CHECKPOINT_METADATA")):
        os.remove(os.path.join(str(path), "_CHECKPOINT_METADATA"))
      raise Killed
    return delete(self, path, *a, **k)
  mp.setattr(deleter.PathDeleter, "delete", patched)


def kill_in_copy(mp):
  """Halfway through re-creating best/ from checkpoints/ (resume)."""
  copytree = shutil.copytree

  def patched(src, dst, *a, **k):
    if not str(dst).endswith(f"{checkpointer_lib.TMP_MARK}-copy"):  # also copytree's own recursion
      return copytree(src, dst, *a, **k)
    copytree(os.path.join(src, "state"), os.path.join(dst, "state"))
    raise Killed
  mp.setattr(shutil, "copytree", patched)


def kill_in_truncate(mp):
  """With the truncated log written beside metrics.jsonl, before it replaces it."""
  replace = os.replace

  def patched(src, dst, *a, **k):
    if str(dst).endswith("metrics.jsonl"):
      raise Killed
    return replace(src, dst, *a, **k)
  mp.setattr(os, "replace", patched)


KILLS = {  # name: the faults of one case, each followed by a restart
    "train step": [lambda mp: kill_train_step(mp, 3)],
    "train record written": [lambda mp: kill_after_record(mp, 15, "train")],
    "evaluation": [lambda mp: kill_in_evaluate(mp, 15)],
    "evaluation record written": [lambda mp: kill_after_record(mp, 10, "test")],
    "checkpoints/ write": [lambda mp: kill_at_commit(mp, "checkpoints/10", "state")],
    "checkpoints/ commit": [lambda mp: kill_at_commit(mp, "checkpoints/10")],
    "checkpoints/ delete": [lambda mp: kill_in_delete(mp, "checkpoints/5")],
    "best/ write": [lambda mp: kill_at_commit(mp, "best/10", "state")],
    "best/ commit": [lambda mp: kill_at_commit(mp, "best/10")],
    "best/ delete": [lambda mp: kill_in_delete(mp, "best/5")],
    "final evaluation": [lambda mp: kill_in_evaluate(mp, 20, at_final=True)],
    "final metrics": [kill_in_final_metrics],
    "resume: log truncation": [lambda mp: kill_train_step(mp, 3), kill_in_truncate],
    "resume: best/ re-creation": [lambda mp: kill_at_commit(mp, "best/10", "state"),
                                  kill_in_copy],
    "resume: stale best/ removal": [lambda mp: kill_in_delete(mp, "best/5"),
                                    lambda mp: kill_in_delete(mp, "best/5")],
}


@pytest.mark.parametrize("name", list(KILLS))
def test_killed_run_resumes_to_the_uninterrupted_result(name, reference, tmp_path):
  _, ref = reference
  workdir = str(tmp_path / "run")
  for fault in KILLS[name]:
    with pytest.MonkeyPatch.context() as mp:
      fault(mp)
      with pytest.raises(Killed):
        trainer.train_and_evaluate(config(), workdir)
    COUNTS["injected"] += 1
  trainer.train_and_evaluate(config(), workdir)
  assert_same_run(workdir, ref)
  assert not set_aside(workdir)  # a kill corrupts nothing
  COUNTS["survived"] += len(KILLS[name])


# -----------------------------------------------------------------------------
# Corruption: every kind of file of a checkpoint, truncated to half its size.
# -----------------------------------------------------------------------------
FILE_KINDS = {  # kind: path inside a step directory ("*": the file there)
    "step metadata": "_CHECKPOINT_METADATA",
    "commit marker": "commit_success.txt",
    "state metadata": "state/_METADATA",
    "state sharding": "state/_sharding",
    "array metadata": "state/array_metadatas/process_0",
    "state manifest": "state/manifest.ocdbt",
    "process manifest": "state/ocdbt.process_0/manifest.ocdbt",
    "array chunks": "state/ocdbt.process_0/d/*",
    "root chunks": "state/d/*",
    "meta": "meta/metadata",
    "assets": "assets/metadata",
    "trainer item": "trainer/metadata",
}


def corrupt(step_dir, pattern):
  """Truncates the file to half its size ("dir/*": every file there -- OCDBT may leave a
  data file nothing refers to, whose truncation would go unnoticed)."""
  path = os.path.join(step_dir, pattern)
  paths = ([os.path.join(os.path.dirname(path), f) for f in os.listdir(os.path.dirname(path))]
           if path.endswith("*") else [path])
  for p in paths:
    with open(p, "r+b") as f:
      f.truncate(os.path.getsize(p) // 2)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
  """A run killed after step 15: checkpoints/{10,15}, best/10."""
  workdir = str(tmp_path_factory.mktemp("interrupted") / "run")
  with pytest.MonkeyPatch.context() as mp:
    kill_train_step(mp, 4)
    with pytest.raises(Killed):
      trainer.train_and_evaluate(config(), workdir)
  assert (step_dirs(workdir, "checkpoints"), step_dirs(workdir, "best")) == (["10", "15"], ["10"])
  return workdir


@pytest.mark.parametrize("where", ["checkpoints/15", "best/10"])
@pytest.mark.parametrize("kind", list(FILE_KINDS))
def test_corrupt_file_resumes_to_the_uninterrupted_result(kind, where, interrupted, reference,
                                                          tmp_path, caplog):
  _, ref = reference
  workdir = str(tmp_path / "run")
  shutil.copytree(interrupted, workdir)
  corrupt(os.path.join(workdir, where), FILE_KINDS[kind])
  COUNTS["injected"] += 1
  with caplog.at_level("WARNING"), no_tensorstore_dumps():
    trainer.train_and_evaluate(config(), workdir)
  assert_same_run(workdir, ref)
  aside = set_aside(workdir)
  assert len(aside) <= 1 and all(a.startswith(f"{where}.corrupt-") for a in aside), aside
  COUNTS["set aside"] += len(aside)
  warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert all("\n" not in w for w in warnings), warnings
  if aside:  # named in a one-line warning; the rest of the story too
    assert any(where in w and "moved it to" in w for w in warnings), warnings
  COUNTS["survived"] += 1


def test_every_checkpoint_unreadable_restarts_from_step_0_saying_so(interrupted, reference,
                                                                    tmp_path, caplog):
  _, ref = reference
  workdir = str(tmp_path / "run")
  shutil.copytree(interrupted, workdir)
  for where in ("checkpoints/10", "checkpoints/15", "best/10"):
    corrupt(os.path.join(workdir, where), FILE_KINDS["trainer item"])
  COUNTS["injected"] += 3
  with caplog.at_level("WARNING"), no_tensorstore_dumps():
    trainer.train_and_evaluate(config(), workdir)
  assert_same_run(workdir, ref)  # a fresh start is the uninterrupted run
  assert len(set_aside(workdir)) == 3
  summary = [r.getMessage() for r in caplog.records if "No readable checkpoint" in r.getMessage()]
  assert len(summary) == 1 and all(w in summary[0] for w in ("checkpoints/15.corrupt-",
                                                               "checkpoints/10.corrupt-",
                                                               "best/10.corrupt-", "step 0"))
  COUNTS["survived"] += 3


def test_unreadable_checkpoints_resume_from_best(interrupted, reference, tmp_path):
  _, ref = reference
  workdir = str(tmp_path / "run")
  shutil.copytree(interrupted, workdir)
  for where in ("checkpoints/10", "checkpoints/15"):
    corrupt(os.path.join(workdir, where), FILE_KINDS["array chunks"])
  COUNTS["injected"] += 2
  with no_tensorstore_dumps():
    trainer.train_and_evaluate(config(), workdir)
  assert_same_run(workdir, ref)  # resumed at step 10 from best/10: the same items
  COUNTS["survived"] += 2


def test_only_copy_of_the_best_unreadable_falls_back_to_the_last_state(reference, tmp_path,
                                                                       caplog):
  ref_dir, ref = reference
  workdir = str(tmp_path / "run")
  shutil.copytree(ref_dir, workdir)
  os.remove(os.path.join(workdir, "final_metrics.json"))  # a rerun of the final scores
  corrupt(os.path.join(workdir, "best/10"), FILE_KINDS["array chunks"])
  COUNTS["injected"] += 1
  with caplog.at_level("WARNING"), no_tensorstore_dumps():
    final = trainer.train_and_evaluate(config(), workdir)
  assert final["checkpoint"] == "last (step 20); the best (step 10) is lost"
  assert set_aside(workdir)[0].startswith("best/10.corrupt-")
  lost = [r.getMessage() for r in caplog.records if "is lost" in r.getMessage()]
  assert len(lost) == 1 and "\n" not in lost[0]
  log = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  assert [r for r in log if not r["split"].startswith("final")] == [
      r for r in ref["log"] if not r["split"].startswith("final")]
  COUNTS["survived"] += 1  # with a stated fallback


def test_zz_fault_counts(capsys):
  with capsys.disabled():
    print(f"\nfault injection: {COUNTS['injected']} faults injected, {COUNTS['survived']} "
          f"survived ({COUNTS['set aside']} corrupt files found and their checkpoint set aside)")
  assert COUNTS["injected"] == COUNTS["survived"]

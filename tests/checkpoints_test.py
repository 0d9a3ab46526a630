"""Checkpoints and the log across a resume: the partial log window, the truncation of
metrics.jsonl, the Checkpointer's recovery of the data item and of a newest state found only
in best/, and mismatch messages that name only the differing fields. (The fault matrix,
tests/fault_injection_test.py, kills and corrupts whole runs.)"""
import json
import os
import sys
import types

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest

# compilation_cache: the autouse fixture, for this module's runs too.
from fault_injection_test import Killed, compilation_cache, config, kill_train_step  # noqa: F401
from seq2seq_jax import checkpointer as checkpointer_lib
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import stops, train_log, trainer

# The simulated kill inside orbax's event loop leaves callbacks to a closed loop.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def read_log(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_the_log_after_a_resume_equals_the_uninterrupted_log(tmp_path):
  """A checkpoint inside a log window (steps 6-10 logged at 10, checkpoint at 5): the first
  record after the resume averages all ten steps, as the uninterrupted run's does."""
  def unaligned():
    c = config()
    c.log_every_steps, c.eval_every_steps = 10, 10
    return c
  ref_dir, workdir = str(tmp_path / "ref"), str(tmp_path / "run")
  trainer.train_and_evaluate(unaligned(), ref_dir)
  with pytest.MonkeyPatch.context() as mp:
    kill_train_step(mp, 2)  # steps 6-10, after checkpoints/5
    with pytest.raises(Killed):
      trainer.train_and_evaluate(unaligned(), workdir)
  trainer.train_and_evaluate(unaligned(), workdir)
  assert [r["step"] for r in read_log(workdir) if r["split"] == "train"] == [10, 20]
  assert read_log(workdir) == read_log(ref_dir)


def test_truncate_keeps_the_records_up_to_the_step_without_final_scores(tmp_path):
  path = str(tmp_path / "metrics.jsonl")
  records = [{"step": 5, "split": "train"}, {"step": 5, "split": "test"},
             {"step": 10, "split": "train"}, {"step": 5, "split": "final_test"}]
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
    f.write('{"step": 15, "spl')  # cut short by a kill
  train_log.truncate(path, 5)
  assert read_log(str(tmp_path)) == records[:2]
  train_log.truncate(path, 0)
  assert read_log(str(tmp_path)) == []
  train_log.truncate(str(tmp_path / "absent.jsonl"), 3)  # a fresh run: nothing to do
  assert not os.path.exists(tmp_path / "absent.jsonl")


def test_log_window_state_round_trips_exactly():
  w = train_log.LogWindow()
  rng = np.random.RandomState(0)
  for _ in range(3):
    w.add({"nll": rng.rand(2, 3).astype(np.float32), "weight": np.ones((2, 3), np.float32),
           "grad_norm": rng.rand(2, 3).astype(np.float32)})
  restored = train_log.LogWindow(json.loads(json.dumps(w.state())))
  assert restored.n == w.n == 6
  np.testing.assert_array_equal(restored.sums["nll"], w.sums["nll"])
  np.testing.assert_array_equal(restored.grad_norm, w.grad_norm)
  assert train_log.LogWindow({}).sums is None and train_log.LogWindow().state() == {}


# -----------------------------------------------------------------------------
# The Checkpointer on a small state and a real grain iterator
# -----------------------------------------------------------------------------
META = {"task": "t", "model": {"hidden_dim": 4}, "assets_sha256": {}}


def iterator():
  return iter(grain.MapDataset.range(100).to_iter_dataset())


def save_steps(workdir, steps, best=()):
  """Checkpoints at `steps`, each with the iterator `step` elements in."""
  ckpt = checkpointer_lib.Checkpointer(workdir, keep=3)
  it, consumed = iterator(), 0
  for step in steps:
    for _ in range(step - consumed):
      next(it)
    consumed = step
    # Several arrays of step + noise in [0, 1): incompressible, so OCDBT keeps them in data
    # files, not inline, and a failed read leaves the others' coroutines behind.
    rng = np.random.RandomState(step)
    state = {"params": {f"w{i}": jnp.asarray(step + rng.rand(1024).astype(np.float32))
                        for i in range(4)}}
    ckpt.save(step, state, it, META, [], trainer={"history": [step]}, best=step in best)
  ckpt.close()


ABSTRACT = {"params": {f"w{i}": jax.ShapeDtypeStruct((1024,), jnp.float32) for i in range(4)}}


def test_an_unreadable_data_item_is_set_aside_and_leaves_the_iterator_alone(tmp_path, caplog):
  workdir = str(tmp_path)
  save_steps(workdir, [2, 5])
  with open(os.path.join(workdir, "checkpoints", "5", "data", "process_0-of-1.json"), "w") as f:
    f.write("{")
  it = iterator()
  with caplog.at_level("WARNING"):
    restored = checkpointer_lib.Checkpointer(workdir).restore_latest(ABSTRACT, it, META)
  assert restored.step == 2 and restored.where == "checkpoints/2"
  assert int(restored.state["params"]["w0"][0]) == 2 and restored.trainer == {"history": [2]}
  assert next(it) == 2  # the position saved at step 2, not step 5's
  assert [os.path.basename(p).split(".")[0] for p in restored.set_aside] == ["5"]
  (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert "checkpoints/5 (JSONDecodeError" in warning and "\n" not in warning


def test_a_truncated_chunk_is_one_warning_line_naming_the_root_cause(tmp_path, caplog):
  workdir = str(tmp_path)
  save_steps(workdir, [2, 5])
  chunks = os.path.join(workdir, "checkpoints", "5", "state", "ocdbt.process_0", "d")
  for f in os.listdir(chunks):
    with open(os.path.join(chunks, f), "r+b") as fh:
      fh.truncate(10)
  with caplog.at_level("WARNING"):
    restored = checkpointer_lib.Checkpointer(workdir).restore_latest(ABSTRACT, iterator(), META)
  assert restored.step == 2
  (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  # TensorStore's own words, not orbax's wrapper with the array's whole spec.
  assert "\n" not in warning and len(warning) < 600, warning
  assert "checkpoints/5 (ValueError: OUT_OF_RANGE" in warning and "is not valid" in warning


def test_late_reports_of_a_failed_read_stay_off_stderr_until_close(tmp_path, monkeypatch):
  """Coroutines of a failed read that finish on orbax's threads after it raised reach the
  unraisable hook later: TensorStore's reports go to the debug log until close; others,
  and everything after close, reach the hook that was there before."""
  workdir = str(tmp_path)
  save_steps(workdir, [2, 5])
  with open(os.path.join(workdir, "checkpoints", "5", "meta", "metadata"), "w") as f:
    f.write("{")
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  ckpt = checkpointer_lib.Checkpointer(workdir)
  assert ckpt.restore_latest(ABSTRACT, iterator(), META).step == 2
  report = lambda text: sys.unraisablehook(types.SimpleNamespace(
      exc_value=ValueError(text), err_msg=None, exc_type=ValueError, exc_traceback=None,
      object=None))
  report("Encountered error while reading array: spec of TensorStore({...})")
  report("something else")
  assert [str(u.exc_value) for u in seen] == ["something else"]
  ckpt.close()
  assert sys.unraisablehook == seen.append
  report("TensorStore({...}) after close")
  assert len(seen) == 2


def test_a_newest_state_found_only_in_best_is_copied_back_to_checkpoints(tmp_path):
  workdir = str(tmp_path)
  save_steps(workdir, [2, 5], best=(5,))
  with open(os.path.join(workdir, "checkpoints", "5", "trainer", "metadata"), "w") as f:
    f.write("garbage")
  ckpt = checkpointer_lib.Checkpointer(workdir)
  restored = ckpt.restore_latest(ABSTRACT, iterator(), META)
  assert restored.where == "best/5"  # newer than checkpoints/2
  assert sorted(ckpt.last.all_steps()) == [2, 5]  # "last" is the restored state again
  params = ckpt_lib.restore_for_inference(os.path.join(workdir, "checkpoints"))[0]
  assert int(params["w0"][0]) == 5


def test_reconcile_best_removes_stale_steps_and_recreates_the_best(tmp_path):
  workdir = str(tmp_path)
  save_steps(workdir, [2, 5], best=(2, 5))
  ckpt = checkpointer_lib.Checkpointer(workdir)
  ckpt.reconcile_best(2, ABSTRACT)  # a history restored from step 2 says 2 is best
  assert ckpt.best.all_steps() == [2]
  assert os.listdir(os.path.join(workdir, "best")) == ["2"]


def test_mismatch_names_only_the_differing_fields():
  model = {"cell": "lstm", "hidden_dim": 16, "src_vocab_size": 64, "tgt_vocab_size": 64}
  with pytest.raises(ckpt_lib.CheckpointMismatchError) as e:
    ckpt_lib.check_compatible({"model": model}, {"model": dict(model, src_vocab_size=32)},
                              where="checkpoint checkpoints/4")
  message = str(e.value)
  assert "src_vocab_size: checkpoint=64 vs run=32" in message
  assert "hidden_dim" not in message and "tgt_vocab_size" not in message and "{" not in message
  digests = {"src.vocab": "a" * 64, "tgt.vocab": "b" * 64}
  with pytest.raises(ckpt_lib.CheckpointMismatchError) as e:
    ckpt_lib.check_compatible({"assets_sha256": digests},
                              {"assets_sha256": dict(digests, **{"src.vocab": "c" * 64})},
                              where="checkpoint checkpoints/4")
  message = str(e.value)
  assert "src.vocab: checkpoint=sha256:aaaaaaaaaaaa vs run=sha256:cccccccccccc" in message
  assert "tgt.vocab" not in message and "a" * 13 not in message


def test_stop_remedies_are_only_those_not_in_effect():
  c = config()  # clip_norm 1.0, float32
  text = stops.remedy(c, None)
  assert text.startswith("No checkpoint has been written yet.")
  assert "clip_norm" not in text and "float32" not in text and "learning_rate (now 0.03)" in text
  c.optimizer.clip_norm = 0.0
  c.model.compute_dtype = "bfloat16"
  text = stops.remedy(c, "/wd/checkpoints/4", diverged=True)
  assert "/wd/checkpoints/4" in text and "fresh --workdir" in text
  assert "optimizer.clip_norm" in text and "compute_dtype='float32'" in text

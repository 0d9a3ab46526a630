"""The long-lag task on the one trainer: vmapped seeds equal solo runs, exact resume,
refused configs."""
import json
import os

import jax
import numpy as np
import pytest

from conftest import REPO
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import experiment, trainer


def _config(**kw):
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "hochreiter1997"))
  c = module.get_config("size=tiny,variant=adding_T100_lstm")
  c.num_train_steps, c.log_every_steps, c.eval_every_steps = 12, 4, 4
  c.steps_per_call = 4
  c.checkpoint_every_steps = 4
  for k, v in kw.items():
    c[k] = v
  return c


def test_vmapped_seeds_equal_solo_runs(tmp_path):
  both = trainer.train_and_evaluate(_config(num_seeds=2, seed=5), str(tmp_path / "b"))
  for i in range(2):
    solo = trainer.train_and_evaluate(_config(num_seeds=1, seed=5 + i, data_seed=5),
                                              str(tmp_path / f"s{i}"))
    assert solo["seeds"] == [5 + i]
    # vmap batches the per-seed matmuls; on CPU XLA computes them the same way, but
    # allow float32 rounding differences.
    np.testing.assert_allclose(solo["test_loss"][0], both["test_loss"][i], rtol=1e-5)
    assert solo["num_wrong"][0] == both["num_wrong"][i]
    np.testing.assert_allclose(solo["grad_norms"]["final"][0], both["grad_norms"]["final"][i],
                               rtol=1e-4)


def test_parameters_of_vmapped_and_solo_steps_agree(tmp_path):
  trainer.train_and_evaluate(_config(num_seeds=2, seed=1), str(tmp_path / "both"))
  trainer.train_and_evaluate(_config(num_seeds=1, seed=2, data_seed=1), str(tmp_path / "solo"))
  both, solo = (ckpt_lib.restore_for_inference(str(tmp_path / d / "checkpoints"))[0]
                for d in ("both", "solo"))
  for a, b in zip(jax.tree.leaves(solo), jax.tree.leaves(both)):
    np.testing.assert_allclose(a, b[1], rtol=1e-5, atol=1e-7)


def test_resume_is_exact(tmp_path):
  full = trainer.train_and_evaluate(_config(), str(tmp_path / "full"))
  wd = str(tmp_path / "split")
  trainer.train_and_evaluate(_config(num_train_steps=8), wd)
  resumed = trainer.train_and_evaluate(_config(), wd)
  assert resumed["test_loss"] == full["test_loss"]
  assert resumed["grad_norms"]["final"] == full["grad_norms"]["final"]
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    steps = [json.loads(l)["step"] for l in f if '"train"' in l]
  assert steps == [4, 8, 12]


def test_resume_with_another_config_is_refused(tmp_path):
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(_config(num_train_steps=4), wd)
  c = _config()
  c.model.hidden_dim = 12
  with pytest.raises(ckpt_lib.CheckpointMismatchError, match="hidden_dim: checkpoint=8 vs run=12"):
    trainer.train_and_evaluate(c, wd)


def test_bad_config(tmp_path):
  with pytest.raises(ValueError, match="multiple of steps_per_call=4"):
    trainer.train_and_evaluate(_config(eval_every_steps=6), str(tmp_path / "unused"))
  c = _config()
  c.long_lag.problem = "parity"
  with pytest.raises(ValueError, match="long_lag.problem"):
    trainer.train_and_evaluate(c, str(tmp_path / "unused"))

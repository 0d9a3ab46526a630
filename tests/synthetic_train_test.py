"""Multi-seed (vmapped) training on the long-lag tasks: equal to solo runs, resumable."""
import json
import os

import jax
import numpy as np
import pytest

from conftest import REPO
from seq2seq_jax import experiment, synthetic_train


def _config(**kw):
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "hochreiter1997"))
  c = module.get_config("size=tiny,variant=adding_T100_lstm")
  c.num_train_steps, c.log_every_steps, c.eval_every_steps = 12, 4, 4
  c.checkpoint_every_steps = 4
  for k, v in kw.items():
    c[k] = v
  return c


def test_vmapped_seeds_equal_solo_runs(tmp_path):
  both = synthetic_train.train_and_evaluate(_config(num_seeds=2, seed=5), str(tmp_path / "b"))
  for i in range(2):
    solo = synthetic_train.train_and_evaluate(_config(num_seeds=1, seed=5 + i, data_seed=5),
                                              str(tmp_path / f"s{i}"))
    assert solo["seeds"] == [5 + i]
    # vmap batches the per-seed matmuls; on CPU XLA computes them the same way, but
    # allow float32 rounding differences.
    np.testing.assert_allclose(solo["test_loss"][0], both["test_loss"][i], rtol=1e-5)
    assert solo["num_wrong"][0] == both["num_wrong"][i]
    np.testing.assert_allclose(solo["grad_norms"]["final"][0], both["grad_norms"]["final"][i],
                               rtol=1e-4)


def test_parameters_of_vmapped_and_solo_steps_agree():
  from seq2seq_jax import train as train_lib
  c2 = _config(num_seeds=2, seed=1)
  mcfg = synthetic_train.model_config(c2)
  tx, _ = train_lib.make_optimizer(c2.optimizer, c2.num_train_steps)
  s2, _ = synthetic_train.make_train_chunk(c2, mcfg, tx, 8)(
      synthetic_train.init_state(c2, mcfg, tx))
  c1 = _config(num_seeds=1, seed=2, data_seed=1)
  s1, _ = synthetic_train.make_train_chunk(c1, mcfg, tx, 8)(
      synthetic_train.init_state(c1, mcfg, tx))
  for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
    np.testing.assert_allclose(a[0], b[1], rtol=1e-5, atol=1e-7)


def test_resume_is_exact(tmp_path):
  full = synthetic_train.train_and_evaluate(_config(), str(tmp_path / "full"))
  wd = str(tmp_path / "split")
  synthetic_train.train_and_evaluate(_config(num_train_steps=8), wd)
  resumed = synthetic_train.train_and_evaluate(_config(), wd)
  assert resumed["test_loss"] == full["test_loss"]
  assert resumed["grad_norms"]["final"] == full["grad_norms"]["final"]
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    steps = [json.loads(l)["step"] for l in f if '"train"' in l]
  assert steps == [4, 8, 12]


def test_resume_with_another_config_is_refused(tmp_path):
  wd = str(tmp_path / "run")
  synthetic_train.train_and_evaluate(_config(num_train_steps=4), wd)
  c = _config()
  c.model.hidden_dim = 12
  with pytest.raises(ValueError, match="'model' differs"):
    synthetic_train.train_and_evaluate(c, wd)


def test_bad_config():
  with pytest.raises(ValueError, match="multiple of log_every_steps"):
    synthetic_train.train_and_evaluate(_config(eval_every_steps=6), "/tmp/unused")
  c = _config()
  c.synthetic.task = "parity"
  with pytest.raises(ValueError, match="synthetic.task"):
    synthetic_train.train_and_evaluate(c, "/tmp/unused")

"""Every experiment in experiments/ runs at a tiny size, and check.py reads its results."""
import importlib.util
import json
import os

import jax
import pytest

from conftest import REPO
from seq2seq_jax import experiment, model as model_lib

EXPERIMENTS = sorted(d for d in os.listdir(os.path.join(REPO, "experiments"))
                     if os.path.isfile(os.path.join(REPO, "experiments", d, "config.py")))


def _check_module():
  spec = importlib.util.spec_from_file_location(
      "experiments_check", os.path.join(REPO, "experiments", "check.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_all_papers_are_there():
  assert set(EXPERIMENTS) >= {"hochreiter1997", "copy_reverse", "sutskever2014",
                              "bahdanau2015", "luong2015", "cho2014_britz2017"}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_variant_config_is_valid_at_every_size(name):
  module = experiment.load_experiment(os.path.join(REPO, "experiments", name))
  for size in experiment.SIZES:
    for v in module.VARIANTS:
      c = experiment.variant_config(module, size, v)
      if c.get("task") == "synthetic":
        continue
      model_lib.ModelConfig.from_dict(dict(c.model.to_dict(), src_vocab_size=100,
                                           tgt_vocab_size=100))


def test_equal_parameter_counts_in_the_cell_comparison():
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "cho2014_britz2017"))
  counts = []
  for v in module.VARIANTS:
    c = experiment.variant_config(module, "cpu", v)
    cfg = model_lib.ModelConfig.from_dict(dict(c.model.to_dict(), src_vocab_size=2000,
                                               tgt_vocab_size=2000))
    p = jax.eval_shape(model_lib.Seq2Seq(cfg).init, jax.random.key(0))
    counts.append(sum(x.size for x in jax.tree.leaves(p)))
  assert max(counts) / min(counts) < 1.01, counts


def test_unknown_variant_and_size():
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "sutskever2014"))
  with pytest.raises(ValueError, match="unknown variant"):
    experiment.variant_config(module, "cpu", "backwards")
  with pytest.raises(ValueError, match="size must be"):
    experiment.variant_config(module, "huge", "forward")
  with pytest.raises(FileNotFoundError, match="not an experiment folder"):
    experiment.load_experiment(REPO)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_at_tiny_size_and_check_reads_it(name, tmp_path):
  exp_dir = os.path.join(REPO, "experiments", name)
  results_dir = tmp_path / name / "results"
  res = experiment.run(exp_dir, "tiny", str(tmp_path / "work"), results_dir=str(results_dir))
  module = experiment.load_experiment(exp_dir)
  assert set(res["variants"]) == set(module.VARIANTS)
  with open(results_dir / "tiny.json") as f:
    assert json.load(f)["experiment"] == name
  for analysis in getattr(module, "ANALYSES", ()):
    assert res[analysis]
  rows = [r for r in _check_module().check("tiny", str(tmp_path)) if r["experiment"] == name]
  assert rows, f"check.py has no claims for {name}"
  # At tiny size a claim may hold or not, but every one must be computable.
  assert all(r["holds"] in ("yes", "NO") for r in rows), rows
  # A second run reuses the finished variants instead of training again.
  again = experiment.run(exp_dir, "tiny", str(tmp_path / "work"), results_dir=str(results_dir))
  assert again["variants"].keys() == res["variants"].keys()

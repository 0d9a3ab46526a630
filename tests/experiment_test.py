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
  assert all(r["holds"].split(" ")[0] in ("yes", "NO") for r in rows), rows
  # A second run reuses the finished variants instead of training again.
  again = experiment.run(exp_dir, "tiny", str(tmp_path / "work"), results_dir=str(results_dir))
  assert again["variants"].keys() == res["variants"].keys()


def test_check_writes_its_table_between_the_markers_only(tmp_path):
  check = _check_module()
  readme = tmp_path / "README.md"
  readme.write_text(f"# head\n{check.BEGIN}\nold table\n{check.END}\n## tail\n")
  check.write_readme("| new | table |", str(readme))
  text = readme.read_text()
  assert "old table" not in text and "| new | table |" in text
  assert text.startswith("# head\n") and text.endswith("## tail\n")
  readme.write_text("# no markers\n")
  with pytest.raises(ValueError, match="no <!-- check.py:begin -->"):
    check.write_readme("x", str(readme))
  assert readme.read_text() == "# no markers\n"  # nothing lost on bad input


def test_the_committed_results_still_satisfy_their_claims():
  """The README numbers come from results/cpu.json: check.py must read every committed
  result file, and the claims documented as holding must still hold."""
  rows = _check_module().check("cpu")
  for r in rows:
    assert r["holds"].split(" ")[0] in ("yes", "NO", "missing"), r
  # A committed result file holds only the folder's variants, and once it holds all of
  # them every claim of the folder can be computed. (A slow folder is committed a few
  # variants at a time: its remaining claims are "missing" until then.)
  complete = set()
  for e in EXPERIMENTS:
    path = os.path.join(REPO, "experiments", e, "results", "cpu.json")
    if os.path.exists(path):
      with open(path) as f:
        stored = set(json.load(f)["variants"])
      variants = set(experiment.load_experiment(os.path.join(REPO, "experiments", e)).VARIANTS)
      assert stored <= variants, (e, stored - variants)
      if stored == variants:
        complete.add(e)
  assert not [r for r in rows if r["experiment"] in complete and r["holds"] == "missing"]
  by_claim = {r["claim"]: r["holds"] for r in rows}
  if by_claim["LSTM solves the adding problem, T=100 (wrong outputs of 2560)"] != "missing":
    assert by_claim["LSTM solves the adding problem, T=100 (wrong outputs of 2560)"] == "yes"


def test_a_gap_within_the_seed_spread_is_flagged():
  check = _check_module()
  clear = check._greater([10.0, 10.2], [5.0, 5.1])  # pylint: disable=protected-access
  assert clear and not clear.noisy
  overlap = check._greater([10.0, 12.0], [10.5, 11.0])  # pylint: disable=protected-access
  assert overlap and overlap.noisy
  assert not check._greater([1.0], [2.0])  # pylint: disable=protected-access


def test_summary_table_has_mean_and_std_over_seeds_per_variant():
  seed = lambda b, p: {"test": {"bleu": b, "chrf": 2 * b, "ppl": p}}  # noqa: E731
  res = {"variants": {
      "a": {"step": 30, "wall_seconds": 120.0, "test": {}, "seeds": [seed(1.0, 9.0),
                                                                    seed(3.0, 7.0)]},
      "b": {"step": 30, "test": {"bleu": 5.0, "chrf": 10.0, "ppl": 4.0}}}}
  lines = experiment.summary_markdown(res).splitlines()
  assert lines[0].startswith("| variant | test BLEU")
  assert lines[2] == "| a | 2.00 ± 1.00 | 4.00 ± 2.00 | 8.00 ± 1.00 | 2 | 30 | 2.0 |"
  assert lines[3] == "| b | 5.00 | 10.00 | 4.00 | 1 | 30 | - |"


def test_a_folder_runs_a_few_variants_at_a_time_into_one_result_file(tmp_path):
  """Luong's ten variants take hours: each call adds its variants to results/<size>.json,
  and the earlier calls' entries survive even when their workdirs are gone."""
  exp_dir = os.path.join(REPO, "experiments", "sutskever2014")
  results_dir = tmp_path / "results"
  first = experiment.run(exp_dir, "tiny", str(tmp_path / "w1"), variants=["reversed"],
                         results_dir=str(results_dir))
  second = experiment.run(exp_dir, "tiny", str(tmp_path / "w2"), variants=["forward"],
                          results_dir=str(results_dir))
  with open(results_dir / "tiny.json") as f:
    stored = json.load(f)
  assert list(stored["variants"]) == ["forward", "reversed"]  # the folder's VARIANTS order
  assert stored["variants"]["reversed"] == first["variants"]["reversed"]
  assert stored["variants"]["forward"] == second["variants"]["forward"]
  assert all(v["commit"] == first["commit"] for v in stored["variants"].values())
  assert "| reversed |" in (results_dir / "tiny.md").read_text()
  # A result file of another experiment or size is an error, and is left as it was.
  stored["experiment"] = "bahdanau2015"
  (results_dir / "tiny.json").write_text(json.dumps(stored))
  with pytest.raises(ValueError, match="holds experiment 'bahdanau2015'"):
    experiment.run(exp_dir, "tiny", str(tmp_path / "w2"), variants=["forward"],
                   results_dir=str(results_dir))
  assert json.loads((results_dir / "tiny.json").read_text()) == stored
  (results_dir / "tiny.json").write_text("{not json")
  with pytest.raises(ValueError, match="not a readable result file"):
    experiment.run(exp_dir, "tiny", str(tmp_path / "w2"), variants=["forward"],
                   results_dir=str(results_dir))
  assert (results_dir / "tiny.json").read_text() == "{not json"

"""Every experiment in experiments/ runs at a tiny size, check.py reads its results, and
the committed results are what the READMEs say."""
import importlib.util
import json
import os

import jax
import pytest

from conftest import REPO
from seq2seq_jax import experiment, tasks
from seq2seq_jax.models import seq2one as sequence_model, seq2seq as model_lib
from seq2seq_jax.data import synthetic

EXPERIMENTS = sorted(d for d in os.listdir(os.path.join(REPO, "experiments"))
                     if os.path.isfile(os.path.join(REPO, "experiments", d, "config.py")))

# The one variant of each folder that the tiny end-to-end test trains. Each analysis has
# its own code path in experiment.py, so each is run once by the folder that has it (both
# bleu_by_length folders run it); otherwise the variant is the folder's cheapest. Every
# variant's config is checked by test_every_variant_config_is_valid_at_every_size, and
# every claim is computed on a result file where the other variants are copies of the
# trained one (a folder's variants share one result format). sutskever2014 trains both
# its variants in test_a_folder_runs_a_few_variants_at_a_time_into_one_result_file.
TINY_VARIANT = {
    "hochreiter1997": "adding_T100_lstm",  # grad_norms; the long-lag result format
    "copy_reverse": "copy_no_attention",
    "bahdanau2015": "rnnencdec",           # bleu_by_length
    "luong2015": "base",                   # bleu_by_length
    "cho2014_britz2017": "lstm",           # beam_sweep: the one variant that sweeps
    "zaremba2014": "small",                # the language-model result format
}
FEW_VARIANTS_FOLDER = "sutskever2014"


def _check_module():
  spec = importlib.util.spec_from_file_location(
      "experiments_check", os.path.join(REPO, "experiments", "check.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_all_papers_are_there():
  assert set(EXPERIMENTS) >= {"hochreiter1997", "copy_reverse", "sutskever2014",
                              "bahdanau2015", "luong2015", "cho2014_britz2017"}
  # Every folder is run end to end at tiny size by one of the tests below.
  assert sorted([*TINY_VARIANT, FEW_VARIANTS_FOLDER]) == EXPERIMENTS
  for name, v in TINY_VARIANT.items():
    module = experiment.load_experiment(os.path.join(REPO, "experiments", name))
    assert v in module.VARIANTS, (name, v)


def _long_lag_model(c) -> sequence_model.SequenceModelConfig:
  problem = c.long_lag.problem
  return sequence_model.SequenceModelConfig.from_dict(dict(
      c.model.to_dict(), input_dim=synthetic.input_dim(problem),
      output_dim=synthetic.output_dim(problem),
      head="regression" if problem == "adding" else "classification"))


def _num_params(init) -> int:
  """Parameter count of `init(key)`, without computing the parameters."""
  return sum(x.size for x in jax.tree.leaves(jax.eval_shape(init, jax.random.key(0))))


def _long_lag_params(c) -> int:
  cfg = _long_lag_model(c)
  return _num_params(lambda key: sequence_model.init(cfg, key))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_variant_config_is_valid_at_every_size(name):
  module = experiment.load_experiment(os.path.join(REPO, "experiments", name))
  for size in experiment.SIZES:
    for v in module.VARIANTS:
      c = experiment.variant_config(module, size, v)
      where = (name, size, v)
      assert c.task in tasks.names(), where
      # Every interval is a whole number of compiled calls (steps_per_call updates each).
      assert c.steps_per_call >= 1, where
      for key in ("num_train_steps", "log_every_steps", "eval_every_steps",
                  "checkpoint_every_steps"):
        assert c[key] % c.steps_per_call == 0, (*where, key)
      if c.task == "long_lag":
        assert c.long_lag.problem in synthetic.TASKS, where
        assert c.long_lag.seq_len >= 1 and c.long_lag.test_size >= 1, where
        assert 0 < c.long_lag.solved_error_rate < 1, where
        _long_lag_model(c)  # unknown or missing model fields raise
      elif c.task == "language_model":
        from seq2seq_jax.tasks import language_model as lm_task
        lm_task.model_config(c, 10_000)  # unknown or bad model fields raise
        assert c.lm.bptt >= 1 and c.lm.dataset, where
      else:
        assert c.task == "translation", where
        model_lib.ModelConfig.from_dict(dict(c.model.to_dict(), src_vocab_size=100,
                                             tgt_vocab_size=100))


def test_equal_parameter_counts_in_the_cell_comparison():
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "cho2014_britz2017"))
  counts = []
  for v in module.VARIANTS:
    c = experiment.variant_config(module, "cpu", v)
    cfg = model_lib.ModelConfig.from_dict(dict(c.model.to_dict(), src_vocab_size=2000,
                                               tgt_vocab_size=2000))
    counts.append(_num_params(model_lib.Seq2Seq(cfg).init))
  assert max(counts) / min(counts) < 1.01, counts


def test_equal_parameter_counts_in_the_long_lag_comparison():
  """The RNN's and GRU's hidden sizes give them about the LSTM's parameter count."""
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "hochreiter1997"))
  by_problem = {}
  for v in module.VARIANTS:
    c = experiment.variant_config(module, "cpu", v)
    by_problem.setdefault((c.long_lag.problem, c.long_lag.seq_len), []).append(
        _long_lag_params(c))
  assert len(by_problem) == 3
  for key, counts in by_problem.items():
    assert len(counts) >= 2 and max(counts) / min(counts) < 1.1, (key, counts)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_the_cpu_configs_are_those_of_the_committed_results(name):
  """results/cpu.json came from the cpu configs: a config change that would make the
  committed numbers stale fails here (re-run the folder, or say why not)."""
  exp_dir = os.path.join(REPO, "experiments", name)
  module = experiment.load_experiment(exp_dir)
  with open(os.path.join(exp_dir, "results", "cpu.json")) as f:
    stored = json.load(f)
  assert stored["experiment"] == name and stored["size"] == "cpu"
  assert stored["variants"]
  for v, final in stored["variants"].items():
    c = experiment.variant_config(module, "cpu", v)
    assert len(final["seeds"]) == c.num_seeds, v
    if c.task == "long_lag":
      assert (final["task"], final["seq_len"], final["test_size"], final["solved_error_rate"],
              final["cell"], final["hidden_dim"], final["steps"]) == (
                  c.long_lag.problem, c.long_lag.seq_len, c.long_lag.test_size,
                  c.long_lag.solved_error_rate, c.model.cell, c.model.hidden_dim,
                  c.num_train_steps), v
      assert final["num_params"] == _long_lag_params(c), v
    elif c.task == "language_model":
      cfg = final
      assert (cfg["steps"], cfg["hidden_dim"], cfg["tie_embeddings"], cfg["dataset"]) == (
          c.num_train_steps, c.model.hidden_dim, c.model.tie_embeddings, c.lm.dataset), v
    else:
      assert (final["step"], final["beam"]) == (c.num_train_steps, c.final_beam), v
      assert final["checkpoint"].split(" ")[0] == c.final_checkpoint, v


def test_unknown_variant_and_size():
  module = experiment.load_experiment(os.path.join(REPO, "experiments", "sutskever2014"))
  with pytest.raises(ValueError, match="unknown variant"):
    experiment.variant_config(module, "cpu", "backwards")
  with pytest.raises(ValueError, match="size must be"):
    experiment.variant_config(module, "huge", "forward")
  with pytest.raises(FileNotFoundError, match="not an experiment folder"):
    experiment.load_experiment(REPO)


def _claims_of(name, root):
  rows = [r for r in _check_module().check("tiny", str(root)) if r["experiment"] == name]
  assert rows, f"check.py has no claims for {name}"
  return rows


@pytest.mark.parametrize("name", sorted(TINY_VARIANT))
def test_experiment_runs_at_tiny_size_and_check_reads_it(name, tmp_path):
  exp_dir = os.path.join(REPO, "experiments", name)
  module = experiment.load_experiment(exp_dir)
  v = TINY_VARIANT[name]
  results_dir, work = tmp_path / name / "results", str(tmp_path / "work")
  res = experiment.run(exp_dir, "tiny", work, variants=[v], results_dir=str(results_dir))
  assert list(res["variants"]) == [v]
  stored = json.loads((results_dir / "tiny.json").read_text())
  assert (stored["experiment"], stored["size"], list(stored["variants"])) == (name, "tiny", [v])
  for analysis in module.ANALYSES:  # each analysis covers the variants of the call
    assert res[analysis] and list(stored[analysis]) == [v], analysis
  # check.py reads a partial result file: claims over variants not run are "missing".
  rows = _claims_of(name, tmp_path)
  assert all(r["holds"].split(" ")[0] in ("yes", "NO", "missing") for r in rows), rows
  assert any(r["holds"] == "missing" for r in rows), rows

  # The other variants as if earlier calls had trained them (copies of this one): a second
  # call keeps them, in the folder's order, and reuses the finished variant instead of
  # training it again.
  done = os.path.join(work, v, "final_metrics.json")
  trained_at = os.stat(done).st_mtime_ns
  (results_dir / "tiny.json").write_text(json.dumps(
      dict(stored, variants={u: stored["variants"][v] for u in module.VARIANTS})))
  again = experiment.run(exp_dir, "tiny", work, variants=[v], results_dir=str(results_dir))
  assert os.stat(done).st_mtime_ns == trained_at
  assert again["variants"][v] == res["variants"][v]
  assert list(again["variants"]) == list(module.VARIANTS)

  # With every variant (and its analyses) present, every claim must be computable; at
  # tiny size it may hold or not.
  full = json.loads((results_dir / "tiny.json").read_text())
  assert list(full["variants"]) == list(module.VARIANTS)
  for analysis in module.ANALYSES:
    full[analysis] = {u: full[analysis][v] for u in module.VARIANTS}
  os.makedirs(tmp_path / "all" / name / "results")
  (tmp_path / "all" / name / "results" / "tiny.json").write_text(json.dumps(full))
  rows = _claims_of(name, tmp_path / "all")
  assert all(r["holds"].split(" ")[0] in ("yes", "NO") for r in rows), rows


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
  result file, compute every claim from it, and give each claim the verdict (and the
  numbers) recorded in experiments/README.md's claims table (`check.py --write`)."""
  check = _check_module()
  rows = check.check("cpu")
  assert rows
  assert not [r for r in rows if r["holds"] == "missing"], "claims without results"
  with open(os.path.join(REPO, "experiments", "README.md"), encoding="utf-8") as f:
    readme = f.read()
  recorded = readme.split(check.BEGIN, 1)[1].split(check.END, 1)[0].strip().splitlines()
  for r in rows:
    head = f"| {r['experiment']} | {r['claim']} | "
    lines = [line for line in recorded if line.startswith(head)]
    assert len(lines) == 1, f"README records {len(lines)} rows for {head}"
    assert lines[0].endswith(f" | {r['holds']} |"), (lines[0], r["holds"])
  # ... and the whole table, numbers and summary line included, is check.py's output.
  table = check.markdown(rows) + "\n\n" + check.summary_line(rows, "cpu")
  assert "\n".join(recorded) == table
  # Every folder's committed result file holds all of its variants and no others. (A slow
  # folder may be run a few variants at a time, but is committed complete.)
  # A folder may name variants not run at cpu size yet, each with its reason.
  for e in EXPERIMENTS:
    with open(os.path.join(REPO, "experiments", e, "results", "cpu.json")) as f:
      stored = list(json.load(f)["variants"])
    module = experiment.load_experiment(os.path.join(REPO, "experiments", e))
    pending = getattr(module, "NOT_RUN_AT_CPU", {})
    assert all(isinstance(why, str) and why for why in pending.values()), e
    assert stored == [v for v in module.VARIANTS if v not in pending], e
  by_claim = {r["claim"]: r["holds"] for r in rows}
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
  and the earlier calls' entries survive even when their workdirs are gone. (This is
  also sutskever2014's tiny end-to-end run.)"""
  exp_dir = os.path.join(REPO, "experiments", FEW_VARIANTS_FOLDER)
  results_dir = tmp_path / FEW_VARIANTS_FOLDER / "results"
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
  # Both variants are there, so every claim is computable (at tiny size it may not hold).
  rows = _claims_of(FEW_VARIANTS_FOLDER, tmp_path)
  assert all(r["holds"].split(" ")[0] in ("yes", "NO") for r in rows), rows
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

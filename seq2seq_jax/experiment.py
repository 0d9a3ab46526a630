"""Paper reproductions: run every variant of an ``experiments/<paper>/`` folder,
then collect its numbers and plots into ``experiments/<paper>/results/<size>.json``.

An experiment folder holds ``config.py`` with

* ``VARIANTS``: the names of the runs that make up the experiment;
* ``get_config("size=<tiny|cpu|full>,variant=<name>")``: one run's ordinary
  training config (so any variant also launches alone through ``main``);
* ``ANALYSES``: what to compute after training, from ``analyse`` below:
  ``"bleu_by_length"`` (test BLEU per source-length bucket, Bahdanau 2015
  Fig. 2), ``"beam_sweep"`` (validation BLEU over beam widths and length
  penalties, Britz 2017), ``"grad_norms"`` (||dL/dh_t|| by time lag, H&S 1997).

``experiments/check.py`` re-reads the result files and checks each paper's
claim. Runs resume: a variant whose workdir already holds final metrics is not
trained again, so an interrupted experiment continues where it stopped.
"""
from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import time

import numpy as np

from seq2seq_jax import trainer

SIZES = ("tiny", "cpu", "full")


def load_experiment(exp_dir: str):
  """The ``config.py`` module of an experiment folder."""
  path = os.path.join(exp_dir, "config.py")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{exp_dir} is not an experiment folder: no config.py")
  name = os.path.basename(os.path.normpath(exp_dir))
  spec = importlib.util.spec_from_file_location(f"experiment_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  for attr in ("VARIANTS", "get_config"):
    if not hasattr(module, attr):
      raise AttributeError(f"{path} must define {attr}")
  return module


def variant_config(module, size: str, variant: str, overrides: dict | None = None):
  if size not in SIZES:
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")
  if variant not in module.VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; this experiment has {module.VARIANTS}")
  config = module.get_config(f"size={size},variant={variant}")
  for key, value in (overrides or {}).items():
    node = config
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def run(exp_dir: str, size: str, workdir: str, *, variants=None, overrides: dict | None = None,
        results_dir: str | None = None) -> dict:
  """Trains the variants (skipping finished ones), analyses, writes results/<size>.json."""
  module = load_experiment(exp_dir)
  variants = list(variants or module.VARIANTS)
  results = {"experiment": os.path.basename(os.path.normpath(exp_dir)), "size": size,
             "date": datetime.date.today().isoformat(), "machine": machine(), "variants": {}}
  out_dir = results_dir or os.path.join(exp_dir, "results")
  path = os.path.join(out_dir, f"{size}.json")
  # Read (and refuse a bad) earlier result file before training, not an hour after.
  earlier = None if overrides else _earlier_results(path, results)
  configs = {}
  for v in variants:
    config = variant_config(module, size, v, overrides)
    configs[v] = config
    wd = os.path.join(workdir, v)
    done = os.path.join(wd, "final_metrics.json")
    wall_path = os.path.join(wd, "wall_seconds.json")
    if os.path.exists(done):
      print(f"[{v}] already trained in {wd}; reusing its results", flush=True)
    else:
      print(f"[{v}] training in {wd}", flush=True)
      t0 = time.time()
      trainer.train_and_evaluate(config, wd)
      with open(wall_path, "w") as f:  # wall time of the run that finished, incl. evaluation
        json.dump({"seconds": time.time() - t0}, f)
    with open(done) as f:
      results["variants"][v] = json.load(f)
    if os.path.exists(wall_path):
      with open(wall_path) as f:
        results["variants"][v]["wall_seconds"] = json.load(f)["seconds"]
    results["variants"][v].setdefault("commit", _git_commit(exp_dir))
  os.makedirs(out_dir, exist_ok=True)
  if earlier is not None:
    _keep_earlier_variants(results, earlier, path, module.VARIANTS)
  for analysis in getattr(module, "ANALYSES", ()):
    results[analysis] = analyse(analysis, configs, workdir, out_dir, size)
  results["commit"] = _git_commit(exp_dir)
  with open(path, "w") as f:
    json.dump(results, f, indent=1)
  table = summary_markdown(results)
  with open(os.path.join(out_dir, f"{size}.md"), "w") as f:
    f.write(table + "\n")
  print(table, flush=True)
  print(f"Results written to {path}", flush=True)
  return results


def _earlier_results(path: str, results: dict) -> dict | None:
  """The earlier result file at `path` (None if there is none); an error if it is
  unreadable or belongs to another experiment or size."""
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      earlier = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path} is not a readable result file ({e}); move it away or fix "
                     "it, so that its variants are not silently dropped") from e
  if earlier.get("experiment") != results["experiment"] or earlier.get("size") != \
      results["size"]:
    raise ValueError(f"{path} holds experiment {earlier.get('experiment')!r} size "
                     f"{earlier.get('size')!r}, not {results['experiment']!r} size "
                     f"{results['size']!r}")
  return earlier


def _keep_earlier_variants(results: dict, earlier: dict, path: str, all_variants) -> None:
  """Adds to ``results`` the variants of an earlier result file that this call did not run.

  A folder too slow for one sitting (Luong's ten variants) is then run a few variants
  at a time, each call adding to the committed ``results/<size>.json``, even when the
  earlier calls' workdirs are gone. Each variant keeps the commit that trained it.
  Variants run now replace their earlier entries; the order is the folder's VARIANTS.
  """
  kept = {v: f for v, f in earlier.get("variants", {}).items()
          if v in all_variants and v not in results["variants"]}
  for v, f in kept.items():
    f.setdefault("commit", earlier.get("commit"))
    print(f"[{v}] kept from {path} (trained at commit {f['commit']})", flush=True)
  merged = {**kept, **results["variants"]}
  results["variants"] = {v: merged[v] for v in all_variants if v in merged}


def _git_commit(path: str) -> str | None:
  import subprocess  # pylint: disable=g-import-not-at-top
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def _mean_std(values, fmt="{:.2f}") -> str:
  v = np.asarray([x for x in values if x is not None], dtype=float)
  if v.size == 0:
    return "-"
  if v.size == 1:
    return fmt.format(v[0])
  return f"{fmt.format(v.mean())} ± {fmt.format(v.std())}"


def _per_seed(final: dict, split: str, metric: str) -> list[float]:
  seeds = final.get("seeds")
  if isinstance(seeds, list) and seeds and isinstance(seeds[0], dict):
    return [s[split][metric] for s in seeds]
  return [final[split][metric]] if isinstance(final.get(split), dict) else []


def summary_markdown(results: dict) -> str:
  """One row per variant: the numbers a README quotes, mean ± std over seeds."""
  rows = []
  for v, f in results["variants"].items():
    minutes = f"{f['wall_seconds'] / 60:.1f}" if "wall_seconds" in f else "-"
    if "test_ppl" in f:  # a language model
      rows.append(f"| {v} | {f['cell']} {f['num_layers']}x{f['hidden_dim']}"
                  f"{' tied' if f['tie_embeddings'] else ''} ({f['num_params']:,} params) | "
                  f"{_mean_std(f['val_ppl'])} | {_mean_std(f['test_ppl'])} | "
                  f"{f['epochs']:.1f} | {minutes} |")
    elif "error_rate" in f:  # a long-lag task
      solved = [s for s in f["solved_sequences"] if s is not None]
      rows.append(f"| {v} | {f['cell']} {f['hidden_dim']} ({f['num_params']} params) | "
                  f"{_mean_std(f['num_wrong'], '{:.1f}')} of {f['test_size']} "
                  f"(per seed {f['num_wrong']}) | {f['num_solved']}/{len(f['seeds'])} seeds"
                  f"{', ' + _mean_std(solved, '{:.0f}') + ' sequences' if solved else ''} | "
                  f"{f['steps']} | {minutes} |")
    else:
      n = len(_per_seed(f, "test", "bleu"))
      rows.append(f"| {v} | {_mean_std(_per_seed(f, 'test', 'bleu'))} | "
                  f"{_mean_std(_per_seed(f, 'test', 'chrf'))} | "
                  f"{_mean_std(_per_seed(f, 'test', 'ppl'))} | {n} | {f.get('step', '-')} | "
                  f"{minutes} |")
  if any("test_ppl" in f for f in results["variants"].values()):
    head = ["| variant | model | validation ppl | test ppl | epochs | minutes |",
            "|---|---|---|---|---|---|"]
  elif any("error_rate" in f for f in results["variants"].values()):
    head = ["| variant | model | test outputs wrong (mean ± std) | reached <= 1% wrong "
            "(mean training sequences) | steps | minutes |", "|---|---|---|---|---|---|"]
  else:
    head = ["| variant | test BLEU | test chrF2 | test ppl | seeds | steps | minutes |",
            "|---|---|---|---|---|---|---|"]
  return "\n".join(head + rows)


def machine() -> str:
  import jax  # pylint: disable=g-import-not-at-top
  dev = jax.devices()[0]
  return (f"{platform.node() or 'host'}: {os.cpu_count()} CPU cores, "
          f"{dev.platform} {getattr(dev, 'device_kind', '')}".strip())


# -----------------------------------------------------------------------------
# Analyses
# -----------------------------------------------------------------------------
def analyse(name: str, configs: dict, workdir: str, out_dir: str, size: str):
  fn = {"bleu_by_length": bleu_by_length, "beam_sweep": beam_sweep,
        "grad_norms": plot_grad_norms}.get(name)
  if fn is None:
    raise ValueError(f"unknown analysis {name!r}")
  return fn(configs, workdir, out_dir, size)


def _hyp_files(wd: str, split: str) -> list[str]:
  """The final translations of a run: one file, or one per seed."""
  single = os.path.join(wd, f"final_{split}.hyp.txt")
  if os.path.exists(single):
    return [single]
  files = sorted(f for f in os.listdir(wd) if f.startswith(f"final_{split}.seed")
                 and f.endswith(".hyp.txt"))
  if not files:
    raise FileNotFoundError(f"no final {split} translations in {wd}")
  return [os.path.join(wd, f) for f in files]


def _read_lines(path: str) -> list[str]:
  with open(path, encoding="utf-8") as f:
    return f.read().split("\n")[:-1]


def bleu_by_length(configs: dict, workdir: str, out_dir: str, size: str) -> dict:
  """Test BLEU per source-length bucket (words), mean and std over seeds."""
  from seq2seq_jax import analysis  # pylint: disable=g-import-not-at-top
  from seq2seq_jax import evaluation  # pylint: disable=g-import-not-at-top
  from seq2seq_jax.data import sources  # pylint: disable=g-import-not-at-top
  out, plotted = {}, {}
  for v, config in configs.items():
    test = sources.load_parallel(config.dataset, "test", config.src_lang, config.tgt_lang,
                                 data_dir=config.data_dir)
    srcs = [test[i][0] for i in range(len(test))]
    refs = [test[i][1] for i in range(len(test))]
    per_seed, long_bleu = [], []
    long_idx = [i for i, s in enumerate(srcs) if len(s.split()) > LONG_SENTENCE_WORDS]
    for path in _hyp_files(os.path.join(workdir, v), "test"):
      hyps = _read_lines(path)
      if len(hyps) != len(refs):
        raise ValueError(f"{path} has {len(hyps)} lines for {len(refs)} test sentences")
      per_seed.append(analysis.bleu_by_length(srcs, hyps, refs, buckets=LENGTH_BUCKETS))
      if long_idx:
        long_bleu.append(evaluation.bleu([hyps[i] for i in long_idx],
                                         [refs[i] for i in long_idx]).score)
    rows = []
    for cells in zip(*per_seed):
      scores = np.array([c["bleu"] for c in cells])
      rows.append({"bucket": cells[0]["bucket"], "max_len": cells[0]["max_len"],
                   "n": cells[0]["n"], "bleu": float(scores.mean()),
                   "bleu_std": float(scores.std()), "bleu_per_seed": scores.tolist()})
    out[v] = {"buckets": rows, f"over_{LONG_SENTENCE_WORDS}_words": long_bleu,
              f"num_over_{LONG_SENTENCE_WORDS}_words": len(long_idx)}
    plotted[v] = rows
  analysis.plot_bleu_by_length(plotted, os.path.join(out_dir, f"{size}_bleu_by_length.png"),
                               title="Test BLEU by source length (mean ± std over seeds)")
  return out


LENGTH_BUCKETS = (0, 10, 20, 30, 40)
LONG_SENTENCE_WORDS = 20  # software strings are short: 8% of test sources exceed 20 words


BEAMS = (1, 2, 5, 10)
ALPHAS = (0.0, 0.6, 1.0)


def beam_sweep(configs: dict, workdir: str, out_dir: str, size: str) -> dict:
  """Validation BLEU for beam widths x GNMT length-penalty alphas, per variant and seed."""
  from seq2seq_jax import evaluation  # pylint: disable=g-import-not-at-top
  from seq2seq_jax.inference import predictor  # pylint: disable=g-import-not-at-top
  from seq2seq_jax.data import sources  # pylint: disable=g-import-not-at-top
  out = {}
  for v, config in configs.items():
    if not config.get("beam_sweep", False):
      continue
    valid = sources.load_parallel(config.dataset, "validation", config.src_lang,
                                  config.tgt_lang, data_dir=config.data_dir)
    n = min(len(valid), config.get("beam_sweep_sentences", 500))
    srcs = [valid[i][0] for i in range(n)]
    refs = [valid[i][1] for i in range(n)]
    num_seeds = max(1, int(config.get("num_seeds", 1)))
    translators = [_translator(predictor, os.path.join(workdir, v), s, num_seeds,
                               config.get("final_checkpoint", "best"))
                   for s in range(num_seeds)]
    grid = []
    for beam in BEAMS:
      for alpha in (ALPHAS if beam > 1 else (0.0,)):
        scores = []
        for t in translators:
          hyps = [h[0].text for h in t.translate(srcs, beam=beam, alpha=alpha)]
          scores.append(evaluation.bleu(hyps, refs).score)
        grid.append({"beam": beam, "alpha": alpha, "bleu": float(np.mean(scores)),
                     "bleu_std": float(np.std(scores)), "bleu_per_seed": scores})
        print(f"[{v}] beam {beam} alpha {alpha}: BLEU {np.mean(scores):.2f}", flush=True)
    out[v] = grid
    _plot_beam_sweep(grid, os.path.join(out_dir, f"{size}_beam_sweep_{v}.png"), v)
  return out


def _translator(predictor, wd: str, seed_index: int, num_seeds: int, checkpoint: str):
  """The checkpoint the final scores came from (config.final_checkpoint), so the sweep
  and the README's test numbers describe the same parameters."""
  if num_seeds == 1:
    return predictor.load_predictor(wd, checkpoint)
  return predictor.load_predictor(wd, checkpoint, seed_index=seed_index)


def _plot_beam_sweep(grid, path, title):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for alpha in ALPHAS:
    rows = [r for r in grid if r["alpha"] == alpha or r["beam"] == 1]
    ax.errorbar([r["beam"] for r in rows], [r["bleu"] for r in rows],
                yerr=[r["bleu_std"] for r in rows], marker="o", capsize=3,
                label=f"length penalty alpha={alpha}")
  ax.set_xscale("log", base=2)
  ax.set_xticks(BEAMS, [str(b) for b in BEAMS])
  ax.set_xlabel("beam width")
  ax.set_ylabel("validation BLEU")
  ax.set_title(title)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def plot_grad_norms(configs: dict, workdir: str, out_dir: str, size: str) -> dict:
  """||dL/dh_t|| by time lag at initialisation, mean over seeds, one line per variant."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  out = {}
  fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
  for v in configs:
    with open(os.path.join(workdir, v, "final_metrics.json")) as f:
      gn = json.load(f)["grad_norms"]
    out[v] = {}
    for ax, when in zip(axes, ("init", "final")):
      mean = np.mean(np.asarray(gn[when]), axis=0)
      out[v][when] = mean.tolist()
      ax.semilogy(np.arange(len(mean)), np.maximum(mean, 1e-30), label=v)
      ax.set_title(f"at {'initialisation' if when == 'init' else 'end of training'}")
      ax.set_xlabel("time lag k (steps before the output)")
  axes[0].set_ylabel("mean ||dL/dh_(T-k)||")
  axes[1].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, f"{size}_grad_norms.png"), dpi=120)
  plt.close(fig)
  return out

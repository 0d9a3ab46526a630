r"""Re-reads every experiment's result file and checks each paper's claim.

  python experiments/check.py            # results/cpu.json of every experiment
  python experiments/check.py full       # results/full.json
  python experiments/check.py cpu DIR    # result files under DIR/<experiment>/results/
  python experiments/check.py --write    # also rewrites the claims table in experiments/README.md

Prints one row per claim: experiment, claim, the paper's number, ours (mean +- std
over seeds, n seeds) and whether the claim holds at our scale ("yes", "NO", or
"missing" when the experiment has not been run). Exit status 0 unless a result
file is malformed; a claim that does not hold is a result, not an error.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _ms(values, fmt="{:.2f}"):
  v = np.asarray(values, dtype=float)
  if v.size == 1:
    return fmt.format(v[0])
  return f"{fmt.format(v.mean())} ± {fmt.format(v.std())} (n={v.size})"


# --- per-result accessors -------------------------------------------------------------
def _seed_values(final: dict, split: str, metric: str) -> list[float]:
  """Per-seed test/validation metric of a seq2seq run (single- or multi-seed)."""
  if "seeds" in final and isinstance(final["seeds"], list) and final["seeds"] and \
      isinstance(final["seeds"][0], dict):
    return [s[split][metric] for s in final["seeds"]]
  return [final[split][metric]]


def _bleu(res, v, split="test"):
  return _seed_values(res["variants"][v], split, "bleu")


def _ppl(res, v, split="test"):
  return _seed_values(res["variants"][v], split, "ppl")


def _lm_ppl(res, v, split="test"):
  return res["variants"][v][f"{split}_ppl"]


def _val_curve(res, v) -> list[float]:
  """Validation perplexity after each epoch (mean over seeds)."""
  return [float(np.mean(p)) for p in res["variants"][v]["val_ppl_by_epoch"]]


def _turns_up(curve, margin: float = 0.005) -> bool:
  """Whether a validation curve rises above its running minimum by more than `margin`
  at some later epoch (overfitting; the learning-rate decay may pull it down again)."""
  best = float("inf")
  for p in curve:
    if p > best * (1 + margin):
      return True
    best = min(best, p)
  return False


def _after_min_max(curve) -> float:
  i = int(np.argmin(curve))
  return float(max(curve[i:]))


def _wrong(res, v):
  return res["variants"][v]["num_wrong"]


def _err(res, v):
  return res["variants"][v]["error_rate"]


def _lag_ratio(res, v, lag):
  g = np.mean(np.asarray(res["variants"][v]["grad_norms"]["init"]), axis=0)
  return float(g[min(lag, len(g) - 1)] / g[0])


def _long_bleu(res, v):
  """Per-seed corpus BLEU of the test sentences with more than 20 source words."""
  return res["bleu_by_length"][v]["over_20_words"]


def _sweep(res, v, beam, alpha):
  for r in res["beam_sweep"][v]:
    if r["beam"] == beam and (beam == 1 or r["alpha"] == alpha):
      return r["bleu_per_seed"]
  raise KeyError(f"beam {beam} alpha {alpha}")


class Verdict:
  """A claim's truth value, plus whether the gap is within the spread over seeds."""

  def __init__(self, holds: bool, noisy: bool = False):
    self.holds, self.noisy = bool(holds), bool(noisy)

  def __bool__(self):
    return self.holds


def _greater(a, b) -> Verdict:
  """mean(a) > mean(b); 'noisy' when the gap is smaller than std(a) + std(b) over seeds,
  i.e. the seeds of the two variants overlap, so two seeds cannot settle the claim."""
  a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
  gap = float(a.mean() - b.mean())
  return Verdict(gap > 0, noisy=abs(gap) <= float(a.std() + b.std()))


# --- the claims ------------------------------------------------------------------------
# (experiment, claim, paper number, function(results) -> (our number, holds))
def _claims():
  c = []
  add = lambda exp, claim, paper, fn: c.append((exp, claim, paper, fn))  # noqa: E731

  h = "hochreiter1997"
  add(h, "LSTM solves the adding problem, T=100 (wrong outputs of 2560)",
      "1 of 2560 wrong after 74k sequences",
      lambda r: (_ms(_wrong(r, "adding_T100_lstm"), "{:.1f}"),
                 max(_err(r, "adding_T100_lstm")) <= 0.01))
  add(h, "vanilla RNN (equal parameters) fails the adding problem, T=100",
      "RNN/BPTT/RTRL fail at lags >= 10-100",
      lambda r: (_ms(_wrong(r, "adding_T100_rnn"), "{:.0f}"),
                 min(_err(r, "adding_T100_rnn")) > 0.5))
  add(h, "LSTM solves the adding problem, T=200",
      "T=500: 0 of 2560 wrong (209k seq.)",
      lambda r: (_ms(_wrong(r, "adding_T200_lstm"), "{:.1f}"),
                 max(_err(r, "adding_T200_lstm")) <= 0.01))
  add(h, "vanilla RNN fails the adding problem, T=200", "(fails)",
      lambda r: (_ms(_wrong(r, "adding_T200_rnn"), "{:.0f}"),
                 min(_err(r, "adding_T200_rnn")) > 0.5))
  add(h, "GRU (equal parameters) on the adding problem, T=100", "(not in the paper)",
      lambda r: (_ms(_wrong(r, "adding_T100_gru"), "{:.1f}"),
                 max(_err(r, "adding_T100_gru")) <= 0.01))
  add(h, "LSTM solves temporal order, T=100 (wrong of 2560)",
      "solved after 31,390 sequences",
      lambda r: (_ms(_wrong(r, "temporal_T100_lstm"), "{:.1f}"),
                 max(_err(r, "temporal_T100_lstm")) <= 0.01))
  add(h, "vanilla RNN fails temporal order, T=100", "(fails)",
      lambda r: (_ms(_wrong(r, "temporal_T100_rnn"), "{:.0f}"),
                 min(_err(r, "temporal_T100_rnn")) > 0.5))
  add(h, "vanishing gradient: ||dL/dh|| at lag 50 / lag 0 at init, RNN << LSTM",
      "RNN error flow decays exponentially",
      lambda r: (f"RNN {_lag_ratio(r, 'adding_T100_rnn', 50):.1e} vs "
                 f"LSTM {_lag_ratio(r, 'adding_T100_lstm', 50):.1e}",
                 _lag_ratio(r, "adding_T100_rnn", 50)
                 < 0.01 * _lag_ratio(r, "adding_T100_lstm", 50)))

  z = "zaremba2014"
  add(z, "small LSTM LM, test perplexity <= 118 (PTB)", "114.5 (ptb_word_lm: 115.9)",
      lambda r: (_ms(_lm_ppl(r, "small")), max(_lm_ppl(r, "small")) <= 118))
  add(z, "tied input/output embeddings lower test perplexity at equal size (2x200)",
      "lower (Press & Wolf 2017; Inan et al. 2017)",
      lambda r: (f"{_ms(_lm_ppl(r, 'small_tied'))} tied vs {_ms(_lm_ppl(r, 'small'))}",
                 _greater(_lm_ppl(r, "small"), _lm_ppl(r, "small_tied"))))
  add(z, "without dropout the validation perplexity turns up; with dropout it keeps "
      "falling (2x200, the size a CPU trains in a sitting)", "medium: overfits vs 82.7",
      lambda r: (f"no dropout: min {min(_val_curve(r, 'small')):.1f}, then up to "
                 f"{_after_min_max(_val_curve(r, 'small')):.1f}; dropout 0.25: "
                 f"{_val_curve(r, 'small_dropout')[0]:.1f} -> "
                 f"{_val_curve(r, 'small_dropout')[-1]:.1f}",
                 _turns_up(_val_curve(r, "small"))
                 and not _turns_up(_val_curve(r, "small_dropout"))))

  s = "copy_reverse"
  add(s, "attention LSTM copies unseen sequences (test BLEU)", "(sanity check)",
      lambda r: (_ms(_bleu(r, "copy_attention")), np.mean(_bleu(r, "copy_attention")) >= 95))
  add(s, "without attention, reversing is easier than copying (BLEU)", "(Sutskever's argument)",
      lambda r: (f"{_ms(_bleu(r, 'reverse_no_attention'))} vs "
                 f"{_ms(_bleu(r, 'copy_no_attention'))}",
                 _greater(_bleu(r, "reverse_no_attention"), _bleu(r, "copy_no_attention"))))

  s = "sutskever2014"
  add(s, "reversing the source raises test BLEU (no attention)", "25.9 -> 30.6",
      lambda r: (f"{_ms(_bleu(r, 'forward'))} -> {_ms(_bleu(r, 'reversed'))}",
                 _greater(_bleu(r, "reversed"), _bleu(r, "forward"))))
  add(s, "reversing the source lowers test perplexity", "5.8 -> 4.7",
      lambda r: (f"{_ms(_ppl(r, 'forward'))} -> {_ms(_ppl(r, 'reversed'))}",
                 _greater(_ppl(r, "forward"), _ppl(r, "reversed"))))

  b = "bahdanau2015"
  add(b, "attention beats a fixed context vector (test BLEU)", "26.75 vs 17.82 (-50 models)",
      lambda r: (f"{_ms(_bleu(r, 'rnnsearch'))} vs {_ms(_bleu(r, 'rnnencdec'))}",
                 _greater(_bleu(r, "rnnsearch"), _bleu(r, "rnnencdec"))))
  add(b, "attention's lead on sentences of > 20 words", "flat vs falling (Fig. 2)",
      lambda r: (f"{_ms(_long_bleu(r, 'rnnsearch'))} vs {_ms(_long_bleu(r, 'rnnencdec'))}",
                 _greater(_long_bleu(r, "rnnsearch"), _long_bleu(r, "rnnencdec"))))

  lu = "luong2015"
  ladder = [("base", 11.3), ("reverse", 12.6), ("dropout", 14.0), ("global_location", 16.8),
            ("feed_input", 18.1), ("local_p_general", 19.0)]
  for (prev, p_prev), (cur, p_cur) in zip(ladder, ladder[1:]):
    add(lu, f"Table 1: +{cur} improves on {prev}", f"{p_prev} -> {p_cur}",
        lambda r, a=prev, b_=cur: (f"{_ms(_bleu(r, a))} -> {_ms(_bleu(r, b_))}",
                                   _greater(_bleu(r, b_), _bleu(r, a))))
  for v, paper in (("global_dot", 18.6), ("global_general", 17.3), ("global_concat", None),
                   ("local_m_general", 18.6)):
    add(lu, f"attention {v} (with feed input) beats no attention (dropout rung)",
        f"{paper} vs 14.0" if paper else "(concat: 'did not do well')",
        lambda r, v=v: (f"{_ms(_bleu(r, v))} vs {_ms(_bleu(r, 'dropout'))}",
                        _greater(_bleu(r, v), _bleu(r, "dropout"))))

  add(lu, "Table 4: local-p beats global attention (both general)", "19.0 vs 17.3",
      lambda r: (f"{_ms(_bleu(r, 'local_p_general'))} vs {_ms(_bleu(r, 'global_general'))}",
                 _greater(_bleu(r, "local_p_general"), _bleu(r, "global_general"))))
  add(lu, "Table 4: global dot beats global general", "18.6 vs 17.3",
      lambda r: (f"{_ms(_bleu(r, 'global_dot'))} vs {_ms(_bleu(r, 'global_general'))}",
                 _greater(_bleu(r, "global_dot"), _bleu(r, "global_general"))))

  cb = "cho2014_britz2017"
  add(cb, "LSTM beats GRU at equal size (test BLEU)", "22.22 vs 21.78 (Britz)",
      lambda r: (f"{_ms(_bleu(r, 'lstm'))} vs {_ms(_bleu(r, 'gru'))}",
                 _greater(_bleu(r, "lstm"), _bleu(r, "gru"))))
  add(cb, "gated units beat the vanilla RNN (GRU vs RNN)", "RNN far behind (Britz, Cho)",
      lambda r: (f"{_ms(_bleu(r, 'gru'))} vs {_ms(_bleu(r, 'rnn'))}",
                 _greater(_bleu(r, "gru"), _bleu(r, "rnn"))))
  add(cb, "beam 10 with length penalty beats greedy (valid BLEU)",
      "about +1 BLEU over greedy (Britz)",
      lambda r: (f"{_ms(_sweep(r, 'lstm', 10, 1.0))} vs {_ms(_sweep(r, 'lstm', 1, 0.0))}",
                 _greater(_sweep(r, "lstm", 10, 1.0), _sweep(r, "lstm", 1, 0.0))))
  add(cb, "a length penalty helps a wide beam (beam 10: alpha 1.0 vs 0)",
      "lp 1.0 > none (Britz)",
      lambda r: (f"{_ms(_sweep(r, 'lstm', 10, 1.0))} vs {_ms(_sweep(r, 'lstm', 10, 0.0))}",
                 _greater(_sweep(r, "lstm", 10, 1.0), _sweep(r, "lstm", 10, 0.0))))
  return c


CLAIMS = _claims()


def load_results(root: str, experiment: str, size: str):
  path = os.path.join(root, experiment, "results", f"{size}.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def check(size: str = "cpu", root: str = HERE) -> list[dict]:
  """One row per claim: experiment, claim, paper, ours, holds: 'yes' / 'NO' / 'missing',
  with ' (within seed spread)' appended when the seeds of the two sides overlap."""
  rows, cache = [], {}
  for exp, claim, paper, fn in CLAIMS:
    if exp not in cache:
      cache[exp] = load_results(root, exp, size)
    res = cache[exp]
    if res is None:
      ours, holds = "-", "missing"
    else:
      try:
        ours, ok = fn(res)
        holds = "yes" if ok else "NO"
        if getattr(ok, "noisy", False):
          holds += " (within seed spread)"
      except KeyError as e:  # a variant or analysis not run (e.g. --variants subset)
        ours, holds = f"(no {e})", "missing"
    rows.append({"experiment": exp, "claim": claim, "paper": paper, "ours": ours,
                 "holds": holds})
  return rows


def markdown(rows: list[dict]) -> str:
  out = ["| experiment | claim | paper | ours | holds |", "|---|---|---|---|---|"]
  out += [f"| {r['experiment']} | {r['claim']} | {r['paper']} | {r['ours']} | {r['holds']} |"
          for r in rows]
  return "\n".join(out)


BEGIN, END = "<!-- check.py:begin -->", "<!-- check.py:end -->"


def write_readme(table_md: str, readme: str = os.path.join(HERE, "README.md")) -> None:
  """Replaces the text between the BEGIN and END markers of experiments/README.md, so the
  summary there is always this script's output and never typed by hand."""
  with open(readme, encoding="utf-8") as f:
    text = f.read()
  if BEGIN not in text or END not in text:
    raise ValueError(f"{readme} has no {BEGIN} ... {END} section to replace")
  head, rest = text.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  with open(readme, "w", encoding="utf-8") as f:
    f.write(f"{head}{BEGIN}\n{table_md}\n{END}{tail}")


def summary_line(rows: list[dict], size: str) -> str:
  counts = {k: sum(r["holds"].split(" ")[0] == k for r in rows) for k in ("yes", "NO", "missing")}
  noisy = sum(r["holds"].endswith("(within seed spread)") for r in rows)
  return (f"{counts['yes']} hold, {counts['NO']} do not, {counts['missing']} not run "
          f"(size={size}); {noisy} of the decided ones are within the spread over seeds.")


if __name__ == "__main__":
  args = [a for a in sys.argv[1:] if a != "--write"]
  size_arg = args[0] if args else "cpu"
  root_arg = args[1] if len(args) > 1 else HERE
  if size_arg not in ("tiny", "cpu", "full") or len(args) > 2 or not os.path.isdir(root_arg):
    sys.exit(f"usage: check.py [tiny|cpu|full] [RESULTS_ROOT] [--write]; got {sys.argv[1:]}")
  table = check(size_arg, root_arg)
  text = markdown(table) + "\n\n" + summary_line(table, size_arg)
  print(text)
  if "--write" in sys.argv[1:]:
    write_readme(text)

"""Error analysis of translations: length buckets, repetition, rare words, heatmaps.

Everything here works on detokenized strings (plus attention matrices for
heatmaps) and writes plain files: TSV/JSON tables and PNG plots. WER and ROUGE
come from ``jiwer`` and ``rouge-score``; BLEU from sacreBLEU (evaluation.py).
"""
from __future__ import annotations

import collections
import math
import os
from typing import Sequence

import numpy as np

from seq2seq_jax import evaluation

DEFAULT_LENGTH_BUCKETS = (0, 10, 20, 30, 40, 50, 60)


def words(text: str) -> list[str]:
  return text.split()


def wer(hyps: Sequence[str], refs: Sequence[str]) -> float:
  """Word error rate (jiwer), in percent; empty references are skipped."""
  import jiwer  # pylint: disable=g-import-not-at-top
  pairs = [(h, r) for h, r in zip(hyps, refs) if r.strip()]
  if not pairs:
    raise ValueError("WER needs at least one non-empty reference")
  return 100.0 * jiwer.wer([r for _, r in pairs], [h for h, _ in pairs])


def rouge(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
  """Mean ROUGE-1/2/L F1 (rouge-score), in percent."""
  from rouge_score import rouge_scorer  # pylint: disable=g-import-not-at-top
  scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
  totals = collections.defaultdict(float)
  for h, r in zip(hyps, refs):
    for k, v in scorer.score(r, h).items():
      totals[k] += v.fmeasure
  n = max(len(hyps), 1)
  return {k: 100.0 * v / n for k, v in totals.items()}


def bleu_by_length(srcs, hyps, refs, buckets=DEFAULT_LENGTH_BUCKETS) -> list[dict]:
  """sacreBLEU per source-length bucket (words): Bahdanau et al. 2015, Fig. 2."""
  edges = list(buckets) + [math.inf]
  rows = []
  for lo, hi in zip(edges[:-1], edges[1:]):
    idx = [i for i, s in enumerate(srcs) if lo < len(words(s)) <= hi or (lo == 0 and not words(s))]
    if not idx:
      continue
    score = evaluation.bleu([hyps[i] for i in idx], [refs[i] for i in idx]).score
    rows.append({"bucket": f"{lo + 1}-{hi}" if hi != math.inf else f">{lo}",
                 "max_len": hi, "n": len(idx), "bleu": score})
  return rows


def repetition_rate(texts: Sequence[str], n: int = 2) -> float:
  """Share of word n-grams that repeat an earlier n-gram of the same sentence (%).

  A measure of the degenerate repetition ("the the the") NMT models produce;
  compare the hypotheses' rate with the references'.
  """
  repeated = total = 0
  for t in texts:
    w = words(t)
    grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
    total += len(grams)
    repeated += len(grams) - len(set(grams))
  return 100.0 * repeated / max(total, 1)


def length_ratio(hyps, refs) -> float:
  return sum(len(words(h)) for h in hyps) / max(sum(len(words(r)) for r in refs), 1)


def rare_word_stats(hyps, refs, train_counts: collections.Counter | None,
                    max_count: int = 5) -> dict:
  """Recall of reference words by their training frequency.

  A reference word is *rare* if it occurs at most `max_count` times in the
  training targets (unseen words included). Recall = share of reference
  word tokens that the hypothesis of the same sentence contains.
  """
  if train_counts is None:
    return {}
  hits = collections.Counter()
  seen = collections.Counter()
  for h, r in zip(hyps, refs):
    hw = collections.Counter(words(h))
    for w in words(r):
      cls = "unseen" if train_counts[w] == 0 else ("rare" if train_counts[w] <= max_count
                                                   else "frequent")
      seen[cls] += 1
      if hw[w] > 0:
        hits[cls] += 1
        hw[w] -= 1
  return {f"recall_{c}": 100.0 * hits[c] / seen[c] for c in seen} | {
      f"num_{c}": seen[c] for c in seen}


def unk_rate(texts: Sequence[str], tokenizer) -> float:
  """Share of tokens mapped to <unk> by `tokenizer` (%)."""
  total = unk = 0
  for t in texts:
    ids = tokenizer.encode(t)
    total += len(ids)
    unk += sum(1 for i in ids if i == tokenizer.unk_id)
  return 100.0 * unk / max(total, 1)


def plot_bleu_by_length(rows_by_system: dict[str, list[dict]], path: str, title: str = ""):
  """Line plot of BLEU against source length, one line per system."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, rows in rows_by_system.items():
    # Error bars where rows carry a spread over seeds; each bucket's sentence count goes
    # into its label, since a BLEU over 11 sentences is worth less than one over 600.
    labels = [f"{r['bucket']}\n(n={r['n']})" if "n" in r else r["bucket"] for r in rows]
    ax.errorbar(labels, [r["bleu"] for r in rows], yerr=[r.get("bleu_std", 0.0) for r in rows],
                marker="o", capsize=3, label=name)
  ax.set_xlabel("source sentence length (words)")
  ax.set_ylabel("BLEU")
  ax.set_title(title or "BLEU by source length")
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def plot_attention(src_tokens: list[str], tgt_tokens: list[str], weights_TxS, path: str):
  """Heatmap of one sentence's attention: rows target tokens, columns source tokens."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  w = np.asarray(weights_TxS)[: len(tgt_tokens), : len(src_tokens)]
  fig, ax = plt.subplots(figsize=(max(3, 0.4 * len(src_tokens) + 1.5),
                                  max(3, 0.4 * len(tgt_tokens) + 1)))
  ax.imshow(w, cmap="Greys", vmin=0.0, vmax=max(float(w.max()), 1e-6), aspect="auto")
  ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=90, fontsize=8)
  ax.set_yticks(range(len(tgt_tokens)), tgt_tokens, fontsize=8)
  ax.set_xlabel("source")
  ax.set_ylabel("output")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def write_tsv(rows: list[dict], path: str):
  if not rows:
    open(path, "w").close()
    return
  keys = list(rows[0])
  with open(path, "w") as f:
    f.write("\t".join(keys) + "\n")
    for r in rows:
      f.write("\t".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys)
              + "\n")


def full_report(srcs, hyps, refs, out_dir: str, *, train_counts=None, src_tokenizer=None) -> dict:
  """Writes hypotheses, metrics and analysis to `out_dir`; returns the metrics."""
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "hypotheses.txt"), "w") as f:
    f.writelines(h + "\n" for h in hyps)
  b, c, t = evaluation.bleu(hyps, refs), evaluation.chrf(hyps, refs), evaluation.ter(hyps, refs)
  report = {
      "bleu": b.score, "bleu_signature": b.signature, "chrf": c.score,
      "chrf_signature": c.signature, "ter": t.score, "ter_signature": t.signature,
      "wer": wer(hyps, refs), **{k: v for k, v in rouge(hyps, refs).items()},
      "length_ratio": length_ratio(hyps, refs),
      "repetition_rate_hyp": repetition_rate(hyps), "repetition_rate_ref": repetition_rate(refs),
      **rare_word_stats(hyps, refs, train_counts),
  }
  if src_tokenizer is not None:
    report["source_unk_rate"] = unk_rate(srcs, src_tokenizer)
  rows = bleu_by_length(srcs, hyps, refs)
  write_tsv(rows, os.path.join(out_dir, "bleu_by_length.tsv"))
  plot_bleu_by_length({"model": rows}, os.path.join(out_dir, "bleu_by_length.png"))
  report["bleu_by_length"] = rows
  return report

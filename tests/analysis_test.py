"""Evaluation metrics and analysis on hand-checked examples."""
import collections
import json
import os

import numpy as np
import pytest

from seq2seq_jax import analysis, evaluation


def test_sacrebleu_scores_carry_signatures():
  refs = ["the cat sat on the mat", "open the file now"]
  b = evaluation.bleu(refs, refs)
  assert b.score == pytest.approx(100.0) and "tok:13a" in b.signature
  assert evaluation.chrf(refs, refs).score == pytest.approx(100.0)
  assert evaluation.ter(refs, refs).score == pytest.approx(0.0)
  with pytest.raises(ValueError, match="1 hypotheses but 2 references"):
    evaluation.bleu(refs[:1], refs)


def test_wer_and_rouge_match_hand_computed_values():
  assert analysis.wer(["a b c d"], ["a x c d"]) == pytest.approx(25.0)
  assert analysis.wer(["a b"], ["a b c d"]) == pytest.approx(50.0)
  r = analysis.rouge(["a b c d"], ["a b c d"])
  assert r["rouge1"] == pytest.approx(100.0) and r["rougeL"] == pytest.approx(100.0)
  assert analysis.rouge(["x y"], ["a b"])["rouge1"] == 0.0


def test_repetition_rate_counts_repeated_ngrams():
  assert analysis.repetition_rate(["a b a b a b"], n=2) == pytest.approx(100 * 3 / 5)
  assert analysis.repetition_rate(["a b c d"], n=2) == 0.0


def test_bleu_by_length_buckets_every_sentence_once():
  srcs = ["w " * 5, "w " * 15, "w " * 16, "w " * 45]
  refs = ["a b c d", "e f g h", "i j k l", "m n o p"]
  rows = analysis.bleu_by_length(srcs, refs, refs)
  assert [r["bucket"] for r in rows] == ["1-10", "11-20", "41-50"]
  assert sum(r["n"] for r in rows) == 4
  assert all(r["bleu"] == pytest.approx(100.0) for r in rows)


def test_rare_word_recall_by_training_frequency():
  counts = collections.Counter({"common": 100, "rare": 2})
  stats = analysis.rare_word_stats(["common rare"], ["common rare novel"], counts, max_count=5)
  assert stats["recall_frequent"] == 100.0 and stats["recall_rare"] == 100.0
  assert stats["recall_unseen"] == 0.0 and stats["num_unseen"] == 1


def test_full_report_writes_files_and_plots(tmp_path):
  srcs = ["one two three", "four five six seven eight nine ten eleven twelve"]
  refs = ["eins zwei drei", "vier fünf sechs sieben acht neun zehn elf zwölf"]
  hyps = ["eins zwei zwei", "vier fünf sechs sieben acht"]
  report = analysis.full_report(srcs, hyps, refs, str(tmp_path))
  for f in ("hypotheses.txt", "bleu_by_length.tsv", "bleu_by_length.png"):
    assert os.path.getsize(tmp_path / f) > 0
  assert open(tmp_path / "hypotheses.txt").read().splitlines() == hyps
  assert 0 < report["bleu"] < 100 and report["length_ratio"] == pytest.approx(8 / 12)
  json.dumps(report)
  analysis.plot_attention(["a", "b"], ["x", "y", "z"], np.eye(3, 2), str(tmp_path / "att.png"))
  assert os.path.getsize(tmp_path / "att.png") > 0

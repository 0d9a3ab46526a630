"""Corpus metrics on detokenized text, from sacreBLEU, with their signatures.

Scores are always computed on detokenized hypotheses against the raw
reference strings (never on subword ids), so they are comparable with
published sacreBLEU numbers; each result carries sacreBLEU's signature.
"""
from __future__ import annotations

import dataclasses

import sacrebleu


@dataclasses.dataclass(frozen=True)
class Score:
  name: str
  score: float
  signature: str

  def __str__(self):
    return f"{self.name} = {self.score:.2f}  ({self.signature})"


def _check(hyps, refs):
  if len(hyps) != len(refs):
    raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
  if not refs:
    raise ValueError("no references to score against")


def bleu(hyps: list[str], refs: list[str], tokenize: str = "13a") -> Score:
  _check(hyps, refs)
  metric = sacrebleu.BLEU(tokenize=tokenize)
  s = metric.corpus_score(hyps, [refs])
  return Score("BLEU", float(s.score), str(metric.get_signature()))


def chrf(hyps: list[str], refs: list[str]) -> Score:
  _check(hyps, refs)
  metric = sacrebleu.CHRF()
  s = metric.corpus_score(hyps, [refs])
  return Score("chrF2", float(s.score), str(metric.get_signature()))


def ter(hyps: list[str], refs: list[str]) -> Score:
  _check(hyps, refs)
  metric = sacrebleu.TER()
  s = metric.corpus_score(hyps, [refs])
  return Score("TER", float(s.score), str(metric.get_signature()))

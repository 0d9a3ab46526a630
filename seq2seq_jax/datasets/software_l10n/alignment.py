"""Sentence alignment of two renderings of one document.

Blocks (paragraphs, headings) are aligned with the length-based dynamic programme of Gale &
Church (1993), then sentences inside each aligned block pair the same way; only plausible
1-1 pairs are kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np


# Sentence boundary: end punctuation, space, then something that can start a sentence.
_SENT_BOUNDARY = re.compile(r'(?<=[.!?])\s+(?=["“„«(¿¡]?[A-ZÀ-ÝĀ-Ž0-9])')
_ABBREV = re.compile(
    r"(?:\b\w\.|\b(?:e\.g|i\.e|z\.\s?B|vgl|bzw|ca|Nr|Abb|ggf|evtl|inkl|bspw|usw|Mr|Mrs|Dr|St|"
    r"resp|env|approx|p\.ex|cf|fig|Fig|vs|No|Bd|Kap)\.)$")


def split_sentences(text: str) -> list[str]:
  """Splits a paragraph into sentences; no split after common abbreviations or initials."""
  sentences, start = [], 0
  for match in _SENT_BOUNDARY.finditer(text):
    if _ABBREV.search(text[start:match.start()]):
      continue
    sentences.append(text[start:match.start()].strip())
    start = match.end()
  sentences.append(text[start:].strip())
  return [s for s in sentences if s]


# Gale & Church (1993): bead priors and the variance of the length difference per character.
_BEAD_PRIORS = {(1, 1): 0.89, (1, 0): 0.0099 / 2, (0, 1): 0.0099 / 2, (2, 1): 0.089 / 2,
                (1, 2): 0.089 / 2, (2, 2): 0.011}
_BEAD_COST = {bead: -math.log(p) for bead, p in _BEAD_PRIORS.items()}
_BEADS = tuple(_BEAD_PRIORS)
_GC_VARIANCE = 6.8


def _length_cost(len_en, len_tgt, ratio: float):
  """-log P(length difference | same content), the Gale–Church length model.

  Works on numbers or numpy arrays. The two-sided normal tail erfc(z/√2) is computed in log
  space with the Abramowitz–Stegun 7.1.26 approximation (error < 2e-7), which neither
  underflows for very different lengths nor needs scipy.
  """
  len_en, len_tgt = np.asarray(len_en, float), np.asarray(len_tgt, float)
  mean = np.maximum((len_en + len_tgt / ratio) / 2, 1e-9)
  x = np.abs(ratio * len_en - len_tgt) / np.sqrt(_GC_VARIANCE * mean) / math.sqrt(2)
  t = 1 / (1 + 0.3275911 * x)
  poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                       + t * 1.061405429))))
  return x * x - np.log(poly)


def gale_church(en_lens: Sequence[int], tgt_lens: Sequence[int],
                ratio: float | None = None) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
  """Aligns two sequences of blocks by length (Gale & Church 1993).

  Returns the beads of the cheapest alignment as (English indices, target indices); beads are
  1-1, 1-0, 0-1, 2-1, 1-2 or 2-2. ``ratio`` is the expected target/English length ratio and
  defaults to the ratio of the totals. The dynamic programme runs row by row in numpy over a
  band around the diagonal, so documents with thousands of blocks take milliseconds.
  """
  n, m = len(en_lens), len(tgt_lens)
  if ratio is None:
    ratio = (sum(tgt_lens) + 1) / (sum(en_lens) + 1)
  ratio = min(max(ratio, 0.5), 2.0)
  band = abs(n - m) + 20
  en_sum = np.concatenate([[0], np.cumsum(en_lens, dtype=float)])  # prefix sums of lengths
  tgt_sum = np.concatenate([[0], np.cumsum(tgt_lens, dtype=float)])
  cost = np.full((n + 1, m + 1), np.inf)
  back = np.full((n + 1, m + 1), -1, dtype=np.int8)  # index into _BEADS
  insert = _BEADS.index((0, 1))
  for i in range(n + 1):
    centre = round(i * m / n) if n else 0
    lo, hi = max(0, centre - band), min(m, centre + band)
    j = np.arange(lo, hi + 1)
    best = np.full(len(j), np.inf)
    arg = np.full(len(j), -1, dtype=np.int8)
    if i == 0 and lo == 0:
      best[0] = 0.0
    for b, (di, dj) in enumerate(_BEADS):
      if di == 0 or di > i:
        continue  # 0-1 beads depend on this row: handled below
      prev_j = j - dj
      ok = prev_j >= 0
      total = np.full(len(j), np.inf)
      total[ok] = (cost[i - di, prev_j[ok]] + _BEAD_COST[(di, dj)] + _length_cost(
          en_sum[i] - en_sum[i - di], tgt_sum[j[ok]] - tgt_sum[prev_j[ok]], ratio))
      better = total < best
      best[better], arg[better] = total[better], b
    # 0-1 beads chain along the row: best[k] = min over t <= k of best[t] + step[t+1..k].
    step = _BEAD_COST[(0, 1)] + _length_cost(0, tgt_sum[j] - tgt_sum[np.maximum(j - 1, 0)],
                                             ratio)
    step[0] = 0.0  # no 0-1 bead into the first cell of the band
    acc = np.cumsum(step)
    chained = np.minimum.accumulate(best - acc) + acc
    from_left = chained < best - 1e-9
    best[from_left], arg[from_left] = chained[from_left], insert
    cost[i, lo:hi + 1], back[i, lo:hi + 1] = best, arg
  if not np.isfinite(cost[n, m]):
    return []
  beads, i, j = [], n, m
  while i or j:
    di, dj = _BEADS[back[i, j]]
    beads.append((tuple(range(i - di, i)), tuple(range(j - dj, j))))
    i, j = i - di, j - dj
  return beads[::-1]


def align_blocks(en_blocks: Sequence[str], tgt_blocks: Sequence[str], max_z: float = 2.5,
                 min_anchor_share: float | None = None) -> list[tuple[str, str]]:
  """Aligns two renderings of the same document and returns 1-1 sentence pairs.

  Blocks are aligned first; inside each 1-1 block bead, sentences are aligned again the same
  way (:func:`sentence_pairs`), so long paragraphs still yield pairs under the 50-word limit.
  Only 1-1 beads whose lengths are plausible (|z| <= ``max_z``) are kept: merges and skips
  are where alignments go wrong. A document pair where fewer than half the blocks align 1-1
  is probably two different versions of the text and yields nothing.

  Lengths alone cannot align lists that each language sorts alphabetically (book indexes,
  glossaries). With ``min_anchor_share`` set, a document yields nothing when its 1-1 block
  pairs both share a word of 4+ letters or a number (names, versions) less often than that
  and their log lengths correlate below 0.9. Correctly aligned manuals score a share of
  0.5-1 (GIMP) or 0.1-0.3 (KDE, which translates most names) with a correlation around
  0.98; GIMP's re-sorted index scores 0.03 and 0.63. Mallard pages, whose structure matches
  by construction, do not need the check.
  """
  if not en_blocks or not tgt_blocks:
    return []
  ratio = (sum(map(len, tgt_blocks)) + 1) / (sum(map(len, en_blocks)) + 1)
  beads = gale_church([len(b) for b in en_blocks], [len(b) for b in tgt_blocks], ratio)
  one_to_one = [(en_blocks[e[0]], tgt_blocks[t[0]]) for e, t in beads if len(e) == len(t) == 1]
  if len(one_to_one) < 0.5 * max(len(en_blocks), len(tgt_blocks)):
    return []
  if min_anchor_share is not None and len(one_to_one) >= 8:
    shared = sum(bool(_anchors(en) & _anchors(tgt)) for en, tgt in one_to_one)
    if shared < min_anchor_share * len(one_to_one) and _length_correlation(one_to_one) < 0.9:
      return []
  pairs = []
  for en, tgt in one_to_one:
    pairs += sentence_pairs(en, tgt, ratio, max_z)
  return pairs


def sentence_pairs(en: str, tgt: str, ratio: float | None = None,
                   max_z: float = 2.5) -> list[tuple[str, str]]:
  """Splits an aligned paragraph pair into aligned sentence pairs (1-1 beads only)."""
  if ratio is None:
    ratio = (len(tgt) + 1) / (len(en) + 1)
  en_sents, tgt_sents = split_sentences(en), split_sentences(tgt)
  if len(en_sents) == len(tgt_sents):  # the usual case; lengths are still checked below
    candidates = list(zip(en_sents, tgt_sents))
  else:
    beads = gale_church([len(s) for s in en_sents], [len(s) for s in tgt_sents], ratio)
    candidates = [(en_sents[e[0]], tgt_sents[t[0]]) for e, t in beads if len(e) == len(t) == 1]
  return [(e, t) for e, t in candidates if _plausible_lengths(e, t, ratio, max_z)]


_ANCHOR = re.compile(r"\w{4,}|\d+")
MIN_ANCHOR_SHARE = 0.3  # used for rendered HTML manuals (see align_blocks)


def _anchors(text: str) -> set[str]:
  return set(_ANCHOR.findall(text.casefold()))


def _length_correlation(pairs: Sequence[tuple[str, str]]) -> float:
  """Pearson correlation of the log lengths of paired blocks (0 when either is constant)."""
  en = np.log1p([len(e) for e, _ in pairs])
  tgt = np.log1p([len(t) for _, t in pairs])
  if en.std() == 0 or tgt.std() == 0:
    return 0.0
  return float(np.corrcoef(en, tgt)[0, 1])


def _plausible_lengths(en: str, tgt: str, ratio: float, max_z: float) -> bool:
  mean = (len(en) + len(tgt) / ratio) / 2
  return mean > 0 and abs(ratio * len(en) - len(tgt)) / math.sqrt(_GC_VARIANCE * mean) <= max_z

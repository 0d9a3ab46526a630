"""How repetitive generated text is: distinct-n (Li et al. 2016) and the share of
repeated n-grams within a text (Welleck et al. 2020's seq-rep-n).

    distinct_n(texts, n)    = |unique n-grams over all texts| / |n-grams over all texts|
    repeated_share(texts, n) = mean over texts of 1 - |unique n-grams| / |n-grams|

over whitespace tokens. Low distinct-n and a high repeated share are the degenerate
loops of greedy and beam decoding ("the the the", a clause repeated); sampling trades
them for less likely text. Texts shorter than n contribute no n-grams.
"""
from __future__ import annotations

from typing import Sequence


def ngrams(tokens: Sequence[str], n: int) -> list[tuple]:
  return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
  grams = [g for t in texts for g in ngrams(t.split(), n)]
  return len(set(grams)) / len(grams) if grams else 0.0


def repeated_share(texts: Sequence[str], n: int) -> float:
  shares = []
  for t in texts:
    grams = ngrams(t.split(), n)
    if grams:
      shares.append(1.0 - len(set(grams)) / len(grams))
  return sum(shares) / len(shares) if shares else 0.0


def report(texts: Sequence[str]) -> dict:
  """distinct-1/2/3, repeated 1/2/4-gram shares and the mean length in tokens."""
  out = {f"distinct_{n}": distinct_n(texts, n) for n in (1, 2, 3)}
  out.update({f"repeated_{n}gram_share": repeated_share(texts, n) for n in (1, 2, 4)})
  out["mean_tokens"] = sum(len(t.split()) for t in texts) / max(len(texts), 1)
  return out

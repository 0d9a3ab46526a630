"""The vocabulary of a language model and the token stream of a split.

Word level: a line's tokens are its whitespace-separated words (PTB is already tokenised,
rare words ``<unk>``); character level: its characters. Every line ends with ``<eos>``
(Mikolov et al. 2010), so the stream of a split is

    ids = [id(t) for line in lines for t in tokens(line) + ["<eos>"]]

and PTB's stream has 929,589 / 73,760 / 82,430 tokens and 10,000 types -- the numbers
every PTB paper's perplexity is normalised by. Types are ordered by decreasing training
count (ties alphabetically), ``<eos>`` counted once per line. A token outside the
vocabulary becomes ``<unk>``, which is added (count 0) if training never saw it.

Saved with every checkpoint as JSON (``vocab.json``): characters such as a space are
tokens at character level, which a one-token-per-line file could not hold.
"""
from __future__ import annotations

import collections
import json
import os
from typing import Iterable, Sequence

import numpy as np

EOS, UNK = "<eos>", "<unk>"
LEVELS = ("word", "char")


def tokens_of(line: str, level: str) -> list[str]:
  return line.split() if level == "word" else list(line)


class Vocab:
  """Token <-> id for a language model (see the module docstring)."""

  FORMAT = "seq2seq_jax-lm-vocab v1"

  def __init__(self, tokens: Sequence[str], counts: Sequence[int], level: str):
    if level not in LEVELS:
      raise ValueError(f"vocabulary level must be one of {LEVELS}, got {level!r}")
    self.tokens, self.counts, self.level = list(tokens), list(counts), level
    self.index = {t: i for i, t in enumerate(self.tokens)}
    if len(self.index) != len(self.tokens):
      raise ValueError("vocabulary tokens must be unique")
    for t in (EOS, UNK):
      if t not in self.index:
        raise ValueError(f"a vocabulary must hold {t}")
    self.eos_id, self.unk_id = self.index[EOS], self.index[UNK]

  def __len__(self) -> int:
    return len(self.tokens)

  @classmethod
  def build(cls, lines: Iterable[str], level: str = "word", max_size: int = 0,
            min_count: int = 1) -> "Vocab":
    """From the training lines; `max_size` > 0 keeps that many types (with <eos> and
    <unk>), rarer ones become <unk>; types seen fewer than `min_count` times too."""
    if level not in LEVELS:
      raise ValueError(f"lm.level must be one of {LEVELS}, got {level!r}")
    counter, num_lines = collections.Counter(), 0
    for line in lines:
      counter.update(tokens_of(line, level))
      num_lines += 1
    counter[EOS] += num_lines
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [(t, c) for t, c in items if c >= min_count or t == EOS]
    if max_size:
      if max_size < 3:
        raise ValueError(f"lm.vocab_size must be >= 3 (<eos>, <unk> and a word), got {max_size}")
      has_unk = any(t == UNK for t, _ in kept[:max_size])
      kept = kept[:max_size if has_unk else max_size - 1]
    dropped = sum(counter.values()) - sum(c for _, c in kept)
    if not any(t == UNK for t, _ in kept):
      kept.append((UNK, dropped))
    elif dropped:
      kept = [(t, c + dropped if t == UNK else c) for t, c in kept]
    return cls([t for t, _ in kept], [c for _, c in kept], level)

  def encode(self, lines: Iterable[str]) -> tuple[np.ndarray, int]:
    """(ids int32 [N], the number of tokens that became <unk>) of `lines` as one stream."""
    ids, oov, get, unk = [], 0, self.index.get, self.unk_id
    for line in lines:
      for t in tokens_of(line, self.level):
        i = get(t)
        if i is None:
          i, oov = unk, oov + 1
        ids.append(i)
      ids.append(self.eos_id)
    return np.asarray(ids, np.int32), oov

  def decode(self, ids: Iterable[int], stop_at_eos: bool = False) -> str:
    """Text of `ids`: words joined by spaces (characters joined), <eos> as a newline."""
    out = []
    for i in ids:
      t = self.tokens[int(i)]
      if t == EOS:
        if stop_at_eos:
          break
        out.append("\n")
      else:
        out.append(t)
    if self.level == "char":
      return "".join(out)
    return " ".join(out).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n")

  def save(self, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
      json.dump({"format": self.FORMAT, "level": self.level, "tokens": self.tokens,
                 "counts": self.counts}, f, ensure_ascii=False)
    os.replace(f"{path}.tmp", path)

  @classmethod
  def load(cls, path: str) -> "Vocab":
    with open(path, encoding="utf-8") as f:
      d = json.load(f)
    if d.get("format") != cls.FORMAT:
      raise ValueError(f"{path} is not a language-model vocabulary ({cls.FORMAT})")
    return cls(d["tokens"], d["counts"], d["level"])

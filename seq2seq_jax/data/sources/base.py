"""The source types every dataset kind returns: :class:`ParallelSource` and its in-memory form.

A source is a random-access sequence of ``(src, tgt)`` string pairs. Random access
(``__len__`` / ``__getitem__``) is what makes the grain pipeline's shuffling seedable and its
iterator position checkpointable, so every backend is random access; nothing is streamed.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Iterator, Sequence

# Split names that mean the same thing; the first existing one is used.
SPLIT_ALIASES = {
    "validation": ("validation", "dev", "valid"),
    "dev": ("dev", "validation", "valid"),
    "valid": ("valid", "validation", "dev"),
}


class DatasetError(ValueError):
  """A dataset that cannot be used as named: an unknown dataset, config, split or
  language, an empty split, misaligned or non-UTF-8 files, text a tokenizer cannot be
  trained on. The message says which and, where it can, what exists."""


class ParallelSource:
  """Random-access sequence of ``(src, tgt)`` sentence pairs.

  Satisfies grain's ``RandomAccessDataSource`` protocol (``__len__`` and
  ``__getitem__`` with an integer key), so it can be passed directly to
  ``grain.MapDataset.source``. Subclasses implement :meth:`_get`.

  Attributes:
    name: the dataset name it was loaded under (for logs and errors).
    split: split name.
    src_lang / tgt_lang: language codes of the two sides.
  """

  def __init__(self, name: str, split: str, src_lang: str, tgt_lang: str):
    self.name = name
    self.split = split
    self.src_lang = src_lang
    self.tgt_lang = tgt_lang

  def __len__(self) -> int:
    raise NotImplementedError

  def _get(self, index: int) -> tuple[str, str]:
    raise NotImplementedError

  def __getitem__(self, index) -> tuple[str, str]:
    # `index` may be a numpy integer (grain passes those); negative
    # indices count from the end like a list. Out-of-range raises
    # IndexError so that plain `for pair in source` terminates.
    i = int(index)
    n = len(self)
    if i < 0:
      i += n
    if not 0 <= i < n:
      raise IndexError(f"index {index} out of range for {self!r}")
    return self._get(i)

  def get_many(self, indices: Sequence[int]) -> list[tuple[str, str]]:
    """Reads several pairs at once (backends may batch the reads)."""
    return [self[i] for i in indices]

  def __getitems__(self, indices: Sequence[int]) -> list[tuple[str, str]]:
    # Batched-read hook used by grain and PyTorch-style loaders.
    return self.get_many(indices)

  def iter_pairs(self, indices: Iterable[int] | None = None,
                 chunk_size: int = 1024) -> Iterator[tuple[str, str]]:
    """Iterates pairs (all, or those at `indices`, in that order).

    Reads go through :meth:`get_many` in chunks: for ArrayRecord-backed
    TFDS sources one batched read is far cheaper than many single reads.
    """
    it = iter(range(len(self)) if indices is None else indices)
    while True:
      chunk = list(itertools.islice(it, chunk_size))
      if not chunk:
        return
      yield from self.get_many(chunk)

  def __iter__(self) -> Iterator[tuple[str, str]]:
    return self.iter_pairs()

  def side(self, which: str, indices: Iterable[int] | None = None) -> Iterator[str]:
    """Iterates the texts of one side (``'src'`` or ``'tgt'``).

    Used to train tokenizers; ``indices`` restricts (and orders) the
    examples read, e.g. a random subsample of a large corpus.
    """
    if which not in ("src", "tgt"):
      raise ValueError(f"side must be 'src' or 'tgt', got {which!r}")
    k = 0 if which == "src" else 1
    return (pair[k] for pair in self.iter_pairs(indices))

  def __repr__(self) -> str:
    return (
        f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, "
        f"{self.src_lang}->{self.tgt_lang}, len={len(self)})"
    )


class InMemoryParallelSource(ParallelSource):
  """Pairs held as two Python lists (plain text files, tests, small data).

  A 200k-pair corpus takes a few tens of MB this way, which is cheaper than
  any on-disk random-access format would be to build.
  """

  def __init__(
      self,
      src: Sequence[str],
      tgt: Sequence[str],
      *,
      name: str = "in_memory",
      split: str = "train",
      src_lang: str = "src",
      tgt_lang: str = "tgt",
  ):
    super().__init__(name, split, src_lang, tgt_lang)
    if len(src) != len(tgt):
      raise ValueError(
          f"source and target have different numbers of sentences: "
          f"{len(src)} vs {len(tgt)}"
      )
    self._src = list(src)
    self._tgt = list(tgt)

  def __len__(self) -> int:
    return len(self._src)

  def _get(self, index: int) -> tuple[str, str]:
    return self._src[index], self._tgt[index]

  def get_many(self, indices: Sequence[int]) -> list[tuple[str, str]]:
    n = len(self._src)
    out = []
    for i in indices:
      i = int(i)
      if not 0 <= i < n:
        raise IndexError(f"index {i} out of range for {self!r}")
      out.append((self._src[i], self._tgt[i]))
    return out

  def side(self, which: str, indices: Iterable[int] | None = None) -> Iterator[str]:
    if which not in ("src", "tgt"):
      raise ValueError(f"side must be 'src' or 'tgt', got {which!r}")
    texts = self._src if which == "src" else self._tgt
    if indices is None:
      return iter(texts)
    return (texts[int(i)] for i in indices)


def from_lists(
    src: Sequence[str],
    tgt: Sequence[str],
    src_lang: str = "src",
    tgt_lang: str = "tgt",
    *,
    name: str = "in_memory",
    split: str = "train",
) -> InMemoryParallelSource:
  """Wraps two aligned lists of sentences as a :class:`ParallelSource`."""
  return InMemoryParallelSource(
      src, tgt, name=name, split=split, src_lang=src_lang, tgt_lang=tgt_lang
  )

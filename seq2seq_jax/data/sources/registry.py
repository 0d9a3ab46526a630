"""The dataset-name registry: which loader serves a name given to :func:`load_parallel`.

Each dataset kind (a module of this package) declares a :class:`Kind`: the names it claims
(a prefix such as ``text:``, or a shape such as a TFDS name), those names in words for
error messages, and its loader. The package ``__init__`` registers the kinds; they are
tried in registration order and the first that claims a name loads it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

from seq2seq_jax.data.sources.base import DatasetError, ParallelSource


class Loader(Protocol):
  """Loads one split of a dataset name its kind claims."""

  def __call__(self, name: str, split: str, src_lang: str, tgt_lang: str,
               data_dir: str | None) -> ParallelSource: ...


@dataclasses.dataclass(frozen=True)
class Kind:
  """One kind of dataset name.

  Attributes:
    name: short name of the kind, e.g. ``'text'``.
    forms: the dataset names it accepts, in words, e.g. ``"'text:<dir>'"``.
    claims: whether a dataset name is of this kind.
    load: ``load(name, split, src_lang, tgt_lang, data_dir)`` -> :class:`ParallelSource`.
  """

  name: str
  forms: str
  claims: Callable[[str], bool]
  load: Loader


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
  """Adds ``kind`` after those registered before it; a kind name may register once."""
  if kind.name in _KINDS:
    raise ValueError(f"dataset kind {kind.name!r} is already registered")
  _KINDS[kind.name] = kind
  return kind


def accepted_forms() -> str:
  """The dataset names every registered kind accepts, for error messages."""
  return "; ".join(f"{kind.name}: {kind.forms}" for kind in _KINDS.values())


def load_parallel(name: str, split: str, src_lang: str, tgt_lang: str,
                  data_dir: str | None = None) -> ParallelSource:
  """Loads split `split` of parallel dataset `name` as ``(src, tgt)`` pairs.

  Args:
    name: dataset name, of one of the registered kinds (see the package docstring).
    split: ``train``, ``validation`` (aliases ``dev``, ``valid``) or
      ``test``; TFDS names also accept slices such as ``train[:1000]``.
    src_lang / tgt_lang: language codes; TFDS feature keys or file suffixes.
    data_dir: TFDS data directory (ignored by the other kinds).

  Raises:
    DatasetError: unknown dataset name (the message lists the accepted forms),
      config, split or language; an empty split of text files.
    FileNotFoundError: missing text file/directory, or TFDS dataset not
      prepared (:class:`DatasetNotPreparedError`).
    ImportError: our own builder module cannot be imported.
  """
  for kind in _KINDS.values():
    if kind.claims(name):
      return kind.load(name, split, src_lang, tgt_lang, data_dir)
  raise DatasetError(f"Unknown dataset {name!r}. Accepted forms: {accepted_forms()}")

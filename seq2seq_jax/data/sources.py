"""Parallel text sources, selected by name.

Every corpus the project trains or evaluates on reaches the input pipeline
through one function, :func:`load_parallel`, and one type,
:class:`ParallelSource`: a random-access sequence of ``(src, tgt)`` string
pairs. Random access (``__len__`` / ``__getitem__``) is what makes the grain
pipeline's shuffling seedable and its iterator position checkpointable, so
every backend below is random access; nothing is streamed.

Accepted dataset names (``name`` argument of :func:`load_parallel`):

``software_l10n/<config>``
    Our own TFDS builder (module :mod:`seq2seq_jax.data.software_l10n`,
    configs such as ``en-de`` or ``en-de-small``). The module is imported
    lazily, which registers the builder with TFDS, and the dataset is built
    on first use (``download_and_prepare(file_format='array_record')``, see
    :func:`prepare_tfds`).

``<tfds_name>[/<config>][:<version>]``
    Any other TFDS dataset whose features hold one text per language code,
    e.g. ``wmt14_translate/de-en`` or ``ted_hrlr_translate/pt_to_en``. It is
    read with ``tfds`` data sources (ArrayRecord files; TensorFlow is not
    needed), so it must already be prepared in ``data_dir`` in the
    ``array_record`` file format: there is no network access to download it.

``text:<dir>`` or an existing directory path
    Plain aligned text files ``<dir>/<split>.<lang>``, optionally gzipped
    (``<dir>/<split>.<lang>.gz``), one sentence per line. Split names
    ``validation``, ``dev`` and ``valid`` are aliases of one another.

Anything else raises :class:`ValueError` naming the dataset and these forms.
Missing files raise :class:`FileNotFoundError` naming the path; a TFDS
dataset that is known but not prepared raises
:class:`DatasetNotPreparedError` (a ``FileNotFoundError``) that says how to
prepare it.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import itertools
import os
import re
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from absl import logging

__all__ = [
    "ParallelSource",
    "InMemoryParallelSource",
    "TfdsParallelSource",
    "DatasetNotPreparedError",
    "load_parallel",
    "load_text_dir",
    "prepare_tfds",
    "from_lists",
    "OWN_TFDS_MODULES",
    "ACCEPTED_FORMS",
]

# TFDS names of builders that live in this repository, mapped to the module
# that defines (and thereby registers) them. Only these are built on demand;
# standard TFDS datasets would need the network.
OWN_TFDS_MODULES: dict[str, str] = {
    "software_l10n": "seq2seq_jax.data.software_l10n",
}

ACCEPTED_FORMS = (
    "'software_l10n/<config>' (our TFDS builder, e.g. software_l10n/en-de), "
    "'<tfds_name>/<config>' (a prepared TFDS translation dataset, e.g. "
    "wmt14_translate/de-en or ted_hrlr_translate/pt_to_en), or "
    "'text:<dir>' / an existing directory holding <split>.<lang>[.gz] files, "
    "or 'synthetic/copy' / 'synthetic/reverse' (generated word sequences)"
)

# Split names that mean the same thing; the first existing one is used.
_SPLIT_ALIASES = {
    "validation": ("validation", "dev", "valid"),
    "dev": ("dev", "validation", "valid"),
    "valid": ("valid", "validation", "dev"),
}

# `name`, `name/config`, `name:1.0.0`, `name/config:1.0.0`. Config names in
# TFDS may contain dashes and dots (`de-en`, `en-de-small`).
_TFDS_NAME_RE = re.compile(
    r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.\-]+)?(:[0-9.*]+)?$"
)


class DatasetNotPreparedError(FileNotFoundError):
  """A known TFDS dataset whose files are not in ``data_dir``."""


# --------------------------------------------------------------------------
# Source types.
# --------------------------------------------------------------------------


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


class TfdsParallelSource(ParallelSource):
  """Wraps a ``tfds`` random-access data source (ArrayRecord).

  Each TFDS record is a dict of features; the two sides are the features
  keyed by the language codes. Text features come back as ``bytes`` and
  are decoded as UTF-8 here.

  With ``raw=True`` the data source returns the serialized ``tf.train.Example``
  bytes and only the two text fields are pulled out of the proto. TFDS's
  generic feature decoding costs ~30 us per record in Python, ten times
  the proto parse, and would cap the training pipeline at ~17k pairs/s;
  :func:`_load_tfds` uses the raw path whenever both sides are plain
  top-level ``Text`` features.
  """

  def __init__(self, data_source: Any, *, name: str, split: str, src_lang: str,
               tgt_lang: str, raw: bool = False):
    super().__init__(name, split, src_lang, tgt_lang)
    self._ds = data_source
    self._len = len(data_source)
    self._raw = bool(raw)

  def __len__(self) -> int:
    return self._len

  def _pair(self, record: Any) -> tuple[str, str]:
    if self._raw:
      return _parse_text_pair(record, self.src_lang, self.tgt_lang)
    return _to_str(record[self.src_lang]), _to_str(record[self.tgt_lang])

  def _get(self, index: int) -> tuple[str, str]:
    return self._pair(self._ds[index])

  def get_many(self, indices: Sequence[int]) -> list[tuple[str, str]]:
    # ArrayRecord reads a batch of records with parallel C++ reads; one by
    # one, each read costs ~0.5 ms.
    idx = [int(i) for i in indices]
    for i in idx:
      if not 0 <= i < self._len:
        raise IndexError(f"index {i} out of range for {self!r}")
    records = self._ds.__getitems__(idx) if idx else []
    return [self._pair(r) for r in records]


def _parse_text_pair(record: bytes, src_key: str, tgt_key: str) -> tuple[str, str]:
  """Two text features of a serialized ``tf.train.Example`` as str."""
  feats = _example_proto().FromString(record).features.feature
  out = []
  for key in (src_key, tgt_key):
    values = feats[key].bytes_list.value
    out.append(values[0].decode("utf-8") if values else "")
  return out[0], out[1]


@functools.cache
def _example_proto():
  from tensorflow_datasets.proto import tf_example_pb2  # pylint: disable=g-import-not-at-top
  return tf_example_pb2.Example


def _raw_text_ok(builder, keys: Sequence[str]) -> bool:
  """Whether `keys` are plain top-level Text features stored as tf.Examples."""
  tfds = _tfds()
  features = builder.info.features
  for k in keys:
    f = features[k]
    # Exactly Text: subclasses may encode differently.
    if type(f) is not tfds.features.Text:  # pylint: disable=unidiomatic-typecheck
      return False
    if getattr(f, "encoder", None) is not None:
      return False
  return True


def _to_str(x: Any) -> str:
  if isinstance(x, bytes):
    return x.decode("utf-8")
  if isinstance(x, np.ndarray) and x.shape == ():
    return _to_str(x.item())
  return str(x)


# --------------------------------------------------------------------------
# Plain text files.
# --------------------------------------------------------------------------


def _read_lines(path: str) -> list[str]:
  """Reads a UTF-8 file (gzipped if it ends in .gz) into a list of lines.

  Lines are split on '\\n' only (a trailing '\\r' is dropped): Python's
  `str.splitlines` also splits on characters like U+2028 or U+001C that do
  occur inside sentences of real corpora and would silently misalign the
  two sides.
  """
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt", encoding="utf-8", newline="") as f:
    data = f.read()
  lines = data.split("\n")
  if lines and lines[-1] == "":
    lines.pop()  # The file ends with a newline.
  return [l[:-1] if l.endswith("\r") else l for l in lines]


def _find_text_file(directory: str, split: str, lang: str) -> str:
  """Returns `<dir>/<split>.<lang>[.gz]`, trying split aliases."""
  tried = []
  for s in _SPLIT_ALIASES.get(split, (split,)):
    for suffix in ("", ".gz"):
      path = os.path.join(directory, f"{s}.{lang}{suffix}")
      if os.path.isfile(path):
        return path
      tried.append(path)
  raise FileNotFoundError(
      f"No file for split {split!r}, language {lang!r}: {tried[0]} does not "
      f"exist (also tried: {', '.join(tried[1:])})"
  )


def load_text_dir(directory: str, split: str, src_lang: str, tgt_lang: str,
                  *, name: str | None = None) -> InMemoryParallelSource:
  """Loads aligned files `<directory>/<split>.<src_lang>` / `.<tgt_lang>`.

  Raises:
    FileNotFoundError: the directory or one of the files is missing.
    ValueError: the two files have different numbers of lines (the message
      names both files and both counts).
  """
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"Text dataset directory {directory} does not exist")
  src_path = _find_text_file(directory, split, src_lang)
  tgt_path = _find_text_file(directory, split, tgt_lang)
  src = _read_lines(src_path)
  tgt = _read_lines(tgt_path)
  if len(src) != len(tgt):
    raise ValueError(
        f"Line counts differ between aligned files: {src_path} has "
        f"{len(src)} lines, {tgt_path} has {len(tgt)} lines"
    )
  logging.info("Loaded %d pairs from %s and %s", len(src), src_path, tgt_path)
  return InMemoryParallelSource(
      src, tgt, name=name or f"text:{directory}", split=split,
      src_lang=src_lang, tgt_lang=tgt_lang,
  )


# --------------------------------------------------------------------------
# TFDS.
# --------------------------------------------------------------------------


def _tfds():
  # Imported lazily: `tensorflow_datasets` takes a moment to import and the
  # text-file path does not need it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  return tfds


def _base_name(name: str) -> str:
  return name.split("/", 1)[0].split(":", 1)[0]


def _import_own_builder(name: str) -> None:
  """Imports the module that registers one of our own TFDS builders."""
  module = OWN_TFDS_MODULES[_base_name(name)]
  try:
    importlib.import_module(module)
  except ImportError as e:
    raise ImportError(
        f"Dataset {name!r} needs the TFDS builder module {module}, which "
        f"could not be imported: {e}"
    ) from e


def _get_builder(name: str, data_dir: str | None, **builder_kwargs):
  """`tfds.builder` with our error types.

  Legacy TFDS builders (e.g. `wmt14_translate`) are only registered once
  their package is imported; `tensorflow_datasets.translate` is imported on
  a miss so those names resolve too.
  """
  tfds = _tfds()
  from tensorflow_datasets.core import registered  # pylint: disable=g-import-not-at-top

  def attempt():
    return tfds.builder(name, data_dir=data_dir, **builder_kwargs)

  try:
    return attempt()
  except registered.DatasetNotFoundError:
    pass
  try:
    importlib.import_module("tensorflow_datasets.translate")
    return attempt()
  except registered.DatasetNotFoundError:
    pass
  except ImportError:
    pass
  raise ValueError(
      f"Unknown dataset {name!r}: TFDS has no builder of that name and no "
      f"prepared copy in data_dir={data_dir!r}. Accepted forms: {ACCEPTED_FORMS}"
  )


def _array_record_format(builder) -> bool:
  fmt = getattr(builder.info, "file_format", None)
  return fmt is not None and "array_record" in str(getattr(fmt, "value", fmt)).lower()


def prepare_tfds(name: str, data_dir: str | None = None, **builder_kwargs):
  """Makes sure TFDS dataset `name` is prepared as ArrayRecord files.

  For our own builders (:data:`OWN_TFDS_MODULES`) this imports the builder
  module and runs ``download_and_prepare(file_format='array_record')`` if
  the data is not there yet (it builds from local files). For standard
  TFDS datasets nothing is downloaded (no network here): if the data is
  missing, a :class:`DatasetNotPreparedError` says how to prepare it
  elsewhere.

  Args:
    name: TFDS name, e.g. ``software_l10n/en-de-small``.
    data_dir: TFDS data directory (None: the TFDS default).
    **builder_kwargs: passed to ``tfds.builder``, e.g. ``source_dir=`` of
      the software_l10n builder to build offline from local packages.

  Returns:
    The prepared ``tfds.core.DatasetBuilder``.
  """
  own = _base_name(name) in OWN_TFDS_MODULES
  if own:
    _import_own_builder(name)
  builder = _get_builder(name, data_dir, **builder_kwargs)
  if not builder.is_prepared():
    if own:
      logging.info("Preparing TFDS dataset %s in %s", name, builder.data_dir)
      builder.download_and_prepare(file_format="array_record")
      builder = _get_builder(name, data_dir, **builder_kwargs)
    else:
      raise DatasetNotPreparedError(
          f"TFDS dataset {name!r} is not prepared in "
          f"data_dir={data_dir or '~/tensorflow_datasets (default)'} "
          f"(looked in {builder.data_dir}), and it cannot be downloaded "
          f"here. Prepare it on a machine with network access, e.g. "
          f"`tfds build {name} --file_format=array_record "
          f"--data_dir=<dir>` or in Python "
          f"`tfds.builder({name!r}, data_dir=<dir>).download_and_prepare("
          f"file_format='array_record')`, then copy <dir> here."
      )
  if not _array_record_format(builder):
    raise DatasetNotPreparedError(
        f"TFDS dataset {name!r} in {builder.data_dir} is stored as "
        f"{builder.info.file_format}, but random access needs "
        f"'array_record'. Convert it with `tfds convert_format "
        f"--dataset_version_dir={builder.data_dir} "
        f"--out_file_format=array_record` or re-prepare it with "
        f"file_format='array_record'."
    )
  return builder


def _resolve_split(builder, split: str) -> str:
  """Maps `dev`/`valid` to `validation` (and back) if needed.

  Slice syntax (`train[:1000]`) is passed through unchanged.
  """
  base, sep, rest = split.partition("[")
  available = list(builder.info.splits.keys())
  if base in available:
    return split
  for alias in _SPLIT_ALIASES.get(base, ()):
    if alias in available:
      return alias + sep + rest
  raise ValueError(
      f"Split {split!r} not in TFDS dataset {builder.info.full_name}; "
      f"available splits: {available}"
  )


def _load_tfds(name: str, split: str, src_lang: str, tgt_lang: str,
               data_dir: str | None) -> TfdsParallelSource:
  builder = prepare_tfds(name, data_dir)
  keys = list(builder.info.features.keys())
  missing = [l for l in (src_lang, tgt_lang) if l not in keys]
  if missing:
    raise ValueError(
        f"TFDS dataset {name!r} has no feature for language(s) {missing}; "
        f"its features are {keys}"
    )
  resolved = _resolve_split(builder, split)
  raw = _raw_text_ok(builder, (src_lang, tgt_lang))
  if raw:
    from tensorflow_datasets.core import decode  # pylint: disable=g-import-not-at-top
    ds = builder.as_data_source(split=resolved,
                                deserialize_method=decode.DeserializeMethod.RAW_BYTES)
    source = TfdsParallelSource(ds, name=name, split=split, src_lang=src_lang,
                                tgt_lang=tgt_lang, raw=True)
    try:
      if len(source):
        source[0]  # pylint: disable=pointless-statement
    except Exception:  # pylint: disable=broad-except
      # Not tf.Example records after all: use TFDS's generic decoding.
      logging.info("TFDS %s: raw text parsing failed; using generic decoding", name)
      raw = False
  if not raw:
    ds = builder.as_data_source(split=resolved)
    source = TfdsParallelSource(ds, name=name, split=split, src_lang=src_lang,
                                tgt_lang=tgt_lang)
  logging.info("TFDS %s split %s: %d examples", name, resolved, len(source))
  return source


# --------------------------------------------------------------------------
# Entry point.
# --------------------------------------------------------------------------


def load_parallel(name: str, split: str, src_lang: str, tgt_lang: str,
                  data_dir: str | None = None) -> ParallelSource:
  """Loads split `split` of parallel dataset `name` as ``(src, tgt)`` pairs.

  Args:
    name: dataset name; see the module docstring for accepted forms.
    split: ``train``, ``validation`` (aliases ``dev``, ``valid``) or
      ``test``; TFDS names also accept slices such as ``train[:1000]``.
    src_lang / tgt_lang: language codes; TFDS feature keys or file suffixes.
    data_dir: TFDS data directory (ignored for text directories).

  Raises:
    ValueError: unknown dataset name, unknown split or language.
    FileNotFoundError: missing text file/directory, or TFDS dataset not
      prepared (:class:`DatasetNotPreparedError`).
    ImportError: our own builder module cannot be imported.
  """
  if name.startswith("synthetic/"):
    from seq2seq_jax.data import synthetic  # pylint: disable=g-import-not-at-top
    task = name[len("synthetic/"):]
    if task not in synthetic.PAIR_TASKS:
      raise ValueError(f"Unknown dataset {name!r}: synthetic tasks are "
                       f"{['synthetic/' + t for t in synthetic.PAIR_TASKS]}")
    src, tgt = synthetic.pair_split(task, _SPLIT_ALIASES.get(split, (split,))[0])
    return from_lists(src, tgt, src_lang, tgt_lang, name=name, split=split)
  if name.startswith("text:"):
    return load_text_dir(name[len("text:"):], split, src_lang, tgt_lang, name=name)
  if os.path.isdir(name):
    return load_text_dir(name, split, src_lang, tgt_lang, name=name)
  if _TFDS_NAME_RE.match(name):
    return _load_tfds(name, split, src_lang, tgt_lang, data_dir)
  raise ValueError(f"Unknown dataset {name!r}. Accepted forms: {ACCEPTED_FORMS}")

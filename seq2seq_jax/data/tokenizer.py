"""Tokenizers: SentencePiece (unigram/BPE) and a classic word-level vocabulary.

All tokenizers share one id convention, so the model and the input pipeline
never need to know which kind is in use::

    pad_id = 0   <pad>  padding (masked out of the loss)
    bos_id = 1   <s>    first decoder input
    eos_id = 2   </s>   end of sentence (appended by the input pipeline)
    unk_id = 3   <unk>  out-of-vocabulary token / unknown character

``encode`` returns only the tokens of the text (no BOS/EOS: the pipeline adds
them where each tensor needs them). ``decode`` is its inverse for model
output: it stops at the first EOS, drops PAD/BOS, and returns detokenized
text (for BLEU and for humans).

Tokenizers are trained once per run by :func:`build_tokenizers` and stored in
``<workdir>/tokenizer/``; a resumed run reloads those files, so it sees the
exact same ids.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import tempfile
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
from absl import logging

__all__ = [
    "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID", "SPECIAL_PIECES",
    "Tokenizer", "TokenizerBase", "SentencePieceTokenizer", "WordVocab",
    "train_sentencepiece", "load_sentencepiece", "load_tokenizer",
    "build_tokenizers", "word_tokenize", "word_detokenize",
    "default_tokenizer_config",
]

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_PIECES = ("<pad>", "<s>", "</s>", "<unk>")


@runtime_checkable
class Tokenizer(Protocol):
  """What the rest of the code base may rely on."""

  pad_id: int
  bos_id: int
  eos_id: int
  unk_id: int

  @property
  def vocab_size(self) -> int: ...

  def encode(self, text: str) -> list[int]: ...

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]: ...

  def decode(self, ids: Iterable[int]) -> str: ...

  def id_to_piece(self, i: int) -> str: ...


class TokenizerBase:
  """Shared id constants and id clean-up for decoding."""

  pad_id = PAD_ID
  bos_id = BOS_ID
  eos_id = EOS_ID
  unk_id = UNK_ID

  def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
    return [self.encode(t) for t in texts]

  def _content_ids(self, ids: Iterable[int]) -> list[int]:
    """Ids up to (excluding) the first EOS, without PAD and BOS.

    Model outputs are fixed-length arrays padded after EOS; only the part
    before EOS is the sentence.
    """
    out = []
    for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist():
      if i == EOS_ID:
        break
      if i in (PAD_ID, BOS_ID):
        continue
      out.append(i)
    return out


# --------------------------------------------------------------------------
# SentencePiece.
# --------------------------------------------------------------------------


def _spm():
  import sentencepiece as spm  # pylint: disable=g-import-not-at-top
  return spm


class SentencePieceTokenizer(TokenizerBase):
  """A SentencePiece model (unigram or BPE) behind the common interface.

  Pickles as the serialized model proto, so it can be sent to worker
  processes. Encoding is thread-safe (grain reads in threads).
  """

  def __init__(self, model_proto: bytes, path: str | None = None):
    self._proto = model_proto
    self.path = path
    self._sp = _spm().SentencePieceProcessor(model_proto=model_proto)
    expected = dict(zip(SPECIAL_PIECES, (PAD_ID, BOS_ID, EOS_ID, UNK_ID)))
    got = {
        "<pad>": self._sp.pad_id(), "<s>": self._sp.bos_id(),
        "</s>": self._sp.eos_id(), "<unk>": self._sp.unk_id(),
    }
    if got != expected:
      raise ValueError(
          f"SentencePiece model {path or ''} has special ids {got}; this "
          f"code base needs {expected} (train with train_sentencepiece)"
      )

  def __getstate__(self):
    return {"proto": self._proto, "path": self.path}

  def __setstate__(self, state):
    self.__init__(state["proto"], state["path"])

  @property
  def vocab_size(self) -> int:
    return self._sp.get_piece_size()

  def encode(self, text: str) -> list[int]:
    return self._sp.encode(text)

  def encode_batch(self, texts: Sequence[str], num_threads: int = -1) -> list[list[int]]:
    """Encodes many texts in one C++ call (multi-threaded)."""
    return self._sp.encode(list(texts), num_threads=num_threads)

  def decode(self, ids: Iterable[int]) -> str:
    # Unknown pieces decode as " ⁇ " (SentencePiece's unk surface).
    return self._sp.decode(self._content_ids(ids))

  def id_to_piece(self, i: int) -> str:
    return self._sp.id_to_piece(int(i))

  def piece_to_id(self, piece: str) -> int:
    return self._sp.piece_to_id(piece)

  def __repr__(self) -> str:
    return f"SentencePieceTokenizer(vocab_size={self.vocab_size}, path={self.path!r})"


def train_sentencepiece(
    texts: Iterable[str],
    model_prefix: str,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int | None = 1_000_000,
    *,
    byte_fallback: bool = False,
    num_threads: int | None = None,
    seed_sentencepiece_size: int = 1_000_000,
) -> SentencePieceTokenizer:
  """Trains a SentencePiece model in-process; writes `<model_prefix>.model`.

  Sentences are streamed to the trainer through ``sentence_iterator`` (no
  temporary text file). The special ids are fixed to PAD=0, BOS=1, EOS=2,
  UNK=3 so every tokenizer in the project agrees.

  Args:
    texts: training sentences.
    model_prefix: output path prefix; `.model` and `.vocab` are written.
    vocab_size: exact vocabulary size, including the four special pieces.
      SentencePiece raises an error naming the largest feasible size if
      the corpus is too small for it.
    model_type: ``'unigram'`` or ``'bpe'``.
    character_coverage: fraction of characters covered by the model; the
      rarest characters beyond it map to ``<unk>``. 1.0 suits alphabetic
      languages, 0.9995 is customary for CJK.
    max_sentences: SentencePiece samples at most this many sentences
      (``input_sentence_size``); ``None`` or 0 uses them all.
    byte_fallback: decompose unknown characters into UTF-8 byte pieces
      instead of ``<unk>``.
    num_threads: trainer threads (default: all CPUs).
  """
  if model_type not in ("unigram", "bpe"):
    raise ValueError(f"model_type must be 'unigram' or 'bpe', got {model_type!r}")
  spm = _spm()
  os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
  kwargs = dict(
      sentence_iterator=iter(texts),
      model_prefix=model_prefix,
      vocab_size=int(vocab_size),
      model_type=model_type,
      character_coverage=float(character_coverage),
      pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      pad_piece="<pad>", bos_piece="<s>", eos_piece="</s>", unk_piece="<unk>",
      byte_fallback=bool(byte_fallback),
      input_sentence_size=int(max_sentences or 0),
      shuffle_input_sentence=True,
      seed_sentencepiece_size=int(seed_sentencepiece_size),
      num_threads=int(num_threads or os.cpu_count() or 1),
      minloglevel=2,
  )
  spm.SentencePieceTrainer.train(**kwargs)
  return load_sentencepiece(model_prefix + ".model")


def load_sentencepiece(path: str) -> SentencePieceTokenizer:
  """Loads a `.model` file written by :func:`train_sentencepiece`."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"SentencePiece model {path} does not exist")
  with open(path, "rb") as f:
    return SentencePieceTokenizer(f.read(), path=path)


# --------------------------------------------------------------------------
# Word-level vocabulary.
# --------------------------------------------------------------------------

# A token is a run of word characters (letters, digits, underscore, in any
# script), or a single character that is neither a word character nor
# whitespace (punctuation, symbols). So "Don't panic, 3.5%!" becomes
# Don ' t panic , 3 . 5 % !
_WORD_RE = re.compile(r"\w+|[^\w\s]")

# Detokenization heuristics: no space before closing punctuation, none after
# opening brackets, apostrophes and slashes glue on both sides.
_NO_SPACE_BEFORE = set(".,;:!?%)]}»…")
_NO_SPACE_AFTER = set("([{¿¡«")
_GLUE_BOTH = set("'’/@-")


def word_tokenize(text: str, lowercase: bool = False) -> list[str]:
  """Splits on whitespace and punctuation (see `_WORD_RE`).

  Each punctuation/symbol character becomes its own token; words are
  maximal runs of Unicode word characters.
  """
  if lowercase:
    text = text.lower()
  return _WORD_RE.findall(text)


def word_detokenize(tokens: Sequence[str]) -> str:
  """Approximately inverts :func:`word_tokenize`.

  Tokens are joined with spaces except: no space before ``. , ; : ! ? % )
  ] } » …``, no space after ``( [ { ¿ ¡ «``, no spaces around ``' ’ / @ -``,
  and straight double quotes alternate between opening and closing. The
  original spacing is not recorded by the tokenizer, so this is a
  heuristic (e.g. ``a - b`` comes back as ``a-b``); it is meant for reading
  output and for BLEU on roughly natural text, not for exact round trips.
  """
  out: list[str] = []
  glue_next = True  # No space before the first token.
  quote_open = False
  for tok in tokens:
    space = not glue_next
    glue_next = False
    if tok == '"':
      if quote_open:
        space = False
      else:
        glue_next = True
      quote_open = not quote_open
    elif tok in _NO_SPACE_BEFORE:
      space = False
    elif tok in _NO_SPACE_AFTER:
      glue_next = True
    elif tok in _GLUE_BOTH:
      space = False
      glue_next = True
    if space and out:
      out.append(" ")
    out.append(tok)
  return "".join(out)


class WordVocab(TokenizerBase):
  """Word-level vocabulary with ``<unk>`` (the classic NMT setting).

  Text is split with :func:`word_tokenize`; words outside the vocabulary
  map to ``<unk>``. Ids 0-3 are ``<pad> <s> </s> <unk>``, then words by
  decreasing training count (ties broken alphabetically, so building is
  deterministic).

  File format (``save``/``load``): a header line
  ``#seq2seq_jax-wordvocab v1 lowercase=<true|false>``, then one line per
  id, ``<token>\\t<count>`` (count 0 for specials). Tokens never contain
  whitespace, so the format is unambiguous.
  """

  HEADER = "#seq2seq_jax-wordvocab v1"

  def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None,
               lowercase: bool = False, path: str | None = None):
    tokens = list(tokens)
    if tuple(tokens[:4]) != SPECIAL_PIECES:
      raise ValueError(f"WordVocab must start with {SPECIAL_PIECES}, got {tokens[:4]}")
    if len(set(tokens)) != len(tokens):
      raise ValueError("WordVocab tokens must be unique")
    self._itos = tokens
    self._stoi = {t: i for i, t in enumerate(tokens)}
    self._counts = list(counts) if counts is not None else [0] * len(tokens)
    self.lowercase = bool(lowercase)
    self.path = path

  # -- building / io -----------------------------------------------------

  @classmethod
  def build(cls, texts: Iterable[str], max_size: int | None = None,
            min_count: int = 1, lowercase: bool = False) -> "WordVocab":
    """Counts words in `texts` and keeps the most frequent ones.

    Args:
      max_size: total vocabulary size including the 4 specials (None:
        unlimited).
      min_count: words seen fewer times are dropped (they become <unk>).
    """
    counter: collections.Counter = collections.Counter()
    for t in texts:
      counter.update(word_tokenize(t, lowercase))
    for s in SPECIAL_PIECES:
      counter.pop(s, None)
    items = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                   key=lambda wc: (-wc[1], wc[0]))
    if max_size is not None:
      if max_size < len(SPECIAL_PIECES) + 1:
        raise ValueError(f"max_size must be > {len(SPECIAL_PIECES)}, got {max_size}")
      items = items[: max_size - len(SPECIAL_PIECES)]
    tokens = list(SPECIAL_PIECES) + [w for w, _ in items]
    counts = [0] * len(SPECIAL_PIECES) + [c for _, c in items]
    return cls(tokens, counts, lowercase=lowercase)

  def save(self, path: str) -> None:
    """Writes the vocabulary text file (atomically)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(f"{self.HEADER} lowercase={'true' if self.lowercase else 'false'}\n")
      for t, c in zip(self._itos, self._counts):
        f.write(f"{t}\t{c}\n")
    os.replace(tmp, path)
    self.path = path

  @classmethod
  def load(cls, path: str) -> "WordVocab":
    if not os.path.isfile(path):
      raise FileNotFoundError(f"Word vocabulary {path} does not exist")
    with open(path, encoding="utf-8") as f:
      lines = f.read().split("\n")
    if not lines or not lines[0].startswith(cls.HEADER):
      raise ValueError(f"{path} is not a WordVocab file (missing header {cls.HEADER!r})")
    lowercase = "lowercase=true" in lines[0]
    tokens, counts = [], []
    for line in lines[1:]:
      if not line:
        continue
      tok, _, count = line.partition("\t")
      tokens.append(tok)
      counts.append(int(count) if count else 0)
    return cls(tokens, counts, lowercase=lowercase, path=path)

  # -- Tokenizer interface ------------------------------------------------

  @property
  def vocab_size(self) -> int:
    return len(self._itos)

  def encode(self, text: str) -> list[int]:
    get = self._stoi.get
    return [get(w, UNK_ID) for w in word_tokenize(text, self.lowercase)]

  def decode(self, ids: Iterable[int]) -> str:
    return word_detokenize([self.id_to_piece(i) for i in self._content_ids(ids)])

  def id_to_piece(self, i: int) -> str:
    i = int(i)
    return self._itos[i] if 0 <= i < len(self._itos) else SPECIAL_PIECES[UNK_ID]

  def piece_to_id(self, piece: str) -> int:
    return self._stoi.get(piece, UNK_ID)

  def __repr__(self) -> str:
    return (f"WordVocab(vocab_size={self.vocab_size}, lowercase={self.lowercase}, "
            f"path={self.path!r})")


def load_tokenizer(path: str):
  """Loads a SentencePiece `.model` or a WordVocab text file by content."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Tokenizer file {path} does not exist")
  with open(path, "rb") as f:
    head = f.read(len(WordVocab.HEADER))
  if head == WordVocab.HEADER.encode():
    return WordVocab.load(path)
  return load_sentencepiece(path)


# --------------------------------------------------------------------------
# Per-run tokenizers.
# --------------------------------------------------------------------------

# Defaults for `config.tokenizer` fields that are not set.
_DEFAULTS: dict[str, Any] = dict(
    kind="sentencepiece",
    model_type="unigram",
    vocab_size=8000,
    src_vocab_size=None,
    tgt_vocab_size=None,
    joint=True,
    character_coverage=1.0,
    max_train_sentences=1_000_000,
    byte_fallback=False,
    min_count=1,
    lowercase=False,
    seed=0,
)


def default_tokenizer_config():
  """An `ml_collections.ConfigDict` with every `tokenizer` field at its default."""
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
  s = {}
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
               max_sentences: int | None):
  if s["kind"] == "sentencepiece":
    # Train under a temporary prefix in the same directory, then move the
    # files into place, so a crash never leaves a half-written model that
    # a resumed run would pick up.
    tmpdir = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=".train_")
    try:
      prefix = os.path.join(tmpdir, "m")
      train_sentencepiece(
          texts, prefix, vocab_size, model_type=s["model_type"],
          character_coverage=s["character_coverage"],
          max_sentences=max_sentences, byte_fallback=s["byte_fallback"])
      os.replace(prefix + ".vocab", path[: -len(".model")] + ".vocab")
      os.replace(prefix + ".model", path)
    finally:
      shutil.rmtree(tmpdir, ignore_errors=True)
    return load_sentencepiece(path)
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

  ``config.tokenizer`` fields (``ml_collections.ConfigDict``; any missing
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
  - ``max_train_sentences`` (1000000): at most this many training pairs
    (a seeded random subsample) are read per side to train.
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
  os.makedirs(tok_dir, exist_ok=True)
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
      if old != json.loads(json.dumps(spec)):
        raise ValueError(
            f"Tokenizer files in {tok_dir} were built with {old}, but the "
            f"config asks for {spec}. Use a new workdir or delete {tok_dir}.")
    logging.info("Reusing tokenizers from %s", tok_dir)
    toks = {k: load_tokenizer(p) for k, p in paths.items()}
  else:
    n = len(train_source)
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
      logging.info("Training joint %s tokenizer on %s", s["kind"], tok_dir)
      toks["joint"] = _train_one(s, both(), paths["joint"], s["vocab_size"],
                                 2 * cap if cap else None)
    else:
      for side in ("src", "tgt"):
        vs = s[f"{side}_vocab_size"] or s["vocab_size"]
        logging.info("Training %s %s tokenizer (%d) in %s", side, s["kind"], vs, tok_dir)
        toks[side] = _train_one(s, train_source.side(side, idx), paths[side], vs, cap)
    tmp = spec_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(spec, f, indent=2, sort_keys=True)
    os.replace(tmp, spec_path)
  if s["joint"]:
    return toks["joint"], toks["joint"]
  return toks["src"], toks["tgt"]

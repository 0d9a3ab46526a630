"""A classic word-level vocabulary with ``<unk>``, and the word tokenizer it splits text with."""

from __future__ import annotations

import collections
import os
import re
from typing import Iterable, Sequence

from seq2seq_jax.data.tokenizer.base import SPECIAL_PIECES, UNK_ID, TokenizerBase

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

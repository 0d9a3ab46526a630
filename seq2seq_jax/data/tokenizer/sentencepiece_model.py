"""SentencePiece (unigram or BPE) tokenizers: training, loading and the tokenizer itself."""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from seq2seq_jax.data.tokenizer.base import (BOS_ID, EOS_ID, PAD_ID, SPECIAL_PIECES, UNK_ID,
                                             TokenizerBase)


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
    max_sentences: int | None = None,
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
      (``input_sentence_size``); ``None`` or 0 (the default) uses them all.
      :func:`.per_run.build_tokenizers` passes the run config's cap.
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

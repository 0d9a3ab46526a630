"""The id convention all tokenizers share, the :class:`Tokenizer` protocol and a base class.

Ids 0-3 are ``<pad> <s> </s> <unk>`` in every tokenizer (see the package docstring), so the
model and the input pipeline never need to know which kind is in use.
"""

from __future__ import annotations

from typing import Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

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

"""Text -> token examples: the one place source ids are made.

Source ids as the encoder reads them: the tokens, cut to ``max_len - 1`` when a limit
is given, reversed with ``reverse`` (Sutskever et al., 2014), then EOS, which stays
last. Training, evaluation and translation all use :func:`encode_sources`, so a model
sees its sources encoded the same way everywhere.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seq2seq_jax.data.pipeline.batching import Example
from seq2seq_jax.data.tokenizer import EOS_ID


def source_ids(tokens: Sequence[int], reverse: bool = False) -> np.ndarray:
  """int32 [n + 1]: `tokens` (reversed if asked) + EOS."""
  ids = list(tokens)
  if reverse:
    ids.reverse()
  ids.append(EOS_ID)
  return np.asarray(ids, np.int32)


def _encode(tok, lines: Sequence[str], max_len: int | None) -> tuple[list, list[int]]:
  """Token lists of `lines` (one batched call), each cut to ``max_len - 1`` tokens
  (no limit with None), and the indices of the lines that were cut."""
  ids = tok.encode_batch(list(lines)) if len(lines) else []
  truncated = []
  if max_len is not None:
    keep = int(max_len) - 1
    for i, x in enumerate(ids):
      if len(x) > keep:
        truncated.append(i)
        ids[i] = x[:keep]
  return ids, truncated


def encode_sources(tok, lines: Sequence[str], *, max_len: int | None = None,
                   reverse: bool = False) -> tuple[list[np.ndarray], list[int]]:
  """Source ids of `lines`: int32 [n + 1] each (see the module docstring).

  Args:
    tok: a tokenizer (``encode_batch``).
    lines: source texts.
    max_len: the most positions a source may take, EOS included: longer ones keep
      their first ``max_len - 1`` tokens (before any reversal). None: no limit.
    reverse: reverse the tokens; EOS stays last.

  Returns:
    (ids per line, sorted indices of the lines that were cut).
  """
  ids, truncated = _encode(tok, lines, max_len)
  return [source_ids(x, reverse) for x in ids], truncated


def encode_targets(tok, lines: Sequence[str], *,
                   max_len: int | None = None) -> tuple[list[np.ndarray], list[int]]:
  """Target tokens of `lines`, int32 [n] each without BOS/EOS (the batch adds them),
  cut to ``max_len - 1`` tokens; and the indices of the lines that were cut."""
  ids, truncated = _encode(tok, lines, max_len)
  return [np.asarray(x, np.int32) for x in ids], truncated


class PairEncoder:
  """Tokenizes (source, target) text pairs into translation examples
  ``{"src": int32 [s], "tgt": int32 [t]}`` (see :data:`batching.TRANSLATION_FIELDS`).

  Calling it encodes without limits (training filters long pairs instead);
  :meth:`encode` cuts to limits (evaluation keeps every pair).
  """

  def __init__(self, src_tok, tgt_tok, reverse_source: bool = False):
    self.src_tok = src_tok
    self.tgt_tok = tgt_tok
    self.reverse_source = bool(reverse_source)

  def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[Example]:
    return self.encode(pairs)[0]

  def encode(self, pairs: Sequence[tuple[str, str]], max_len: int | None = None,
             max_target_len: int | None = None) -> tuple[list[Example], list[int]]:
    """(examples, sorted indices of pairs cut on either side). Sources keep at most
    ``max_len - 1`` tokens, targets ``max_target_len - 1``; None: no limit."""
    src, cut_src = encode_sources(self.src_tok, [p[0] for p in pairs], max_len=max_len,
                                  reverse=self.reverse_source)
    tgt, cut_tgt = encode_targets(self.tgt_tok, [p[1] for p in pairs], max_len=max_target_len)
    examples = [{"src": s, "tgt": t} for s, t in zip(src, tgt)]
    return examples, sorted(set(cut_src) | set(cut_tgt))

"""Examples and padding: a dict of arrays per example -> one padded batch dict.

An example is a mapping from keys to numpy arrays whose first axis is its length:
token ids int32 [n], or feature frames [n, D] (float32 speech or time-series frames),
any trailing shape. A ``fields`` mapping (key -> :class:`Field`) says which grid each
key is padded along, and how:

- a plain field ``k`` (token ids or frames) becomes ``k`` [B, L, ...] padded with
  zeros (PAD_ID is 0) and ``k_len`` int32 [B], its real length; it needs ``n``
  positions.
- a shifted field ``k`` (target tokens without BOS/EOS) becomes the decoder input
  ``k_in`` int32 [B, T] (BOS + tokens), the labels ``k_out`` int32 [B, T] (tokens +
  EOS) and ``k_weights`` float32 [B, T] (1.0 on the ``n + 1`` real label
  positions); it needs ``n + 1`` positions.

A translation pair is ``{"src": ids + EOS, "tgt": ids}`` with
:data:`TRANSLATION_FIELDS`, which gives the batch keys :data:`BATCH_KEYS`; a speech
example is the same with ``src`` float32 [frames, D] (batch ``src`` [B, S, D]).
Every batch also has ``index`` int32 [B], the example's index in its source, and -1
on padding rows; padding rows are all zeros (``*_len`` 0, weights 0).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Mapping, Sequence

import numpy as np

from seq2seq_jax.data.tokenizer import BOS_ID, EOS_ID

SOURCE, TARGET = "source", "target"

Example = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Field:
  """How one example key is padded: along the ``grid`` SOURCE (S) or TARGET (T)
  length; ``shifted`` for target tokens (decoder input, labels and weights)."""

  grid: str
  shifted: bool = False

  def __post_init__(self):
    if self.grid not in (SOURCE, TARGET):
      raise ValueError(f"Field.grid must be {SOURCE!r} or {TARGET!r}, got {self.grid!r}")

  @property
  def extra(self) -> int:
    """Positions needed beyond the array's length (BOS/EOS of a shifted target)."""
    return 1 if self.shifted else 0

  def batch_keys(self, key: str) -> tuple[str, ...]:
    """The batch keys that example key `key` becomes."""
    if self.shifted:
      return (f"{key}_in", f"{key}_out", f"{key}_weights")
    return (key, f"{key}_len")


Fields = Mapping[str, Field]

# Read-only: shared by every translation pipeline.
TRANSLATION_FIELDS: Fields = types.MappingProxyType(
    {"src": Field(SOURCE), "tgt": Field(TARGET, shifted=True)})


def batch_keys(fields: Fields) -> tuple[str, ...]:
  """Keys of the batches of examples with these fields (``index`` last)."""
  return tuple(k for key, f in fields.items() for k in f.batch_keys(key)) + ("index",)


BATCH_KEYS = batch_keys(TRANSLATION_FIELDS)  # src, src_len, tgt_in, tgt_out, tgt_weights, index


def example_needs(examples: Sequence[Example],
                  fields: Fields) -> tuple[np.ndarray, np.ndarray]:
  """Positions each example needs on the source and the target grid, int64 [N] each:
  the most over the grid's fields of ``len + extra`` (0 where a grid has no field)."""
  need = {SOURCE: np.zeros(len(examples), np.int64), TARGET: np.zeros(len(examples), np.int64)}
  for key, f in fields.items():
    lens = np.fromiter((len(e[key]) for e in examples), np.int64, len(examples))
    np.maximum(need[f.grid], lens + f.extra, out=need[f.grid])
  return need[SOURCE], need[TARGET]


def pad_batch(rows: Sequence[tuple[Example, int]], batch_size: int, shape: tuple[int, int],
              fields: Fields = TRANSLATION_FIELDS) -> dict[str, np.ndarray]:
  """Builds one padded batch; see the module docstring for its keys.

  Args:
    rows: up to `batch_size` pairs ``(example, index)``, at least one (it gives the
      dtypes and frame shapes); rows beyond ``len(rows)`` become padding rows.
    batch_size: B.
    shape: (S, T), the padded source and target lengths; every example must fit.
    fields: which keys are padded along which length (default: translation pairs).
  """
  n = len(rows)
  if not 0 < n <= batch_size:
    raise ValueError(f"{n} examples for a batch of {batch_size}: need 1 to {batch_size}")
  lengths = {SOURCE: int(shape[0]), TARGET: int(shape[1])}
  out: dict[str, np.ndarray] = {}
  for key, f in fields.items():
    L = lengths[f.grid]
    for ex, i in rows:
      if len(ex[key]) + f.extra > L:
        raise ValueError(f"example {i}: {key!r} needs {len(ex[key]) + f.extra} positions, "
                         f"does not fit length {L}")
    if f.shifted:
      out.update(_pad_shifted(key, [ex[key] for ex, _ in rows], batch_size, L))
    else:
      out.update(_pad_plain(key, [ex[key] for ex, _ in rows], batch_size, L))
  index = np.full((batch_size,), -1, np.int32)
  index[:n] = [i for _, i in rows]
  out["index"] = index
  return out


def _pad_plain(key: str, arrays: Sequence[np.ndarray], batch_size: int,
               length: int) -> dict[str, np.ndarray]:
  """``key`` [B, L, ...] zero-padded (dtype and frame shape of the first array) and
  ``key_len`` int32 [B]."""
  first = np.asarray(arrays[0])
  # Zeros are PAD_ID for token ids and the empty frame for features.
  x = np.zeros((batch_size, length) + first.shape[1:], first.dtype)
  lens = np.zeros((batch_size,), np.int32)
  for r, a in enumerate(arrays):
    x[r, :len(a)] = a
    lens[r] = len(a)
  return {key: x, f"{key}_len": lens}


def _pad_shifted(key: str, arrays: Sequence[np.ndarray], batch_size: int,
                 length: int) -> dict[str, np.ndarray]:
  """Decoder input ``key_in`` (BOS + tokens), labels ``key_out`` (tokens + EOS) and
  ``key_weights`` (1.0 on the labels), each [B, T]."""
  tgt_in = np.zeros((batch_size, length), np.int32)
  tgt_out = np.zeros((batch_size, length), np.int32)
  weights = np.zeros((batch_size, length), np.float32)
  for r, t in enumerate(arrays):
    lt = len(t) + 1
    tgt_in[r, 0] = BOS_ID
    tgt_in[r, 1:lt] = t
    tgt_out[r, : lt - 1] = t
    tgt_out[r, lt - 1] = EOS_ID
    weights[r, :lt] = 1.0
  return {f"{key}_in": tgt_in, f"{key}_out": tgt_out, f"{key}_weights": weights}

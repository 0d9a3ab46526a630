"""Length grids: which padded shape (S, T) an example gets, and the batch size per shape.

An example needs ``s`` source positions (its source array's length; for tokens that
includes EOS) and ``t`` target positions (target tokens + 1 for BOS/EOS, see
:mod:`.batching`). A :class:`Grid` maps ``(s, t)`` to one of a few padded shapes, so
jit compiles once per shape rather than once per batch:

- shared grid (``target_buckets`` None, the default): the smallest bucket
  ``L >= max(s, t)``; both sides are padded to L (shape ``(L, L)``).
  ``len(buckets)`` shapes.
- separate grids: the smallest source bucket ``S >= s`` and, independently, the
  smallest target bucket ``T >= t`` (shape ``(S, T)``). ``len(buckets) *
  len(target_buckets)`` shapes, but no padding of a short side up to the long one:
  a 400-token summarization source with a 20-token summary is ``(512, 32)``, not
  ``(512, 512)``.

Shapes are numbered ``si * len(target_buckets) + ti`` (shared grid: the bucket index),
so ascending shape ids are ascending source lengths first.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

# Shape ids of filtered examples (see `Grid.assign`).
TOO_LONG = -1
TOO_SHORT = -2


def resolve_buckets(buckets: Sequence[int] | None,
                    max_len: int | None) -> tuple[tuple[int, ...], int]:
  """Validates bucket lengths and the length limit; returns both.

  ``max_len`` (default: the largest bucket) is the most positions an example may need
  on this grid: a pair is kept if its source has at most ``max_len - 1`` tokens and
  so has its target. Buckets beyond the first one that reaches ``max_len`` could never
  be used and are dropped.
  """
  if not buckets:
    if max_len is None:
      raise ValueError("Give `buckets` or `max_len`")
    buckets = (max_len,)
  b = tuple(int(x) for x in buckets)
  if any(x < 2 for x in b) or list(b) != sorted(set(b)):
    raise ValueError(f"buckets must be strictly increasing lengths >= 2, got {buckets}")
  if max_len is None:
    max_len = b[-1]
  max_len = int(max_len)
  if max_len > b[-1]:
    raise ValueError(f"max_len={max_len} exceeds the largest bucket {b[-1]}; "
                     f"add a bucket of length >= max_len")
  if max_len < 2:
    raise ValueError(f"max_len must be >= 2, got {max_len}")
  last = next(i for i, x in enumerate(b) if x >= max_len)
  return b[: last + 1], max_len


def eval_buckets(buckets: Sequence[int] | None, max_len: int | None,
                 eval_max_len: int | None = None,
                 longest_source: int | None = None) -> tuple[tuple[int, ...], int]:
  """Source buckets and length limit for evaluation and translation.

  Training keeps pairs of at most ``max_len``; a recurrent model can still read and
  write longer sentences, and cutting test sentences to the training limit costs
  BLEU on exactly the long ones. With ``eval_max_len`` > ``max_len`` the training
  buckets are followed by longer ones, each about 1.5x the last (multiples of 16),
  up to ``eval_max_len``; a bucket's shapes compile only if a batch needs them.
  ``eval_max_len`` None or 0: the training limit. ``longest_source`` (a model's
  ``ModelConfig.longest_source``) caps the limit, never below ``max_len``.
  """
  bks, max_len = resolve_buckets(buckets, max_len)
  limit = int(eval_max_len) if eval_max_len else max_len
  if limit < max_len:
    raise ValueError(f"eval_max_len={limit} is below the training max_len={max_len}; "
                     f"use 0 (the training limit) or a larger value")
  if longest_source is not None:
    limit = max(max_len, min(limit, int(longest_source)))
  out = list(bks)
  while out[-1] < limit:
    out.append(min(limit, -(-(out[-1] * 3 // 2) // 16) * 16))
  return tuple(out), limit


@dataclasses.dataclass(frozen=True)
class Grid:
  """The padded shapes (S, T) of a pipeline; build it with :meth:`make`.

  Attributes:
    buckets: source lengths S (shared grid: also the target lengths T).
    max_len: most source positions an example may need (shared grid: either side).
    target_buckets: target lengths T, or None for the shared grid.
    max_target_len: most target positions (target tokens + 1); None with the shared
      grid.
  """

  buckets: tuple[int, ...]
  max_len: int
  target_buckets: tuple[int, ...] | None = None
  max_target_len: int | None = None

  @classmethod
  def make(cls, buckets: Sequence[int] | None, max_len: int | None,
           target_buckets: Sequence[int] | None = None,
           max_target_len: int | None = None) -> "Grid":
    """Validates both grids (see :func:`resolve_buckets`); no target grid: shared."""
    bks, max_len = resolve_buckets(buckets, max_len)
    if target_buckets is None:
      if max_target_len is not None:
        raise ValueError("max_target_len needs target_buckets (a separate target grid)")
      return cls(bks, max_len)
    tbks, max_target_len = resolve_buckets(target_buckets, max_target_len)
    return cls(bks, max_len, tbks, max_target_len)

  @property
  def shared(self) -> bool:
    """True without a target grid: S = T = one bucket length."""
    return self.target_buckets is None

  @property
  def shapes(self) -> tuple[tuple[int, int], ...]:
    """(S, T) of each shape id."""
    if self.shared:
      return tuple((b, b) for b in self.buckets)
    return tuple((s, t) for s in self.buckets for t in self.target_buckets)

  @property
  def target_limit(self) -> int:
    """Most target positions an example may need."""
    return self.max_len if self.shared else self.max_target_len

  def assign(self, src_need: np.ndarray, tgt_need: np.ndarray,
             min_len: int = 1) -> np.ndarray:
    """Vectorized shape choice for training, with length filtering.

    Args:
      src_need: int [N], source positions per example (tokens + EOS).
      tgt_need: int [N], target positions per example (tokens + 1).
      min_len: examples with ``need - 1 < min_len`` on either side (for tokens: fewer
        than `min_len` tokens) get TOO_SHORT; 0 keeps them.

    Returns:
      int16 [N]: shape id, or TOO_LONG (beyond a limit; wins over TOO_SHORT) /
      TOO_SHORT.
    """
    s = np.asarray(src_need, np.int64)
    t = np.asarray(tgt_need, np.int64)
    if self.shared:
      need = np.maximum(s, t)
      out = np.searchsorted(np.asarray(self.buckets), need, side="left")
      too_long = need > self.max_len
    else:
      si = np.searchsorted(np.asarray(self.buckets), s, side="left")
      ti = np.searchsorted(np.asarray(self.target_buckets), t, side="left")
      out = si * len(self.target_buckets) + ti
      too_long = (s > self.max_len) | (t > self.max_target_len)
    out = out.astype(np.int16)
    out[(s - 1 < min_len) | (t - 1 < min_len)] = TOO_SHORT
    out[too_long] = TOO_LONG
    return out

  def describe(self) -> str:
    """The grid's buckets and limits, for logs and error messages."""
    if self.shared:
      return f"buckets {self.buckets}, max_len {self.max_len}"
    return (f"source buckets {self.buckets}, max_len {self.max_len}; target buckets "
            f"{self.target_buckets}, max_target_len {self.max_target_len}")


def bucket_batch_sizes(
    lengths: Sequence[int],
    *,
    batch_size: int | None = None,
    tokens_per_batch: int | None = None,
    batch_multiple: int = 1,
) -> tuple[int, ...]:
  """Batch size B for each bucket (or shape) of padded length L.

  By sentences (``batch_size``): the same B everywhere; it must be a multiple of
  ``batch_multiple``. By tokens (``tokens_per_batch``): B is the largest multiple of
  ``batch_multiple`` with ``B * L <= tokens_per_batch`` (but at least
  ``batch_multiple``), so every batch costs about the same memory and compute.
  ``batch_multiple`` is typically the number of local devices, so batches split
  evenly. For a shape (S, T) pass ``L = max(S, T)`` (see :func:`grid_batch_sizes`).
  """
  if (batch_size is None) == (tokens_per_batch is None):
    raise ValueError("Give exactly one of batch_size and tokens_per_batch")
  m = int(batch_multiple)
  if m < 1:
    raise ValueError(f"batch_multiple must be >= 1, got {batch_multiple}")
  if batch_size is not None:
    if batch_size < 1 or batch_size % m:
      raise ValueError(f"batch_size={batch_size} must be a positive multiple of "
                       f"batch_multiple={m}")
    return tuple(int(batch_size) for _ in lengths)
  if tokens_per_batch < 1:
    raise ValueError(f"tokens_per_batch must be positive, got {tokens_per_batch}")
  return tuple(max(m, (int(tokens_per_batch) // int(L)) // m * m) for L in lengths)


def grid_batch_sizes(grid: Grid, **kw) -> tuple[int, ...]:
  """Batch size per shape id; keywords as :func:`bucket_batch_sizes`.

  Tokens are counted on the longer side, ``B * max(S, T) <= tokens_per_batch``. On the
  shared grid that is the bucket rule ``B * L`` (so it is unchanged), and a separate
  grid's batch never costs more than the shared grid's batch of ``max(S, T)`` that
  the same config already fits in memory. ``B * (S + T)`` would follow recurrent
  compute more closely, but would halve B for S = T compared with the shared grid.
  """
  return bucket_batch_sizes([max(s, t) for s, t in grid.shapes], **kw)

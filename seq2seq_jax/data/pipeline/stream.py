"""The seeded training stream and the bucketing iterator over it.

Stream position p = 0, 1, 2, ... maps to a source index through a seeded permutation
per epoch (:class:`Stream`); positions are read and encoded in chunks inside grain
threads, and :class:`BucketBatchIterator` groups the examples by padded shape (S, T)
into batches. Both are deterministic functions of the position, which is what keeps
the checkpointed iterator state small (a few hundred integers) and exact.
"""

from __future__ import annotations

import math
import sys
import threading
from typing import Any, Callable, Sequence

import grain
import numpy as np
from absl import logging

from seq2seq_jax.data.pipeline.batching import Example, Fields, example_needs, pad_batch
from seq2seq_jax.data.pipeline.buckets import TOO_LONG, Grid


class Stream:
  """Deterministic map from stream positions to encoded examples.

  Position ``p`` is in epoch ``e = p // n`` (``n`` = size of this host's shard) at
  offset ``k = p % n``; it reads source index ``shard_index + shard_count *
  perm_e[k]``, where ``perm_e`` is a permutation of ``range(n)`` drawn from
  ``SeedSequence([seed, e])``. Any position can therefore be recomputed.

  ``encode`` turns the source's items (``source.get_many(indices)``) into examples
  (see :mod:`.batching`), e.g. a :class:`~.encoding.PairEncoder`.
  """

  def __init__(self, source, encode: Callable[[list], list[Example]], *, fields: Fields,
               grid: Grid, min_len: int, seed: int, shuffle: bool, shard_index: int,
               shard_count: int, num_epochs: int | None, chunk_size: int):
    self.source = source
    self.encode = encode
    self.fields = dict(fields)  # A copy; a plain dict pickles, a MappingProxyType not.
    self.grid = grid
    self.min_len = int(min_len)
    self.seed = int(seed)
    self.shuffle = bool(shuffle)
    self.shard_index = int(shard_index)
    self.shard_count = int(shard_count)
    self.n = len(range(shard_index, len(source), shard_count))
    self.total = None if num_epochs is None else self.n * int(num_epochs)
    self.chunk_size = int(chunk_size)
    self._lock = threading.Lock()
    self._perms: dict[int, np.ndarray] = {}

  def __getstate__(self):
    # Picklable (locks are not); permutations are recomputed on demand.
    state = dict(self.__dict__)
    state.pop("_lock")
    state["_perms"] = {}
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()

  @property
  def num_chunks(self) -> int:
    if self.total is None:
      return sys.maxsize // self.chunk_size
    return -(-self.total // self.chunk_size)

  def _perm(self, epoch: int) -> np.ndarray:
    with self._lock:
      perm = self._perms.get(epoch)
      if perm is None:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
        perm = rng.permutation(self.n)
        # Chunks are read a few at a time around the current epoch;
        # keep at most two permutations (epoch boundary).
        if len(self._perms) >= 2:
          self._perms.pop(min(self._perms))
        self._perms[epoch] = perm
      return perm

  def source_indices(self, positions: np.ndarray) -> np.ndarray:
    """Source indices (int64) of stream positions."""
    positions = np.asarray(positions, np.int64)
    epochs, k = np.divmod(positions, self.n)
    local = np.empty_like(k)
    for e in np.unique(epochs):
      sel = epochs == e
      local[sel] = self._perm(int(e))[k[sel]] if self.shuffle else k[sel]
    return self.shard_index + self.shard_count * local

  def fetch(self, positions: Sequence[int]) -> dict[str, Any]:
    """Reads and encodes the examples at `positions`; a chunk dict of parallel lists
    ``pos``, ``index`` (source index), ``examples`` and ``shape`` (shape id or
    TOO_LONG / TOO_SHORT, see :meth:`Grid.assign`)."""
    positions = np.asarray(positions, np.int64)
    index = self.source_indices(positions)
    examples = self.encode(self.source.get_many(index.tolist()))
    src_need, tgt_need = example_needs(examples, self.fields)
    shape = self.grid.assign(src_need, tgt_need, self.min_len)
    return {"pos": positions, "index": index, "examples": examples, "shape": shape}

  def chunk(self, j: int) -> dict[str, Any]:
    start = int(j) * self.chunk_size
    stop = start + self.chunk_size
    if self.total is not None:
      stop = min(stop, self.total)
    return self.fetch(np.arange(start, stop, dtype=np.int64))


def _is_log_point(n: int) -> bool:
  """True for 1, 10, 100, ...: log counters without flooding the log."""
  return n > 0 and 10 ** int(round(math.log10(n))) == n


class BucketBatchIterDataset(grain.IterDataset):
  """Groups the examples of a chunked :class:`Stream` by shape, batches and pads them.

  Iterator state (JSON-serializable)::

      {"chunks": <grain state of the chunk reader before the current chunk>,
       "offset": <examples already taken from the current chunk>,
       "pending": [[stream positions waiting for shape id k] for each shape],
       "num_seen", "num_too_long", "num_too_short", "num_batches": int}

  Waiting examples are stored as positions and re-fetched on restore, so the state
  stays a few hundred integers however long the examples.
  """

  def __init__(self, stream: Stream, *, batch_sizes: Sequence[int], drop_remainder: bool,
               read_options: grain.ReadOptions):
    self.stream = stream
    self.chunk_ds = grain.MapDataset.range(stream.num_chunks).map(stream.chunk)
    super().__init__(self.chunk_ds.to_iter_dataset(read_options))
    self.batch_sizes = tuple(int(b) for b in batch_sizes)
    self.shapes = stream.grid.shapes
    if len(self.batch_sizes) != len(self.shapes):
      raise ValueError(f"{len(self.batch_sizes)} batch sizes for {len(self.shapes)} shapes")
    self.drop_remainder = bool(drop_remainder)

  def __iter__(self) -> "BucketBatchIterator":
    return BucketBatchIterator(self)

  def __str__(self) -> str:
    return f"BucketBatchIterDataset(shapes={self.shapes}, batch_sizes={self.batch_sizes})"


class BucketBatchIterator(grain.DatasetIterator):
  """See :class:`BucketBatchIterDataset`."""

  def __init__(self, ds: BucketBatchIterDataset):
    super().__init__(ds._parent.__iter__())  # pylint: disable=protected-access
    self._ds = ds
    self._stream = ds.stream
    # Per shape id: (example, source index, stream position) waiting for a batch.
    self._pending: list[list[tuple[Example, int, int]]] = [[] for _ in ds.shapes]
    self._chunk: dict[str, Any] | None = None
    self._chunk_state: dict[str, Any] | None = None
    self._offset = 0
    self._exhausted = False
    self._counts = {"num_seen": 0, "num_too_long": 0, "num_too_short": 0, "num_batches": 0}

  def _count_filtered(self, code: int) -> None:
    key = "num_too_long" if code == TOO_LONG else "num_too_short"
    self._counts[key] += 1
    n = self._counts[key]
    if _is_log_point(n):
      what = (f"beyond the length limits ({self._stream.grid.describe()})"
              if code == TOO_LONG else f"shorter than min_len={self._stream.min_len} tokens")
      logging.info("Filtered %d training examples %s (of %d seen)", n, what,
                   self._counts["num_seen"])

  def _emit(self, k: int) -> dict[str, np.ndarray]:
    rows = self._pending[k]
    self._pending[k] = []
    self._counts["num_batches"] += 1
    return pad_batch([(ex, i) for ex, i, _ in rows], self._ds.batch_sizes[k],
                     self._ds.shapes[k], self._stream.fields)

  def _next_chunk(self) -> bool:
    self._chunk_state = self._parent.get_state()
    try:
      self._chunk = next(self._parent)
    except StopIteration:
      self._chunk = None
      self._exhausted = True
      return False
    self._offset = 0
    return True

  def __next__(self) -> dict[str, np.ndarray]:
    sizes = self._ds.batch_sizes
    while not self._exhausted:
      c = self._chunk
      if c is None or self._offset >= len(c["pos"]):
        self._next_chunk()
        continue
      o = self._offset
      self._offset += 1
      self._counts["num_seen"] += 1
      k = int(c["shape"][o])
      if k < 0:
        self._count_filtered(k)
        continue
      self._pending[k].append((c["examples"][o], int(c["index"][o]), int(c["pos"][o])))
      if len(self._pending[k]) == sizes[k]:
        return self._emit(k)
    # End of a finite stream: pad the leftovers into final batches, or drop them.
    for k, rows in enumerate(self._pending):
      if rows:
        if self._ds.drop_remainder:
          self._pending[k] = []
        else:
          return self._emit(k)
    raise StopIteration

  def get_state(self) -> dict[str, Any]:
    if self._chunk is not None and self._offset < len(self._chunk["pos"]):
      chunks, offset = self._chunk_state, self._offset
    else:
      chunks, offset = self._parent.get_state(), 0
    return {
        "chunks": chunks,
        "offset": int(offset),
        "pending": [[int(e[2]) for e in rows] for rows in self._pending],
        **{k: int(v) for k, v in self._counts.items()},
    }

  def set_state(self, state: dict[str, Any]) -> None:
    if len(state["pending"]) != len(self._ds.shapes):
      raise ValueError(f"Checkpointed iterator has {len(state['pending'])} shapes, "
                       f"this pipeline {len(self._ds.shapes)} ({self._stream.grid.describe()})")
    self._exhausted = False
    self._chunk = None
    self._offset = 0
    self._parent.set_state(state["chunks"])
    if state["offset"]:
      self._next_chunk()
      self._offset = int(state["offset"])
    pending = [[int(p) for p in ps] for ps in state["pending"]]
    flat = [p for ps in pending for p in ps]
    fetched = self._stream.fetch(flat) if flat else None
    self._pending = [[] for _ in pending]
    j = 0
    for k, ps in enumerate(pending):
      for p in ps:
        self._pending[k].append((fetched["examples"][j], int(fetched["index"][j]), p))
        j += 1
    for key in self._counts:
      self._counts[key] = int(state.get(key, 0))

  def __str__(self) -> str:
    return f"BucketBatchIterator({self._ds})"

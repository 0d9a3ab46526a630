"""Evaluation batches: every example exactly once, in padded shapes, plus order restore.

Evaluation sets are small, so they are encoded up-front with the batched tokenizer
and returned as a plain list of batches (:class:`EvalBatches`).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
from absl import logging

from seq2seq_jax.data.pipeline.batching import (TRANSLATION_FIELDS, Example, Fields,
                                                example_needs, pad_batch)
from seq2seq_jax.data.pipeline.buckets import TOO_LONG, Grid, grid_batch_sizes
from seq2seq_jax.data.pipeline.encoding import PairEncoder


class EvalBatches(list):
  """List of padded eval batches, plus bookkeeping.

  Attributes:
    num_examples: number of examples in the source; each appears in exactly one row
      (with ``index >= 0``) across all batches.
    truncated: sorted source indices whose source or target was cut to fit the
      length limits. They are kept rather than dropped so every example gets an
      output; their loss covers only the kept prefix.
  """

  num_examples: int = 0
  truncated: np.ndarray = np.zeros((0,), np.int64)


def make_eval_batches(
    source,
    src_tok,
    tgt_tok,
    *,
    batch_size: int | None = None,
    tokens_per_batch: int | None = None,
    batch_multiple: int = 1,
    buckets: Sequence[int] = (16, 32, 64),
    max_len: int | None = None,
    target_buckets: Sequence[int] | None = None,
    max_target_len: int | None = None,
    reverse_source: bool = False,
) -> EvalBatches:
  """Pads every pair of `source` once into batches; shapes as in training.

  Over-long pairs are truncated, not dropped: sources to their first ``max_len - 1``
  tokens (before any reversal), targets to ``max_len - 1`` tokens on the shared grid
  or ``max_target_len - 1`` with `target_buckets`; they are listed in
  ``result.truncated``. Other arguments as in
  :func:`~.training.make_example_iterator`; see :func:`batch_examples` for the order.
  """
  grid = Grid.make(buckets, max_len, target_buckets, max_target_len)
  n = len(source)
  if hasattr(source, "get_many"):
    pairs = source.get_many(range(n))  # One batched read.
  else:
    pairs = [source[i] for i in range(n)]
  examples, truncated = PairEncoder(src_tok, tgt_tok, reverse_source).encode(
      pairs, grid.max_len, grid.target_limit)
  out = batch_examples(examples, fields=TRANSLATION_FIELDS, grid=grid, batch_size=batch_size,
                       tokens_per_batch=tokens_per_batch, batch_multiple=batch_multiple)
  out.truncated = np.asarray(truncated, np.int64)
  if truncated:
    logging.info("Eval: truncated %d of %d pairs to %s", len(truncated), n, grid.describe())
  return out


def batch_examples(examples: Sequence[Example], *, fields: Fields, grid: Grid,
                   batch_size: int | None = None, tokens_per_batch: int | None = None,
                   batch_multiple: int = 1) -> EvalBatches:
  """Pads `examples` (which must fit the grid's limits) once each into batches.

  Examples are grouped by shape id (ascending source length, then target length) and
  kept in their order within a shape; the last batch of each shape is filled up
  with padding rows, so shapes stay within the training set of shapes. A row's
  ``index`` is its example's position in `examples`; use it (or
  :func:`restore_order`) to put per-example outputs back in order.
  """
  sizes = grid_batch_sizes(grid, batch_size=batch_size, tokens_per_batch=tokens_per_batch,
                           batch_multiple=batch_multiple)
  codes = grid.assign(*example_needs(examples, fields), min_len=0)
  if (codes == TOO_LONG).any():
    raise ValueError(f"examples {np.flatnonzero(codes == TOO_LONG)[:10].tolist()} exceed "
                     f"the length limits ({grid.describe()})")
  groups: list[list[tuple[Example, int]]] = [[] for _ in grid.shapes]
  for i, k in enumerate(codes.tolist()):
    groups[k].append((examples[i], i))
  out = EvalBatches()
  for k, rows in enumerate(groups):
    bs = sizes[k]
    for start in range(0, len(rows), bs):
      out.append(pad_batch(rows[start:start + bs], bs, grid.shapes[k], fields))
  out.num_examples = len(examples)
  return out


def restore_order(batches: Iterable[dict[str, np.ndarray]], outputs: Iterable[Sequence[Any]],
                  num_examples: int | None = None) -> list[Any]:
  """Puts per-row outputs of eval batches back into source order.

  Args:
    batches: the batches (e.g. an :class:`EvalBatches`).
    outputs: one sequence per batch with one entry per row (e.g. decoded strings, or
      an array [B, ...]); padding rows are skipped.
    num_examples: size of the result (default: ``batches.num_examples`` or 1 + the
      largest index).

  Returns:
    A list whose element ``i`` is the output for source example ``i`` (None where no
    row had index ``i``).
  """
  if num_examples is None:
    num_examples = getattr(batches, "num_examples", None)
  batches = list(batches)
  if num_examples is None:
    num_examples = 1 + max((int(b["index"].max()) for b in batches), default=-1)
  result: list[Any] = [None] * num_examples
  for batch, out in zip(batches, outputs, strict=True):
    for row, i in enumerate(batch["index"]):
      if i >= 0:
        result[int(i)] = out[row]
  return result

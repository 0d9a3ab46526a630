"""Input pipeline: encode, filter by length, group by padded shape, batch and pad.

Modules, by concern:

- :mod:`.buckets`: length grids (:class:`Grid`, shared or separate source/target
  buckets), shape choice and batch size per shape.
- :mod:`.batching`: the example representation (a dict of arrays per example, token
  ids or float frames) and padding into a batch dict (:func:`pad_batch`).
- :mod:`.encoding`: text -> token examples; :func:`encode_sources` is the one place
  source ids (truncation, reversal, EOS) are made.
- :mod:`.stream` / :mod:`.prefetch` / :mod:`.training`: the seeded, checkpointable
  training stream and its iterator (:func:`make_train_iterator`).
- :mod:`.eval_batches`: every evaluation example once (:func:`make_eval_batches`).

Shapes: B is the batch size, S the source and T the target length, D a frame's
feature size. A batch has one padded shape (S, T) from a short list (jit compiles
once per shape): by default one shared grid with S = T = the smallest bucket L >=
max(source tokens + 1, target tokens + 1) (+1 for the source EOS and for the target's
BOS/EOS shift); with ``target_buckets`` a separate target grid, S and T chosen
independently. Translation batch dict (all numpy): ``src`` int32 [B, S], ``src_len``
int32 [B], ``tgt_in`` / ``tgt_out`` int32 [B, T], ``tgt_weights`` float32 [B, T],
``index`` int32 [B] (-1 on padding rows); see :mod:`.batching`.
"""

from seq2seq_jax.data.pipeline.batching import (BATCH_KEYS, SOURCE, TARGET,
                                                TRANSLATION_FIELDS, Example, Field, Fields,
                                                batch_keys, example_needs, pad_batch)
from seq2seq_jax.data.pipeline.buckets import (TOO_LONG, TOO_SHORT, Grid, bucket_batch_sizes,
                                               eval_buckets, grid_batch_sizes, resolve_buckets)
from seq2seq_jax.data.pipeline.encoding import (PairEncoder, encode_sources, encode_targets,
                                                source_ids)
from seq2seq_jax.data.pipeline.eval_batches import (EvalBatches, batch_examples,
                                                    make_eval_batches, restore_order)
from seq2seq_jax.data.pipeline.prefetch import TrainIterator
from seq2seq_jax.data.pipeline.training import make_example_iterator, make_train_iterator

__all__ = [
    "BATCH_KEYS", "SOURCE", "TARGET", "TRANSLATION_FIELDS", "Example", "Field", "Fields",
    "batch_keys", "example_needs", "pad_batch",
    "TOO_LONG", "TOO_SHORT", "Grid", "bucket_batch_sizes", "eval_buckets",
    "grid_batch_sizes", "resolve_buckets",
    "PairEncoder", "encode_sources", "encode_targets", "source_ids",
    "EvalBatches", "batch_examples", "make_eval_batches", "restore_order",
    "TrainIterator", "make_example_iterator", "make_train_iterator",
]

"""A token stream cut into batch rows and truncated-BPTT windows.

Training (Zaremba et al. 2014; TensorFlow's ``ptb_word_lm``): the stream of N tokens is cut
into B contiguous rows of R = N // B tokens (the tail is dropped), ``rows_BxR``. Step i of
an epoch reads the window ``[o, o + T]`` of every row (inputs ``[o, o+T)``, targets one
later), o = i*T, and the recurrent state carries from one window to the next, so that
every token is predicted once per epoch with all the context before it in its row; it is
reset to zero at the start of each epoch. An epoch has ``(R - 1) // T`` steps.

With ``variable_length`` (Merity et al. 2018, AWD-LSTM) the window length is drawn per
step: T with probability 0.95, else T/2, then ~ N(that, 5), at least 5, at most
``max_len``; the epoch continues until the row is used up. The schedule of windows is a
pure function of the seed and the step (:func:`schedule`), computed on the host for the
whole run and read inside the compiled step, so a resumed run sees the same windows.

Windows have a fixed width W = T (or ``max_len``) + 1 columns: ``rows`` are padded with W
zeros so a window never leaves the array, and a length mask marks the steps that count.

Evaluation covers every target of a split: its N - 1 (input, target) pairs are cut into B
rows of ceil((N - 1) / B) steps, the last padded and masked (:func:`eval_rows`); B = 1 is
the papers' test computation, one unbroken stream.

Shapes: N tokens, B rows, R row length, T window (BPTT) length, S steps.
"""
from __future__ import annotations

import dataclasses

import numpy as np


def batchify(ids_N: np.ndarray, rows: int) -> np.ndarray:
  """rows_BxR: B contiguous rows of N // B tokens."""
  R = len(ids_N) // rows
  if R < 2:
    raise ValueError(f"a stream of {len(ids_N)} tokens cannot fill {rows} rows of at least "
                     "2 tokens; use a smaller batch_size")
  return np.asarray(ids_N[:rows * R], np.int32).reshape(rows, R)


def steps_per_epoch(row_len: int, bptt: int) -> int:
  """The number of fixed-length windows in an epoch (as ``ptb_word_lm``)."""
  return (row_len - 1) // bptt


@dataclasses.dataclass(frozen=True)
class Schedule:
  """Window of each step: ``offset_S``, ``length_S`` and ``reset_S`` (epoch starts)."""
  offset: np.ndarray
  length: np.ndarray
  reset: np.ndarray
  epoch: np.ndarray


def schedule(row_len: int, bptt: int, num_steps: int, *, variable_length: bool = False,
             max_len: int = 0, seed: int = 0) -> Schedule:
  """The windows of `num_steps` steps over rows of `row_len` tokens (module docstring)."""
  if bptt < 1:
    raise ValueError(f"lm.bptt must be >= 1, got {bptt}")
  if row_len - 1 < bptt:
    raise ValueError(f"rows of {row_len} tokens are shorter than one BPTT window of {bptt}; "
                     "use a smaller batch_size or bptt")
  offsets, lengths, resets, epochs = [], [], [], []
  if not variable_length:
    spe = steps_per_epoch(row_len, bptt)
    s = np.arange(num_steps)
    i = s % spe
    return Schedule((i * bptt).astype(np.int32), np.full(num_steps, bptt, np.int32),
                    i == 0, (s // spe).astype(np.int32))
  max_len = max_len or bptt + 20
  epoch = 0
  while len(offsets) < num_steps:
    rng = np.random.default_rng([seed, epoch])
    o = 0
    while o < row_len - 2 and len(offsets) < num_steps:
      base = bptt if rng.random() < 0.95 else bptt / 2
      n = int(np.clip(int(rng.normal(base, 5)), 5, max_len))
      n = min(n, row_len - 1 - o)
      offsets.append(o)
      lengths.append(n)
      resets.append(o == 0)
      epochs.append(epoch)
      o += n
    epoch += 1
  return Schedule(np.asarray(offsets, np.int32), np.asarray(lengths, np.int32),
                  np.asarray(resets, bool), np.asarray(epochs, np.int32))


def pad_rows(rows_BxR: np.ndarray, width: int) -> np.ndarray:
  """Rows with `width` zero columns appended (a window starting at any offset fits)."""
  return np.pad(rows_BxR, ((0, 0), (0, width)))


def eval_rows(ids_N: np.ndarray, rows: int, chunk: int):
  """(inputs_BxR, targets_BxR, mask_BxR) of every (ids[t], ids[t+1]) pair, cut into B rows
  of R steps; R a multiple of `chunk`, the padding masked."""
  n = len(ids_N) - 1
  if n < 1:
    raise ValueError("a split of fewer than 2 tokens has nothing to predict")
  R = -(-n // rows)
  R = -(-R // chunk) * chunk
  pad = rows * R - n
  inputs = np.pad(np.asarray(ids_N[:-1], np.int32), (0, pad)).reshape(rows, R)
  targets = np.pad(np.asarray(ids_N[1:], np.int32), (0, pad)).reshape(rows, R)
  mask = np.pad(np.ones(n, bool), (0, pad)).reshape(rows, R)
  return inputs, targets, mask

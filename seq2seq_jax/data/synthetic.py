"""Synthetic tasks: the long-time-lag problems of Hochreiter & Schmidhuber (1997)
and copy/reverse sentence pairs, the smallest seq2seq sanity check.

The long-lag tasks are pure JAX functions of a PRNG key, so a training step
draws its own batch inside ``jit`` (no host input pipeline) and a test set is
just a fixed key. Every batch has a static padded length ``max_len(T)`` and a
per-sequence ``lengths_B``; models must mask the padding.

* **Adding problem** (H&S 1997, experiment 4). Each element is a pair
  (value in [-1, 1], marker in {-1, 0, 1}). Sequences have random lengths in
  [T, T + T/10]. One of the first ten pairs is marked (X1), and one other of the
  first T/2 - 1 pairs (X2); the first and last pairs carry marker -1 unless
  marked (when the first pair is marked, its value is set to 0, as in the paper). The
  target at the end is 0.5 + (X1 + X2) / 4; an output is correct if its
  absolute error is below 0.04. The minimal time lag is T/2.
* **Temporal order** (H&S 1997, experiment 6a). Symbols a, b, c, d fill a
  sequence of length [T, T + T/10] that starts with E and ends with B; two
  positions t1 in [T/10, T/5] and t2 in [T/2, 0.6 T] hold X or Y. The class
  (XX, XY, YX, YY) of the pair must be reported at the end. Inputs are one-hot.
* **Copy / reverse** pairs: random "words" from a small vocabulary; the target
  is the source or the source reversed. ``sources.load_parallel`` serves them
  as datasets ``synthetic/copy`` and ``synthetic/reverse``.

Shapes: B batch, T minimal length, L = max_len(T) padded length, D features.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

TASKS = ("adding", "temporal_order")
ERROR_THRESHOLD = 0.04  # H&S 1997: an adding-problem output is correct if |error| < 0.04
TEMPORAL_SYMBOLS = ("a", "b", "c", "d", "B", "E", "X", "Y")


def max_len(T: int) -> int:
  """Padded length of a batch of minimal length T (lengths reach T + T/10)."""
  return T + T // 10


def _lengths(key, B: int, T: int) -> jax.Array:
  return jax.random.randint(key, (B,), T, max_len(T) + 1)


def adding_batch(key, B: int, T: int):
  """(x_BxLx2, lengths_B, y_B) for the adding problem of minimal length T."""
  if T < 20:
    raise ValueError(f"adding problem: T must be >= 20 (marks fall in the first 10 and "
                     f"first T/2 - 1 positions), got {T}")
  L = max_len(T)
  k_len, k_val, k_p1, k_p2 = jax.random.split(key, 4)
  lengths = _lengths(k_len, B, T)
  values = jax.random.uniform(k_val, (B, L), minval=-1.0, maxval=1.0)
  p1 = jax.random.randint(k_p1, (B,), 0, 10)
  # X2 is one of the first T/2 - 1 pairs other than X1's: draw from T/2 - 2
  # slots and skip over p1.
  q = jax.random.randint(k_p2, (B,), 0, T // 2 - 2)
  p2 = jnp.where(q >= p1, q + 1, q)
  t = jnp.arange(L)[None, :]
  valid = t < lengths[:, None]
  values = jnp.where(valid, values, 0.0)
  # The paper: if the first pair gets marked, its value is set to zero.
  first_marked = (p1 == 0) | (p2 == 0)
  values = jnp.where((t == 0) & first_marked[:, None], 0.0, values)
  marked = (t == p1[:, None]) | (t == p2[:, None])
  ends = (t == 0) | (t == lengths[:, None] - 1)
  marker = jnp.where(marked, 1.0, jnp.where(ends & valid, -1.0, 0.0))
  x1 = jnp.take_along_axis(values, p1[:, None], 1)[:, 0]
  x2 = jnp.take_along_axis(values, p2[:, None], 1)[:, 0]
  y = 0.5 + (x1 + x2) / 4.0
  return jnp.stack([values, marker], axis=-1), lengths, y


def temporal_order_batch(key, B: int, T: int):
  """(x_BxLx8 one-hot, lengths_B, class_B in 0..3) for the temporal-order task."""
  if T < 20:
    raise ValueError(f"temporal order: T must be >= 20, got {T}")
  L = max_len(T)
  k_len, k_sym, k_t1, k_t2, k_c = jax.random.split(key, 5)
  lengths = _lengths(k_len, B, T)
  sym = jax.random.randint(k_sym, (B, L), 0, 4)  # a, b, c, d
  t1 = jax.random.randint(k_t1, (B,), T // 10, T // 5 + 1)
  t2 = jax.random.randint(k_t2, (B,), T // 2, (6 * T) // 10 + 1)
  cls = jax.random.randint(k_c, (B,), 0, 4)  # XX, XY, YX, YY
  X, Y, B_, E = (TEMPORAL_SYMBOLS.index(s) for s in ("X", "Y", "B", "E"))
  first = jnp.where(cls // 2 == 0, X, Y)
  second = jnp.where(cls % 2 == 0, X, Y)
  t = jnp.arange(L)[None, :]
  sym = jnp.where(t == t1[:, None], first[:, None], sym)
  sym = jnp.where(t == t2[:, None], second[:, None], sym)
  sym = jnp.where(t == 0, E, sym)
  sym = jnp.where(t == lengths[:, None] - 1, B_, sym)
  x = jax.nn.one_hot(sym, len(TEMPORAL_SYMBOLS)) * (t < lengths[:, None])[..., None]
  return x, lengths, cls


def make_batch(task: str, key, B: int, T: int):
  if task == "adding":
    return adding_batch(key, B, T)
  if task == "temporal_order":
    return temporal_order_batch(key, B, T)
  raise ValueError(f"unknown synthetic task {task!r}; expected one of {TASKS}")


def input_dim(task: str) -> int:
  return {"adding": 2, "temporal_order": len(TEMPORAL_SYMBOLS)}[task]


def output_dim(task: str) -> int:
  return {"adding": 1, "temporal_order": 4}[task]


# ----------------------------------------------------------------------------
# Copy / reverse sentence pairs (text, for the ordinary seq2seq pipeline).
# ----------------------------------------------------------------------------
PAIR_TASKS = ("copy", "reverse")
PAIR_SPLITS = {"train": (20_000, 0), "validation": (500, 1), "test": (500, 2)}
PAIR_VOCAB = 20
PAIR_LENGTHS = (3, 20)


def text_pairs(task: str, n: int, seed: int, vocab: int = PAIR_VOCAB,
               lengths: tuple[int, int] = PAIR_LENGTHS) -> tuple[list[str], list[str]]:
  """`n` (source, target) sentences of words w0..w{vocab-1}; target = copy or reverse."""
  if task not in PAIR_TASKS:
    raise ValueError(f"unknown pair task {task!r}; expected one of {PAIR_TASKS}")
  rng = np.random.default_rng(np.random.SeedSequence([seed, PAIR_TASKS.index(task)]))
  src, tgt = [], []
  for _ in range(n):
    words = [f"w{i}" for i in rng.integers(0, vocab, rng.integers(lengths[0], lengths[1] + 1))]
    src.append(" ".join(words))
    tgt.append(" ".join(words[::-1] if task == "reverse" else words))
  return src, tgt


def pair_split(task: str, split: str) -> tuple[list[str], list[str]]:
  """The fixed train/validation/test split of dataset ``synthetic/<task>``."""
  if split not in PAIR_SPLITS:
    raise ValueError(f"synthetic/{task}: unknown split {split!r}; expected one of "
                     f"{sorted(PAIR_SPLITS)}")
  n, seed = PAIR_SPLITS[split]
  src, tgt = text_pairs(task, n, seed)
  if split == "train":  # held-out sentences never appear in training
    held = {s for name in ("validation", "test") for s in text_pairs(task, *PAIR_SPLITS[name])[0]}
    keep = [i for i, s in enumerate(src) if s not in held]
    src, tgt = [src[i] for i in keep], [tgt[i] for i in keep]
  return src, tgt

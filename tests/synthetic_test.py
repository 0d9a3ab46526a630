"""The long-time-lag task generators and the copy/reverse corpora."""
import jax
import numpy as np
import pytest

from seq2seq_jax.data import sources, synthetic


@pytest.mark.parametrize("T", [20, 100])
def test_adding_batch_follows_the_paper(T):
  x, lengths, y = (np.asarray(a) for a in synthetic.adding_batch(jax.random.key(3), 256, T))
  assert x.shape == (256, synthetic.max_len(T), 2)
  assert lengths.min() >= T and lengths.max() <= T + T // 10
  for b in range(256):
    n = lengths[b]
    values, marker = x[b, :, 0], x[b, :, 1]
    assert np.all(x[b, n:] == 0)  # padding is zero
    assert np.all(np.abs(values[:n]) <= 1)
    marked = np.flatnonzero(marker == 1)
    assert len(marked) == 2
    assert marked[0] < 10 and marked[1] < T // 2 - 1 or marked[1] < 10 and marked[0] < T // 2 - 1
    others = np.setdiff1d(np.arange(n), marked)
    ends = [t for t in (0, n - 1) if t not in marked]
    assert np.all(marker[ends] == -1)
    assert np.all(marker[np.setdiff1d(others, ends)] == 0)
    x1x2 = values[marked].sum()
    np.testing.assert_allclose(y[b], 0.5 + x1x2 / 4, atol=1e-6)
    if 0 in marked:  # the paper sets X1 to zero when the first pair is marked
      assert values[0] == 0
  assert 0 <= y.min() and y.max() <= 1


def test_adding_batch_is_a_function_of_the_key():
  a = synthetic.adding_batch(jax.random.key(0), 8, 30)
  b = synthetic.adding_batch(jax.random.key(0), 8, 30)
  c = synthetic.adding_batch(jax.random.key(1), 8, 30)
  assert all(np.array_equal(u, v) for u, v in zip(a, b))
  assert not np.array_equal(a[0], c[0])


def test_temporal_order_batch():
  T = 100
  x, lengths, cls = (np.asarray(a) for a in synthetic.temporal_order_batch(jax.random.key(5),
                                                                          200, T))
  sym = synthetic.TEMPORAL_SYMBOLS
  assert x.shape == (200, synthetic.max_len(T), len(sym))
  assert set(np.unique(cls)) == {0, 1, 2, 3}
  for b in range(200):
    n = lengths[b]
    assert np.all(x[b, :n].sum(-1) == 1) and np.all(x[b, n:] == 0)
    s = [sym[i] for i in x[b, :n].argmax(-1)]
    assert s[0] == "E" and s[-1] == "B"
    xy = [(t, c) for t, c in enumerate(s) if c in "XY"]
    assert len(xy) == 2
    (t1, c1), (t2, c2) = xy
    assert 10 <= t1 <= 20 and 50 <= t2 <= 60
    assert cls[b] == {"XX": 0, "XY": 1, "YX": 2, "YY": 3}[c1 + c2]
    assert set(s[1:-1]) - {"X", "Y"} <= set("abcd")


def test_bad_task_and_length():
  with pytest.raises(ValueError, match="unknown synthetic task"):
    synthetic.make_batch("addition", jax.random.key(0), 2, 50)
  with pytest.raises(ValueError, match="T must be >= 20"):
    synthetic.adding_batch(jax.random.key(0), 2, 10)


def test_reverse_and_copy_datasets():
  train = sources.load_parallel("synthetic/reverse", "train", "src", "tgt")
  test = sources.load_parallel("synthetic/reverse", "test", "src", "tgt")
  assert len(test) == 500 and 19_000 < len(train) <= 20_000
  for i in range(50):
    s, t = test[i]
    assert t.split() == s.split()[::-1]
    assert 3 <= len(s.split()) <= 20
  held = {test[i][0] for i in range(len(test))}
  assert not held & {train[i][0] for i in range(len(train))}
  copy = sources.load_parallel("synthetic/copy", "validation", "src", "tgt")
  assert all(copy[i][0] == copy[i][1] for i in range(len(copy)))
  # Fixed corpora: the same sentences every time.
  assert sources.load_parallel("synthetic/reverse", "test", "src", "tgt")[7] == test[7]


def test_unknown_synthetic_dataset():
  with pytest.raises(ValueError, match="synthetic/copy"):
    sources.load_parallel("synthetic/sort", "train", "src", "tgt")

"""Tests for seq2seq_jax.data.input_pipeline: bucketing, padding, state, sharding, eval."""
import collections
import json
import random

import numpy as np
import pytest

from seq2seq_jax.data import input_pipeline as ip
from seq2seq_jax.data import sources
from seq2seq_jax.data import tokenizer as tk

BOS, EOS, PAD = tk.BOS_ID, tk.EOS_ID, tk.PAD_ID


class IntTok(tk.TokenizerBase):
  """Text is space-separated integers; id = integer + 4. Makes contents checkable."""

  vocab_size = 10_000

  def encode(self, text):
    return [int(w) + 4 for w in text.split()]

  def decode(self, ids):
    return " ".join(str(i - 4) for i in self._content_ids(ids))

  def id_to_piece(self, i):
    return str(i)


TOK = IntTok()


def _corpus(n=400, max_src=40, max_tgt=45, seed=0, empty_every=0):
  """Pair i: source tokens i*10+j, target tokens 50000+i*10+j (so rows identify pairs)."""
  rng = random.Random(seed)
  src, tgt = [], []
  for i in range(n):
    ls, lt = rng.randint(1, max_src), rng.randint(1, max_tgt)
    if empty_every and i % empty_every == 0:
      ls = 0
    src.append(" ".join(str(i * 100 + j) for j in range(ls)))
    tgt.append(" ".join(str(50000 + i * 100 + j) for j in range(lt)))
  return sources.from_lists(src, tgt, "xx", "yy")


def _expected(source, i, reverse=False):
  s = TOK.encode(source[i][0])
  t = TOK.encode(source[i][1])
  return (s[::-1] if reverse else s) + [EOS], t


def _real_rows(batch):
  return [r for r in range(len(batch["index"])) if batch["index"][r] >= 0]


def _check_batch(batch, source, reverse=False):
  """Every row holds exactly its source pair, correctly shifted and padded."""
  assert set(batch) == set(ip.BATCH_KEYS)
  B, L = batch["src"].shape
  for k in ("tgt_in", "tgt_out", "tgt_weights"):
    assert batch[k].shape == (B, L)
  assert batch["src_len"].shape == batch["index"].shape == (B,)
  assert batch["src"].dtype == batch["tgt_in"].dtype == batch["tgt_out"].dtype == np.int32
  assert batch["src_len"].dtype == batch["index"].dtype == np.int32
  assert batch["tgt_weights"].dtype == np.float32
  for r in range(B):
    i = int(batch["index"][r])
    if i < 0:  # Padding row.
      assert batch["src_len"][r] == 0 and not batch["tgt_weights"][r].any()
      assert not batch["src"][r].any() and not batch["tgt_in"][r].any()
      continue
    s, t = _expected(source, i, reverse)
    n = len(t) + 1
    np.testing.assert_array_equal(batch["src"][r], s + [PAD] * (L - len(s)))
    assert batch["src_len"][r] == len(s)
    np.testing.assert_array_equal(batch["tgt_in"][r], [BOS] + t + [PAD] * (L - n))
    np.testing.assert_array_equal(batch["tgt_out"][r], t + [EOS] + [PAD] * (L - n))
    np.testing.assert_array_equal(batch["tgt_weights"][r], [1.0] * n + [0.0] * (L - n))


def _take(it, n):
  return [next(it) for _ in range(n)]


def _same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def _one_epoch(source, **kw):
  if "tokens_per_batch" not in kw:
    kw.setdefault("batch_size", 8)
  kw.setdefault("buckets", (8, 16, 32, 48))
  it = ip.make_train_iterator(source, TOK, TOK, num_epochs=1, drop_remainder=False, **kw)
  batches = list(it)
  return batches, it.get_state()


# --------------------------------------------------------------------------- helpers


def test_pad_batch_layout():
  b = ip.pad_batch([(np.array([7, 8, EOS], np.int32), np.array([9], np.int32), 5)], 3, 4)
  np.testing.assert_array_equal(b["src"], [[7, 8, EOS, 0], [0] * 4, [0] * 4])
  np.testing.assert_array_equal(b["tgt_in"][0], [BOS, 9, 0, 0])
  np.testing.assert_array_equal(b["tgt_out"][0], [9, EOS, 0, 0])
  np.testing.assert_array_equal(b["tgt_weights"][0], [1, 1, 0, 0])
  np.testing.assert_array_equal(b["src_len"], [3, 0, 0])
  np.testing.assert_array_equal(b["index"], [5, -1, -1])
  assert not b["tgt_weights"][1:].any()
  with pytest.raises(ValueError, match="does not fit"):
    ip.pad_batch([(np.arange(5, dtype=np.int32), np.array([], np.int32), 0)], 1, 4)


def test_source_reversal_keeps_eos_last():
  np.testing.assert_array_equal(ip.source_ids([5, 6, 7], reverse=True), [7, 6, 5, EOS])
  np.testing.assert_array_equal(ip.source_ids([5, 6, 7]), [5, 6, 7, EOS])
  np.testing.assert_array_equal(ip.source_ids([], reverse=True), [EOS])


def test_bucket_helpers():
  assert ip.resolve_buckets((8, 16, 32), None) == ((8, 16, 32), 32)
  assert ip.resolve_buckets((8, 16, 32), 12) == ((8, 16), 12)
  assert ip.resolve_buckets(None, 20) == ((20,), 20)
  with pytest.raises(ValueError, match="largest bucket"):
    ip.resolve_buckets((8, 16), 20)
  with pytest.raises(ValueError, match="increasing"):
    ip.resolve_buckets((16, 8), None)
  assert [ip.bucket_index(n, (8, 16)) for n in (1, 8, 9, 16, 17)] == [0, 0, 1, 1, -1]
  codes = ip.assign_buckets([3, 9, 3, 1, 4], [2, 2, 20, 3, 0], (8, 16), 16, min_len=1)
  np.testing.assert_array_equal(codes, [0, 1, ip.TOO_LONG, ip.TOO_SHORT, ip.TOO_SHORT])


def test_batch_sizes_by_tokens():
  sizes = ip.bucket_batch_sizes((16, 32, 64), tokens_per_batch=1000, batch_multiple=4)
  assert sizes == (60, 28, 12)
  assert ip.bucket_batch_sizes((16, 512), tokens_per_batch=1000, batch_multiple=8) == (56, 8)
  assert ip.bucket_batch_sizes((16, 32), batch_size=24, batch_multiple=8) == (24, 24)
  with pytest.raises(ValueError, match="multiple"):
    ip.bucket_batch_sizes((16,), batch_size=20, batch_multiple=8)
  with pytest.raises(ValueError, match="exactly one"):
    ip.bucket_batch_sizes((16,), batch_size=8, tokens_per_batch=100)


# --------------------------------------------------------------------------- training stream


@pytest.mark.parametrize("reverse", [False, True])
def test_train_batches_static_shapes_contents_and_filtering(reverse):
  source = _corpus(empty_every=50)
  buckets, max_len = (8, 16, 32, 48), 40
  batches, state = _one_epoch(source, buckets=buckets, max_len=max_len, reverse_source=reverse,
                              tokens_per_batch=256, batch_multiple=2)
  sizes = dict(zip(buckets, ip.bucket_batch_sizes(buckets, tokens_per_batch=256,
                                                  batch_multiple=2)))
  seen = []
  for b in batches:
    B, L = b["src"].shape
    assert L in (8, 16, 32, 48) and B == sizes[L]
    _check_batch(b, source, reverse)
    for r in _real_rows(b):
      need = max(int(b["src_len"][r]), int(b["tgt_weights"][r].sum()))
      assert need <= L and need <= max_len
      smaller = [x for x in buckets if x < L]
      assert not smaller or need > smaller[-1]  # The smallest bucket that fits.
    seen += [int(i) for i in b["index"] if i >= 0]
  # Exactly the pairs that fit were produced, each once.
  def fits(i):
    s, t = _expected(source, i)
    return len(s) <= max_len and len(t) + 1 <= max_len and len(s) > 1
  assert sorted(seen) == [i for i in range(len(source)) if fits(i)]
  def too_long(i):
    s, t = _expected(source, i)
    return max(len(s), len(t) + 1) > max_len
  assert state["num_too_long"] == sum(map(too_long, range(len(source)))) > 0
  # Empty sources (every 50th) that are not already too long.
  assert state["num_too_short"] == sum(not too_long(i) for i in range(0, len(source), 50)) > 0
  assert state["num_seen"] == len(source)


def test_drop_remainder_and_batch_size():
  source = _corpus(n=100, max_src=6, max_tgt=6)
  it = ip.make_train_iterator(source, TOK, TOK, batch_size=16, buckets=(8,), num_epochs=1)
  batches = list(it)
  assert len(batches) == 100 // 16
  assert all(b["src"].shape == (16, 8) and (b["index"] >= 0).all() for b in batches)


def test_seed_determinism_and_epoch_reshuffle():
  source = _corpus(n=120)
  kw = dict(batch_size=4, buckets=(16, 32, 48), seed=3, num_epochs=2, drop_remainder=False)
  a = list(ip.make_train_iterator(source, TOK, TOK, **kw))
  b = list(ip.make_train_iterator(source, TOK, TOK, **kw))
  _same(a, b)
  c = _take(ip.make_train_iterator(source, TOK, TOK, **dict(kw, seed=4)), 5)
  assert any(not np.array_equal(x["index"], y["index"]) for x, y in zip(a, c))
  # Each epoch is a different permutation of the whole source.
  # pylint: disable-next=protected-access
  stream = ip._Stream(source, TOK, TOK, reverse_source=False, seed=3, shuffle=True,
                      shard_index=0, shard_count=1, num_epochs=2, chunk_size=16,
                      buckets=(48,), max_len=48, min_len=1)
  idx = stream.source_indices(np.arange(240))
  e0, e1 = idx[:120], idx[120:]
  assert sorted(e0) == sorted(e1) == list(range(120))
  assert list(e0) != list(e1) and list(e0) != list(range(120))


@pytest.mark.parametrize("prefetch,n,m", [(2, 3, 6), (0, 7, 5), (2, 0, 4)])
def test_checkpoint_state_restore_is_exact(prefetch, n, m):
  source = _corpus(n=300)
  kw = dict(tokens_per_batch=200, buckets=(8, 16, 32, 48), seed=7, prefetch_batches=prefetch,
            chunk_size=32)
  it = ip.make_train_iterator(source, TOK, TOK, **kw)
  _take(it, n)
  state = json.loads(json.dumps(it.get_state()))  # Must survive a JSON checkpoint.
  if n:
    assert any(state["pending"])  # Examples wait in partially filled buckets.
  expected = _take(it, m)
  it2 = ip.make_train_iterator(source, TOK, TOK, **kw)
  _take(it2, 2)  # Position elsewhere first: set_state must reset everything.
  it2.set_state(state)
  _same(_take(it2, m), expected)
  # Restoring twice from the same state gives the same batches again.
  it2.set_state(state)
  _same(_take(it2, m), expected)


def test_checkpoint_across_epochs_and_end_of_data():
  source = _corpus(n=50)
  kw = dict(batch_size=4, buckets=(16, 32, 48), seed=1, num_epochs=3, drop_remainder=False,
            chunk_size=8)
  full = list(ip.make_train_iterator(source, TOK, TOK, **kw))
  it = ip.make_train_iterator(source, TOK, TOK, **kw)
  k = len(full) - 3
  _take(it, k)
  state = it.get_state()
  it2 = ip.make_train_iterator(source, TOK, TOK, **kw)
  it2.set_state(state)
  _same(list(it2), full[k:])
  counts = collections.Counter(int(i) for b in full for i in b["index"] if i >= 0)
  assert set(counts.values()) == {3} and len(counts) == sum(
      1 for i in range(50) if len(_expected(source, i)[1]) + 1 <= 48)


def test_shards_are_disjoint_and_cover():
  source = _corpus(n=200, max_src=10, max_tgt=10)
  per_shard = []
  for k in range(3):
    batches, _ = _one_epoch(source, batch_size=4, buckets=(16,), shard_index=k, shard_count=3)
    per_shard.append({int(i) for b in batches for i in b["index"] if i >= 0})
  assert per_shard[0].isdisjoint(per_shard[1]) and per_shard[1].isdisjoint(per_shard[2])
  assert per_shard[0].isdisjoint(per_shard[2])
  assert set().union(*per_shard) == set(range(200))
  assert all(i % 3 == k for k, s in enumerate(per_shard) for i in s)
  with pytest.raises(ValueError, match="shard_index"):
    ip.make_train_iterator(source, TOK, TOK, batch_size=4, shard_index=3, shard_count=3)


def test_sentencepiece_end_to_end(tmp_path):
  src = [f"open the file number {i} now" for i in range(60)]
  tgt = [f"öffne die datei nummer {i} jetzt" for i in range(60)]
  source = sources.from_lists(src, tgt, "en", "de")
  sp = tk.train_sentencepiece(src + tgt, str(tmp_path / "sp"), vocab_size=40)
  b = next(ip.make_train_iterator(source, sp, sp, batch_size=4, buckets=(16, 32),
                                  reverse_source=True))
  for r in range(4):
    i = int(b["index"][r])
    n = int(b["src_len"][r])
    assert b["src"][r, n - 1] == EOS
    assert sp.decode(b["src"][r, : n - 1][::-1]) == src[i]
    assert sp.decode(b["tgt_out"][r]) == tgt[i]


# --------------------------------------------------------------------------- evaluation


def test_eval_batches_cover_all_in_order():
  source = _corpus(n=97)
  buckets = (8, 16, 32, 48)
  batches = ip.make_eval_batches(source, TOK, TOK, batch_size=8, buckets=buckets, max_len=32)
  assert batches.num_examples == 97
  assert all(b["src"].shape[0] == 8 and b["src"].shape[1] in (8, 16, 32) for b in batches)
  idx = [int(i) for b in batches for i in b["index"] if i >= 0]
  assert sorted(idx) == list(range(97))  # Every example exactly once.
  # Within a bucket, source order.
  by_len = collections.defaultdict(list)
  for b in batches:
    by_len[b["src"].shape[1]] += [int(i) for i in b["index"] if i >= 0]
  assert all(v == sorted(v) for v in by_len.values())
  # Over-long pairs are truncated, not dropped, and recorded.
  trunc = [i for i in range(97) if max(len(_expected(source, i)[0]),
                                       len(_expected(source, i)[1]) + 1) > 32]
  assert trunc and list(batches.truncated) == trunc
  for b in batches:
    for r in range(8):
      i = int(b["index"][r])
      if i < 0:
        assert b["src_len"][r] == 0 and not b["tgt_weights"][r].any()
      elif i in trunc:
        assert b["src_len"][r] <= 32 and b["tgt_weights"][r].sum() <= 32
        s, t = _expected(source, i)
        assert list(b["src"][r, : b["src_len"][r] - 1]) == s[: int(b["src_len"][r]) - 1]
      else:
        _check_batch({k: v[r:r + 1] for k, v in b.items()}, source)
  # Outputs go back into source order.
  outs = [[f"out{int(i)}" for i in b["index"]] for b in batches]
  assert ip.restore_order(batches, outs) == [f"out{i}" for i in range(97)]


def test_eval_reversal_and_tiny_source():
  source = _corpus(n=3, max_src=5, max_tgt=5)
  batches = ip.make_eval_batches(source, TOK, TOK, batch_size=4, buckets=(8,),
                                 reverse_source=True)
  assert len(batches) == 1 and batches[0]["src"].shape == (4, 8)
  _check_batch(batches[0], source, reverse=True)
  assert list(batches[0]["index"]) == [0, 1, 2, -1]
  empty = ip.make_eval_batches(sources.from_lists([], []), TOK, TOK, batch_size=4, buckets=(8,))
  assert len(empty) == 0 and empty.num_examples == 0


def test_eval_buckets_extend_past_the_training_limit():
  assert ip.eval_buckets((16, 24, 32, 48), 48, 256) == ((16, 24, 32, 48, 80, 128, 192, 256), 256)
  assert ip.eval_buckets((16, 24, 32, 48), 48, 0) == ((16, 24, 32, 48), 48)
  assert ip.eval_buckets((16, 32), 32, None) == ((16, 32), 32)
  assert ip.eval_buckets((16, 32), 32, 40) == ((16, 32, 40), 40)
  with pytest.raises(ValueError, match="eval_max_len=20 is below the training max_len=32"):
    ip.eval_buckets((16, 32), 32, 20)


def test_eval_batches_with_longer_eval_buckets_keep_long_pairs_whole():
  source = _corpus(n=97)
  short = ip.make_eval_batches(source, TOK, TOK, batch_size=8, buckets=(8, 16, 32), max_len=32)
  assert len(short.truncated) > 0
  bks, limit = ip.eval_buckets((8, 16, 32), 32, 128)
  whole = ip.make_eval_batches(source, TOK, TOK, batch_size=8, buckets=bks, max_len=limit)
  assert len(whole.truncated) == 0
  got = {int(i): (b["src"][r][:b["src_len"][r]].tolist())
         for b in whole for r, i in enumerate(b["index"]) if i >= 0}
  for i in range(97):  # every source whole, EOS included
    assert got[i] == list(_expected(source, i)[0]), i

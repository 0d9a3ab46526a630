"""Tests for seq2seq_jax.data.pipeline: grids, padding, encoding, stream state, sharding, eval."""
import collections
import hashlib
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from seq2seq_jax.data import pipeline as ip
from seq2seq_jax.data import sources
from seq2seq_jax.data.pipeline import stream as stream_lib
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


def _pair(src, tgt):
  return {"src": np.asarray(src, np.int32), "tgt": np.asarray(tgt, np.int32)}


def test_pad_batch_layout():
  b = ip.pad_batch([(_pair([7, 8, EOS], [9]), 5)], 3, (4, 4))
  assert tuple(b) == ip.BATCH_KEYS
  np.testing.assert_array_equal(b["src"], [[7, 8, EOS, 0], [0] * 4, [0] * 4])
  np.testing.assert_array_equal(b["tgt_in"][0], [BOS, 9, 0, 0])
  np.testing.assert_array_equal(b["tgt_out"][0], [9, EOS, 0, 0])
  np.testing.assert_array_equal(b["tgt_weights"][0], [1, 1, 0, 0])
  np.testing.assert_array_equal(b["src_len"], [3, 0, 0])
  np.testing.assert_array_equal(b["index"], [5, -1, -1])
  assert not b["tgt_weights"][1:].any()
  with pytest.raises(ValueError, match="does not fit"):
    ip.pad_batch([(_pair(np.arange(5), []), 0)], 1, (4, 4))
  # Separate lengths: source to S, target to T.
  b = ip.pad_batch([(_pair([7, EOS], [9, 9, 9]), 0)], 1, (2, 5))
  assert b["src"].shape == (1, 2) and b["tgt_in"].shape == b["tgt_weights"].shape == (1, 5)
  with pytest.raises(ValueError, match="does not fit length 3"):
    ip.pad_batch([(_pair([7, EOS], [9, 9, 9]), 0)], 1, (8, 3))


def test_source_reversal_keeps_eos_last():
  np.testing.assert_array_equal(ip.source_ids([5, 6, 7], reverse=True), [7, 6, 5, EOS])
  np.testing.assert_array_equal(ip.source_ids([5, 6, 7]), [5, 6, 7, EOS])
  np.testing.assert_array_equal(ip.source_ids([], reverse=True), [EOS])


def test_encode_sources_truncates_before_reversal():
  lines = ["1 2 3 4 5", "", "1 2", "9 8 7"]
  ids, cut = ip.encode_sources(TOK, lines, max_len=4, reverse=True)
  assert cut == [0]
  assert [x.tolist() for x in ids] == [[7, 6, 5, EOS], [EOS], [6, 5, EOS], [11, 12, 13, EOS]]
  assert all(x.dtype == np.int32 for x in ids)
  ids, cut = ip.encode_sources(TOK, lines)  # No limit, no reversal.
  assert cut == [] and ids[0].tolist() == [5, 6, 7, 8, 9, EOS]
  assert ip.encode_sources(TOK, []) == ([], [])
  tgt, cut = ip.encode_targets(TOK, lines, max_len=3)
  assert cut == [0, 3] and [t.tolist() for t in tgt] == [[5, 6], [], [5, 6], [13, 12]]
  exs, cut = ip.PairEncoder(TOK, TOK, reverse_source=True).encode(
      [("1 2 3", "4"), ("5", "6 7 8 9")], max_len=3, max_target_len=4)
  assert cut == [0, 1]
  assert exs[0]["src"].tolist() == [6, 5, EOS] and exs[1]["tgt"].tolist() == [10, 11, 12]


def test_grid_shapes_and_assignment():
  assert ip.resolve_buckets((8, 16, 32), None) == ((8, 16, 32), 32)
  assert ip.resolve_buckets((8, 16, 32), 12) == ((8, 16), 12)
  assert ip.resolve_buckets(None, 20) == ((20,), 20)
  with pytest.raises(ValueError, match="largest bucket"):
    ip.resolve_buckets((8, 16), 20)
  with pytest.raises(ValueError, match="increasing"):
    ip.resolve_buckets((16, 8), None)
  shared = ip.Grid.make((8, 16), 16)
  assert shared.shared and shared.shapes == ((8, 8), (16, 16)) and shared.target_limit == 16
  # Needs: source tokens + EOS, target tokens + 1.
  codes = shared.assign([3, 9, 3, 1, 4, 8], [3, 3, 21, 4, 1, 9], min_len=1)
  np.testing.assert_array_equal(codes, [0, 1, ip.TOO_LONG, ip.TOO_SHORT, ip.TOO_SHORT, 1])
  sep = ip.Grid.make((8, 16, 32), 32, target_buckets=(4, 8), max_target_len=6)
  assert sep.shapes == ((8, 4), (8, 8), (16, 4), (16, 8), (32, 4), (32, 8))
  codes = sep.assign([3, 3, 20, 33, 3, 1], [4, 5, 2, 2, 7, 3], min_len=1)
  np.testing.assert_array_equal(codes, [0, 1, 4, ip.TOO_LONG, ip.TOO_LONG, ip.TOO_SHORT])
  assert sep.target_buckets == (4, 8) and sep.target_limit == 6
  with pytest.raises(ValueError, match="needs target_buckets"):
    ip.Grid.make((8,), None, max_target_len=6)


def test_batch_sizes_by_tokens():
  sizes = ip.bucket_batch_sizes((16, 32, 64), tokens_per_batch=1000, batch_multiple=4)
  assert sizes == (60, 28, 12)
  assert ip.bucket_batch_sizes((16, 512), tokens_per_batch=1000, batch_multiple=8) == (56, 8)
  assert ip.bucket_batch_sizes((16, 32), batch_size=24, batch_multiple=8) == (24, 24)
  with pytest.raises(ValueError, match="multiple"):
    ip.bucket_batch_sizes((16,), batch_size=20, batch_multiple=8)
  with pytest.raises(ValueError, match="exactly one"):
    ip.bucket_batch_sizes((16,), batch_size=8, tokens_per_batch=100)
  # Separate grids count tokens on the longer side: B * max(S, T).
  grid = ip.Grid.make((16, 64), None, target_buckets=(8, 32))
  assert ip.grid_batch_sizes(grid, tokens_per_batch=1000, batch_multiple=4) == (60, 28, 12, 12)


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
  stream = stream_lib.Stream(source, ip.PairEncoder(TOK, TOK), fields=ip.TRANSLATION_FIELDS,
                             grid=ip.Grid.make((48,), 48), min_len=1, seed=3, shuffle=True,
                             shard_index=0, shard_count=1, num_epochs=2, chunk_size=16)
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


# --------------------------------------------------------------------------- shared grid unchanged


def _fingerprint(batches, states):
  h = hashlib.sha256()
  for b, s in zip(batches, states, strict=True):
    for k, v in b.items():
      h.update(f"{k}:{v.dtype.str}:{v.shape}".encode())
      h.update(v.tobytes())
    h.update(json.dumps(s, sort_keys=True).encode())
  return h.hexdigest()


def test_shared_grid_batches_and_states_unchanged():
  """Recorded with the single-module pipeline (before separate grids): same batches,
  key order, dtypes and iterator states, bit for bit, so recorded losses still hold."""
  it = ip.make_train_iterator(_corpus(n=300, empty_every=50), TOK, TOK, tokens_per_batch=256,
                              batch_multiple=2, buckets=(8, 16, 32, 48), max_len=40,
                              num_epochs=2, drop_remainder=False, seed=5, chunk_size=64,
                              reverse_source=True)
  batches, states = [], []
  for b in it:
    batches.append(b)
    states.append(it.get_state())
  assert len(batches) == 78
  assert _fingerprint(batches, states) == (
      "36c6e5b074b66dead797640eed0dcf5e621ea2a64d425b9d07a4d3fcaf242f3b")
  eb = ip.make_eval_batches(_corpus(n=97), TOK, TOK, tokens_per_batch=200, buckets=(8, 16, 32),
                            max_len=32, reverse_source=True)
  assert len(eb) == 16
  assert _fingerprint(eb, [eb.truncated.tolist()] * len(eb)) == (
      "cf893a01ebeefb07696b183227b61a121f9837da1634b6ab57ca05602d30b1f0")


# --------------------------------------------------------------------------- separate grids

SRC_BUCKETS, TGT_BUCKETS = (8, 16, 32, 48), (8, 24)


def _check_separate(b, source, max_len, max_target_len):
  """Shapes come from the two grids, and each row sits in the smallest (S, T) it fits."""
  B, S = b["src"].shape
  T = b["tgt_in"].shape[1]
  assert S in SRC_BUCKETS and T in TGT_BUCKETS
  for k in ("tgt_out", "tgt_weights"):
    assert b[k].shape == (B, T)
  for r in _real_rows(b):
    s_need, t_need = int(b["src_len"][r]), int(b["tgt_weights"][r].sum())
    assert s_need <= min(S, max_len) and t_need <= min(T, max_target_len)
    assert S == min(x for x in SRC_BUCKETS if x >= s_need)
    assert T == min(x for x in TGT_BUCKETS if x >= t_need)
    i = int(b["index"][r])
    s, t = _expected(source, i)
    np.testing.assert_array_equal(b["src"][r], s + [PAD] * (S - len(s)))
    np.testing.assert_array_equal(b["tgt_out"][r], t + [EOS] + [PAD] * (T - len(t) - 1))
    np.testing.assert_array_equal(b["tgt_in"][r], [BOS] + t + [PAD] * (T - len(t) - 1))


def test_separate_grids_train_shapes_and_coverage():
  source = _corpus(n=300, max_src=45, max_tgt=22)
  kw = dict(buckets=SRC_BUCKETS, max_len=44, target_buckets=TGT_BUCKETS, max_target_len=20)
  batches, state = _one_epoch(source, tokens_per_batch=256, batch_multiple=2, **kw)
  grid = ip.Grid.make(SRC_BUCKETS, 44, TGT_BUCKETS, 20)
  sizes = dict(zip(grid.shapes, ip.grid_batch_sizes(grid, tokens_per_batch=256,
                                                    batch_multiple=2)))
  shapes = set()
  for b in batches:
    _check_separate(b, source, 44, 20)
    shape = (b["src"].shape[1], b["tgt_in"].shape[1])
    assert b["src"].shape[0] == sizes[shape] == 256 // max(shape) // 2 * 2
    shapes.add(shape)
  assert len(shapes) > len(SRC_BUCKETS)  # Short targets are not padded to the source length.
  def fits(i):
    s, t = _expected(source, i)
    return len(s) <= 44 and len(t) + 1 <= 20
  seen = sorted(int(i) for b in batches for i in b["index"] if i >= 0)
  assert seen == [i for i in range(len(source)) if fits(i)]
  assert state["num_too_long"] == len(source) - len(seen) > 0
  assert len(state["pending"]) == len(grid.shapes)


def test_separate_grids_checkpoint_round_trip():
  source = _corpus(n=300, max_src=45, max_tgt=22)
  kw = dict(tokens_per_batch=200, buckets=SRC_BUCKETS, target_buckets=TGT_BUCKETS, seed=7,
            chunk_size=32)
  with ip.make_train_iterator(source, TOK, TOK, **kw) as it:
    _take(it, 4)
    state = json.loads(json.dumps(it.get_state()))
    assert any(state["pending"])
    expected = _take(it, 5)
  with ip.make_train_iterator(source, TOK, TOK, **kw) as it2:
    _take(it2, 2)
    it2.set_state(state)
    _same(_take(it2, 5), expected)
  # A checkpoint of one grid does not restore into another.
  with ip.make_train_iterator(source, TOK, TOK, **dict(kw, target_buckets=None)) as it3:
    with pytest.raises(ValueError, match="8 shapes, this pipeline 4"):
      it3.set_state(state)


def test_separate_grids_eval_every_example_once():
  source = _corpus(n=97, max_src=45, max_tgt=30)
  batches = ip.make_eval_batches(source, TOK, TOK, batch_size=8, buckets=SRC_BUCKETS,
                                 max_len=40, target_buckets=TGT_BUCKETS, max_target_len=20)
  idx = sorted(int(i) for b in batches for i in b["index"] if i >= 0)
  assert idx == list(range(97)) and batches.num_examples == 97
  trunc = [i for i in range(97) if len(_expected(source, i)[0]) > 40
           or len(_expected(source, i)[1]) + 1 > 20]
  assert trunc and list(batches.truncated) == trunc
  for b in batches:
    for r in _real_rows(b):
      assert b["src_len"][r] <= 40 and b["tgt_weights"][r].sum() <= 20
    if not set(b["index"].tolist()) & set(trunc):
      _check_separate(b, source, 40, 20)
  outs = [[f"out{int(i)}" for i in b["index"]] for b in batches]
  assert ip.restore_order(batches, outs) == [f"out{i}" for i in range(97)]


# --------------------------------------------------------------------------- float frames

D = 3


class FrameSource:
  """Item i: frames float32 [n_i, D] with values i + 1 + j / 100 (never 0, so padding
  zeros are told apart) and target tokens; as speech or time-series examples."""

  def __init__(self, n, seed=0):
    rng = random.Random(seed)
    self.items = []
    for i in range(n):
      frames = (i + 1 + np.arange(rng.randint(1, 30))[:, None] / 100
                + np.zeros((1, D))).astype(np.float32)
      self.items.append((frames, np.arange(rng.randint(1, 10), dtype=np.int32) + 4))

  def __len__(self):
    return len(self.items)

  def get_many(self, indices):
    return [self.items[i] for i in indices]


def _frame_examples(items):
  return [{"src": f, "tgt": t} for f, t in items]


def _check_frames(b, source):
  B, S, d = b["src"].shape
  assert d == D and b["src"].dtype == np.float32 and b["src_len"].dtype == np.int32
  mask = np.arange(S)[None, :] < b["src_len"][:, None]  # [B, S]
  assert not b["src"][~mask].any()  # Padding frames (and padding rows) are zeros...
  assert (b["src"][mask] != 0).all()  # ...and every real frame is inside the mask.
  for r in range(B):
    i = int(b["index"][r])
    if i < 0:
      assert b["src_len"][r] == 0 and not b["tgt_weights"][r].any()
      continue
    frames, tgt = source.items[i]
    np.testing.assert_array_equal(b["src"][r, :len(frames)], frames)
    assert b["src_len"][r] == len(frames)
    np.testing.assert_array_equal(b["tgt_out"][r, :len(tgt) + 1], list(tgt) + [EOS])
    assert b["tgt_weights"][r].sum() == len(tgt) + 1


def test_float_frames_train_stream():
  source = FrameSource(120)
  with ip.make_example_iterator(source, _frame_examples, fields=ip.TRANSLATION_FIELDS,
                                batch_size=8, buckets=(8, 16, 32), target_buckets=(4, 16),
                                num_epochs=1, drop_remainder=False, min_len=0) as it:
    batches = list(it)
  for b in batches:
    assert tuple(b) == ip.BATCH_KEYS
    S = b["src"].shape[1]
    assert all(S == min(x for x in (8, 16, 32) if x >= n) for n in b["src_len"] if n)
    _check_frames(b, source)
  assert sorted(int(i) for b in batches for i in b["index"] if i >= 0) == list(range(120))


def test_float_frames_eval_batches_and_float_targets():
  source = FrameSource(21)
  grid = ip.Grid.make((16, 32), None, target_buckets=(16,))
  exs = _frame_examples(source.items)
  batches = ip.batch_examples(exs, fields=ip.TRANSLATION_FIELDS, grid=grid, batch_size=4)
  assert sorted(int(i) for b in batches for i in b["index"] if i >= 0) == list(range(21))
  for b in batches:
    _check_frames(b, source)
  # A float target (forecasting): a plain field, padded to [B, T, D] with its length.
  fields = {"src": ip.Field(ip.SOURCE), "tgt": ip.Field(ip.TARGET)}
  assert ip.batch_keys(fields) == ("src", "src_len", "tgt", "tgt_len", "index")
  series = [{"src": f, "tgt": f[:5] * -1} for f, _ in source.items]
  for b in ip.batch_examples(series, fields=fields, grid=grid, batch_size=4):
    assert b["tgt"].shape == (4, 16, D) and b["tgt"].dtype == np.float32
    for r in _real_rows(b):
      n = int(b["tgt_len"][r])
      np.testing.assert_array_equal(b["tgt"][r, :n], series[int(b["index"][r])]["tgt"])
      assert not b["tgt"][r, n:].any()
  with pytest.raises(ValueError, match="exceed the length limits"):
    ip.batch_examples([{"src": np.zeros((40, D)), "tgt": np.zeros(2)}],
                      fields=ip.TRANSLATION_FIELDS, grid=grid, batch_size=4)


# --------------------------------------------------------------------------- closing


def test_close_is_idempotent_and_stops_iteration():
  it = ip.make_train_iterator(_corpus(n=50), TOK, TOK, batch_size=4, buckets=(48,))
  next(it)
  it.close()
  it.close()
  with pytest.raises(ValueError):
    next(it)


_EXIT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import input_pipeline_test as t
from seq2seq_jax.data import pipeline as ip
def make(prefetch):
  return ip.make_train_iterator(t._corpus(n=100), t.TOK, t.TOK, batch_size=4,
                                buckets=(16, 32, 48), prefetch_batches=prefetch)
prefetched, closed, unthreaded = make(2), make(2), make(0)
for it in (prefetched, closed, unthreaded):
  next(it)
closed.close()
print("done")
"""


def test_no_traceback_at_interpreter_exit():
  """Iterators live in module globals until interpreter teardown (the case that made
  grain's thread-prefetch finalizer print a traceback): prefetching or not, closed
  before exit or not at all."""
  code = _EXIT_SCRIPT.format(tests=os.path.dirname(__file__))
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=False)
  assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr
  assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr

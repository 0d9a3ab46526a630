"""Greedy decoding and sampling (temperature, top-k, top-p)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import decoding
from seq2seq_jax.models import seq2seq as model_lib

BOS, EOS = 1, 2
SRC = jnp.array([[5, 6, 7, 8, 2], [4, 9, 2, 0, 0]])
SRC_LEN = jnp.array([5, 3])


@pytest.fixture(scope="module")
def model_and_params():
  cfg = model_lib.ModelConfig(src_vocab_size=13, tgt_vocab_size=13, embed_dim=8, hidden_dim=8,
                              encoder_layers=1, decoder_layers=1)
  m = model_lib.Seq2Seq(cfg)
  p = m.init(jax.random.key(0))
  p["output"]["w_out"] = p["output"]["w_out"] * 6.0
  return m, p


def test_greedy_takes_the_argmax_of_each_decode_step(model_and_params):
  m, p = model_and_params
  tokens, lengths, attn = decoding.greedy(m, p, SRC, SRC_LEN, max_len=8, bos_id=BOS, eos_id=EOS)
  enc = m.encode(p, SRC, SRC_LEN)
  carry, prev = m.init_carry(p, enc), jnp.full((2,), BOS)
  for t in range(int(lengths.max())):
    carry, logits, _ = m.decode_step(p, carry, prev, enc)
    logits = logits.at[:, :2].set(-jnp.inf)  # PAD and BOS are never produced
    prev = jnp.argmax(logits, -1) if t < 7 else jnp.full((2,), EOS)  # EOS at the limit
    for b in range(2):
      if t < int(lengths[b]):
        assert int(tokens[b, t]) == int(prev[b])
  assert (np.asarray(tokens)[np.arange(8)[None] >= np.asarray(lengths)[:, None]] == 0).all()
  ends = [decoding.strip(tokens[b], EOS) for b in range(2)]
  assert all(len(e) < 8 for e in ends)


def test_filter_logits_top_k_and_top_p():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  k2 = decoding.filter_logits(logits, top_k=2)
  assert np.isfinite(np.asarray(k2)).sum() == 2
  p = decoding.filter_logits(logits, top_p=0.7)  # 0.5 + 0.3 reach 0.7
  assert np.isfinite(np.asarray(p))[0].tolist() == [True, True, False, False]
  p_small = decoding.filter_logits(logits, top_p=0.01)  # the best token always survives
  assert np.isfinite(np.asarray(p_small))[0].tolist() == [True, False, False, False]
  t = decoding.filter_logits(logits, temperature=2.0)
  np.testing.assert_allclose(t, logits / 2.0)
  with pytest.raises(ValueError, match="temperature"):
    decoding.filter_logits(logits, temperature=0.0)


def test_sampling_is_reproducible_and_low_temperature_is_greedy(model_and_params):
  m, p = model_and_params
  kw = dict(max_len=8, bos_id=BOS, eos_id=EOS)
  a, _ = decoding.sample(m, p, SRC, SRC_LEN, jax.random.key(1), **kw)
  b, _ = decoding.sample(m, p, SRC, SRC_LEN, jax.random.key(1), **kw)
  np.testing.assert_array_equal(a, b)
  greedy, _, _ = decoding.greedy(m, p, SRC, SRC_LEN, **kw)
  cold, _ = decoding.sample(m, p, SRC, SRC_LEN, jax.random.key(2), temperature=1e-4, **kw)
  np.testing.assert_array_equal(cold, greedy)
  k1, _ = decoding.sample(m, p, SRC, SRC_LEN, jax.random.key(3), top_k=1, **kw)
  np.testing.assert_array_equal(k1, greedy)
  draws = {tuple(np.asarray(decoding.sample(m, p, SRC, SRC_LEN, jax.random.key(s),
                                            temperature=2.0, **kw)[0][0])) for s in range(8)}
  assert len(draws) > 1  # sampling at high temperature varies


def test_static_output_len_is_the_largest_per_example_limit():
  import jax.numpy as jnp
  for S, max_len in ((16, 48), (48, 256), (5, 12), (200, 256)):
    T = decoding.static_output_len(S, max_len=max_len)
    limits = decoding.max_output_lengths(jnp.arange(1, S + 1), max_len=max_len)
    assert T == int(limits.max()), (S, max_len)
  assert decoding.static_output_len(16, max_len=48) == 42
  assert decoding.static_output_len(48, max_len=256) == 106


def test_seq2seq_and_ensemble_implement_the_decoding_protocol(model_and_params):
  from seq2seq_jax.decoding import ensemble
  m, p = model_and_params
  members = ensemble.stack_params([p, p, p])
  for model, params in ((m, p), (ensemble.Ensemble(m), members)):
    assert isinstance(model, decoding.DecodeModel)
    enc = model.encode(params, SRC, SRC_LEN)
    carry = model.init_carry(params, enc)
    assert isinstance(enc, decoding.SourceEncoding)
    assert isinstance(carry, decoding.DecoderState)
    carry, logits, attn = model.decode_step(params, carry, jnp.full((2,), BOS), enc)
    assert isinstance(carry, decoding.DecoderState)
    assert logits.shape == (2, 13) and logits.dtype == jnp.float32
    assert attn.shape == carry.coverage_BxS.shape == enc.src_mask_BxS.shape == (2, 5)
  assert not isinstance(m.cfg, decoding.DecodeModel)
  assert not isinstance(carry, decoding.SourceEncoding)

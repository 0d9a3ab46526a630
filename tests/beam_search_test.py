"""Beam search: greedy equivalence, exhaustive optimality, exact scores, vmap, no recompiles."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import decoding
from seq2seq_jax.models import seq2seq as model_lib
from seq2seq_jax.decoding import beam_search as bs

BOS, EOS = 1, 2


def make(vocab=13, attention="general", seed=0, **kw):
  cfg = model_lib.ModelConfig(src_vocab_size=vocab, tgt_vocab_size=vocab, embed_dim=8,
                              hidden_dim=8, encoder_layers=1, decoder_layers=1,
                              attention=attention, input_feeding=attention != "none", **kw)
  m = model_lib.Seq2Seq(cfg)
  params = m.init(jax.random.key(seed))
  # Larger output weights make the distributions peaked and varied, like a trained model.
  params["output"]["w_out"] = params["output"]["w_out"] * 6.0
  return m, params


SRC = jnp.array([[5, 6, 7, 8, 2], [4, 9, 2, 0, 0], [3, 3, 3, 2, 0]])
SRC_LEN = jnp.array([5, 3, 4])


def teacher_forced_logprob(m, params, src, src_len, seq):
  """log P(seq | src) by teacher forcing (seq ends with EOS)."""
  tgt_in = jnp.asarray([[BOS] + list(seq[:-1])])
  logits, attn = m(params, src[None], src_len[None], tgt_in)
  logp = jax.nn.log_softmax(logits[0])
  return float(sum(logp[t, tok] for t, tok in enumerate(seq))), attn[0]


def test_beam_one_equals_greedy():
  m, params = make()
  tokens, lengths, _ = decoding.greedy(m, params, SRC, SRC_LEN, max_len=12, bos_id=BOS, eos_id=EOS)
  out = bs.beam_search(m, params, SRC, SRC_LEN, beam=1, max_len=12, bos_id=BOS, eos_id=EOS)
  for b in range(3):
    g = decoding.strip(tokens[b], EOS)
    h = decoding.strip(out["tokens"][b, 0], EOS)
    assert h == g, (b, h, g)


@pytest.mark.parametrize("alpha, beta", [(0.0, 0.0), (1.0, 0.0), (0.6, 0.3)])
def test_wide_beam_finds_the_exhaustive_optimum_and_nbest(alpha, beta):
  V, L = 5, 4  # tokens: 0 pad, 1 bos, 2 eos, 3, 4
  m, params = make(vocab=V, seed=3)
  src, src_len = jnp.array([3, 4, 3, 2]), jnp.int32(4)
  # Every EOS-terminated sequence over {3, 4} of length <= L.
  space = [list(p) + [EOS] for n in range(L) for p in itertools.product([3, 4], repeat=n)]
  scored = []
  for seq in space:
    logp, attn = teacher_forced_logprob(m, params, src, src_len, seq)
    cov = np.asarray(attn).sum(0)
    cp = beta * np.log(np.clip(cov, 1e-10, 1.0)).sum()
    scored.append((logp / ((5 + len(seq)) / 6) ** alpha + cp, seq))
  scored.sort(key=lambda x: -x[0])
  K = 2 ** (L - 1) * 3  # >= every step's number of expansions: nothing is pruned
  out = bs.beam_search(m, params, src[None], src_len[None], beam=K, max_len=L, bos_id=BOS,
                       eos_id=EOS, nbest=5, alpha_B=jnp.array([alpha]), beta_B=jnp.array([beta]),
                       max_len_B=jnp.array([L]))
  for n in range(5):
    hyp = [int(t) for t in out["tokens"][0, n][: int(out["lengths"][0, n])]]
    assert hyp == scored[n][1], (n, hyp, scored[n])
    np.testing.assert_allclose(float(out["scores"][0, n]), scored[n][0], atol=1e-5)


def test_scores_equal_teacher_forced_logprob_plus_penalties():
  m, params = make()
  alpha, beta = 0.8, 0.2
  out = bs.beam_search(m, params, SRC, SRC_LEN, beam=4, max_len=12, bos_id=BOS, eos_id=EOS,
                       nbest=4, alpha_B=jnp.full((3,), alpha), beta_B=jnp.full((3,), beta))
  for b in range(3):
    for n in range(4):
      length = int(out["lengths"][b, n])
      seq = [int(t) for t in out["tokens"][b, n][:length]]
      assert seq[-1] == EOS and EOS not in seq[:-1]
      logp, attn = teacher_forced_logprob(m, params, SRC[b], SRC_LEN[b], seq)
      np.testing.assert_allclose(float(out["logprobs"][b, n]), logp, atol=1e-4)
      cov = np.asarray(attn).sum(0)[: int(SRC_LEN[b])]
      score = logp / ((5 + length) / 6) ** alpha + beta * np.log(np.minimum(cov, 1.0)).sum()
      np.testing.assert_allclose(float(out["scores"][b, n]), score, atol=1e-4)
    assert (np.diff(np.asarray(out["scores"][b])) <= 1e-6).all()  # sorted


def test_per_example_settings_equal_decoding_each_example_alone():
  m, params = make()
  alpha, beta, max_len = jnp.array([0.0, 1.5, 0.6]), jnp.array([0.0, 0.0, 0.5]), jnp.array([3, 9, 6])
  out = bs.beam_search(m, params, SRC, SRC_LEN, beam=3, max_len=10, bos_id=BOS, eos_id=EOS,
                       nbest=3, alpha_B=alpha, beta_B=beta, max_len_B=max_len)
  assert int(out["lengths"][0].max()) <= 3
  for b in range(3):
    alone = bs.beam_search(m, params, SRC[b:b + 1, :int(SRC_LEN[b])], SRC_LEN[b:b + 1], beam=3,
                           max_len=10, bos_id=BOS, eos_id=EOS, nbest=3, alpha_B=alpha[b:b + 1],
                           beta_B=beta[b:b + 1], max_len_B=max_len[b:b + 1])
    np.testing.assert_array_equal(out["tokens"][b], alone["tokens"][0])
    np.testing.assert_allclose(out["scores"][b], alone["scores"][0], atol=1e-5)


def test_no_recompilation_across_batches_of_one_bucket():
  m, params = make()
  kw = dict(beam=3, max_len=10, bos_id=BOS, eos_id=EOS, nbest=2)
  bs.beam_search(m, params, SRC, SRC_LEN, **kw)
  before = bs._beam_search._cache_size()
  bs.beam_search(m, params, SRC + 1, jnp.array([2, 5, 1]), **kw)
  bs.beam_search(m, params, SRC * 0 + 4, SRC_LEN, alpha_B=jnp.ones(3), **kw)
  assert bs._beam_search._cache_size() == before


def test_nbest_larger_than_beam_is_an_error():
  m, params = make()
  with pytest.raises(ValueError, match="nbest"):
    bs.beam_search(m, params, SRC, SRC_LEN, beam=2, nbest=3, max_len=5, bos_id=BOS, eos_id=EOS)

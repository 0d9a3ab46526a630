"""Ensembles: a DecodeModel like a single model; averaged probabilities; parameter averaging."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import decoding
from seq2seq_jax.models import seq2seq as model_lib
from seq2seq_jax.decoding import beam_search as bs
from seq2seq_jax.decoding import ensemble

BOS, EOS = 1, 2
SRC = jnp.array([[5, 6, 7, 8, 2], [4, 9, 2, 0, 0], [3, 3, 3, 2, 0]])
SRC_LEN = jnp.array([5, 3, 4])


def make(seed=0):
  cfg = model_lib.ModelConfig(src_vocab_size=13, tgt_vocab_size=13, embed_dim=8, hidden_dim=8,
                              encoder_layers=1, decoder_layers=1, attention="general",
                              input_feeding=True)
  m = model_lib.Seq2Seq(cfg)
  params = m.init(jax.random.key(seed))
  # Larger output weights make the distributions peaked and varied, like a trained model.
  params["output"]["w_out"] = params["output"]["w_out"] * 6.0
  return m, params


def test_ensemble_states_are_batch_first_and_carry_the_members_mean_coverage():
  m, p = make()
  ens, stacked = ensemble.Ensemble(m), ensemble.stack_params([p, p, p, p])  # M=4 != B=3
  enc = ens.encode(stacked, SRC, SRC_LEN)
  carry, _, attn = ens.decode_step(stacked, ens.init_carry(stacked, enc), jnp.full((3,), BOS),
                                   enc)
  assert isinstance(enc, ensemble.EnsembleEncoded) and isinstance(carry, ensemble.EnsembleCarry)
  for leaf in jax.tree.leaves((enc, carry)):
    assert leaf.shape[0] == 3  # beam search tiles and gathers along this axis
  for leaf in jax.tree.leaves((enc.members, carry.members)):
    assert leaf.shape[1] == 4
  np.testing.assert_array_equal(enc.src_mask_BxS, np.arange(5)[None] < np.asarray(SRC_LEN)[:, None])
  np.testing.assert_allclose(carry.coverage_BxS, carry.members.coverage_BxS.mean(1))
  np.testing.assert_allclose(carry.coverage_BxS, attn, rtol=1e-6)  # after one step


@pytest.mark.parametrize("beta", [0.0, 0.4])
def test_beam_search_of_an_ensemble_of_one_equals_the_model(beta):
  m, params = make(seed=4)
  kw = dict(beam=3, max_len=10, bos_id=BOS, eos_id=EOS, nbest=3, beta_B=jnp.full((3,), beta))
  one = bs.beam_search(m, params, SRC, SRC_LEN, **kw)
  ens = bs.beam_search(ensemble.Ensemble(m), ensemble.stack_params([params]), SRC, SRC_LEN, **kw)
  np.testing.assert_array_equal(ens["tokens"], one["tokens"])
  np.testing.assert_array_equal(ens["lengths"], one["lengths"])
  # Only float32 rounding: the ensemble's step returns log-probabilities, which beam
  # search normalises once more.
  np.testing.assert_allclose(ens["scores"], one["scores"], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(ens["logprobs"], one["logprobs"], rtol=1e-6, atol=1e-6)


def test_ensemble_of_copies_equals_the_single_model():
  m, params = make()
  ens = ensemble.Ensemble(m)
  stacked = ensemble.stack_params([params, params, params])
  kw = dict(beam=3, max_len=10, bos_id=BOS, eos_id=EOS, nbest=3, beta_B=jnp.full((3,), 0.2))
  one = bs.beam_search(m, params, SRC, SRC_LEN, **kw)
  three = bs.beam_search(ens, stacked, SRC, SRC_LEN, **kw)
  np.testing.assert_array_equal(three["tokens"], one["tokens"])
  np.testing.assert_allclose(three["scores"], one["scores"], atol=1e-5)
  g1 = decoding.greedy(m, params, SRC, SRC_LEN, max_len=10, bos_id=BOS, eos_id=EOS)
  g3 = decoding.greedy(ens, stacked, SRC, SRC_LEN, max_len=10, bos_id=BOS, eos_id=EOS)
  np.testing.assert_array_equal(g3[0], g1[0])


def test_ensemble_averages_probabilities_of_different_models():
  m, p1 = make(seed=1)
  _, p2 = make(seed=2)
  ens = ensemble.Ensemble(m)
  stacked = ensemble.stack_params([p1, p2])
  enc = ens.encode(stacked, SRC, SRC_LEN)
  _, logp, _ = ens.decode_step(stacked, ens.init_carry(stacked, enc), jnp.full((3,), BOS), enc)
  probs = []
  for p in (p1, p2):
    e = m.encode(p, SRC, SRC_LEN)
    _, lo, _ = m.decode_step(p, m.init_carry(p, e), jnp.full((3,), BOS), e)
    probs.append(jax.nn.softmax(lo))
  np.testing.assert_allclose(jnp.exp(logp), (probs[0] + probs[1]) / 2, atol=1e-6)


def test_stack_unstack_and_average_params():
  _, p1 = make(seed=1)
  _, p2 = make(seed=2)
  stacked = ensemble.stack_params([p1, p2])
  for a, b in zip(jax.tree.leaves(ensemble.unstack_params(stacked)),
                  jax.tree.leaves([p1, p2])):
    np.testing.assert_array_equal(a, b)
  avg = ensemble.average_params([p1, p2])
  np.testing.assert_allclose(avg["output"]["b_out"],
                             (p1["output"]["b_out"] + p2["output"]["b_out"]) / 2)
  with pytest.raises(ValueError, match="at least one"):
    ensemble.stack_params([])
  with pytest.raises(ValueError, match="different parameter structures"):
    ensemble.stack_params([p1, {"output": p2["output"]}])

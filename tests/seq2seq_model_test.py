"""The encoder-decoder: teacher forcing == step-by-step decoding, padding, jit, config."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import test_util

from seq2seq_jax.models import seq2seq as model_lib
from seq2seq_jax.nn import attention, cells

V_SRC, V_TGT = 17, 19
SRC = np.array([[5, 6, 7, 8, 9, 2], [4, 9, 2, 0, 0, 0], [3, 2, 0, 0, 0, 0]])
SRC_LEN = np.array([6, 3, 2])
TGT_IN = np.array([[1, 5, 6, 7, 8], [1, 9, 4, 3, 0], [1, 3, 0, 0, 0]])


def make(**kw):
  base = dict(src_vocab_size=V_SRC, tgt_vocab_size=V_TGT, embed_dim=8, hidden_dim=6,
              encoder_layers=2, decoder_layers=2, max_source_len=12, local_window=2)
  base.update(kw)
  if base.get("attention") in ("none", "bahdanau"):
    base.setdefault("input_feeding", False)
  m = model_lib.Seq2Seq(model_lib.ModelConfig(**base))
  return m, m.init(jax.random.key(0))


CONFIGS = (
    [dict(attention=a, input_feeding=True) for a in attention.ATTENTION_TYPES if a != "bahdanau"]
    + [dict(attention=a, input_feeding=False) for a in ("general", "local_p", "location")]
    + [dict(attention="bahdanau", bidirectional="all"), dict(attention="none"),
       dict(attention="none", bridge="copy", cell="gru"),
       dict(cell="gru_reset_after", bridge="zeros"),
       dict(cell="ln_lstm", bidirectional="first"), dict(cell="rnn", attention="concat"),
       dict(cell="gru", attention="bahdanau"),
       dict(encoder_layers=4, decoder_layers=3, bidirectional="first", residual_start=2),
       dict(embed_dim=6, tie_embeddings=True, attention="dot"),
       dict(src_vocab_size=V_TGT, share_embeddings=True, attention="scaled_dot")])


def _ids(kw):
  return ",".join(f"{k}={v}" for k, v in kw.items())


def step_by_step(m, params, src, src_len, tgt_in):
  enc = m.encode(params, src, src_len)
  carry = m.init_carry(params, enc)
  step = jax.jit(m.decode_step)
  logits, attns = [], []
  for t in range(tgt_in.shape[1]):
    carry, lo, at = step(params, carry, jnp.asarray(tgt_in[:, t]), enc)
    logits.append(lo)
    attns.append(at)
  return jnp.stack(logits, 1), jnp.stack(attns, 1), carry


@pytest.mark.parametrize("kw", CONFIGS, ids=_ids)
def test_teacher_forced_logits_equal_step_by_step_decode(kw):
  m, params = make(**kw)
  logits, attn = jax.jit(m)(params, SRC, SRC_LEN, TGT_IN)
  assert logits.shape == (3, 5, V_TGT) and attn.shape == (3, 5, 6)
  ref_logits, ref_attn, carry = step_by_step(m, params, SRC, SRC_LEN, TGT_IN)
  np.testing.assert_allclose(logits, ref_logits, atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(attn, ref_attn, atol=1e-5)
  # Coverage accumulates the attention that decode_step returned.
  np.testing.assert_allclose(carry.coverage_BxS, ref_attn.sum(1), atol=1e-5)
  np.testing.assert_array_equal(carry.step_B, [5, 5, 5])


@pytest.mark.parametrize("cell", cells.CELL_TYPES)
@pytest.mark.parametrize("bidirectional", ["none", "all"])
def test_padding_never_changes_outputs_for_every_cell(cell, bidirectional):
  _check_padding_invariance(cell=cell, bidirectional=bidirectional, attention="concat")


@pytest.mark.parametrize("att", ("none",) + attention.ATTENTION_TYPES)
def test_padding_never_changes_outputs_for_every_attention(att):
  _check_padding_invariance(attention=att, bidirectional="first",
                            input_feeding=att not in ("none", "bahdanau"))


def _check_padding_invariance(**kw):
  m, params = make(**kw)
  # Jitted: the invariant is the model's arithmetic; eager calls retrace every scan.
  fwd, encode = jax.jit(m), jax.jit(m.encode)
  logits, attn = fwd(params, SRC, SRC_LEN, TGT_IN)
  src_pad = np.concatenate([SRC, np.full((3, 4), 11)], 1)  # garbage ids past the length
  tgt_pad = np.concatenate([TGT_IN, np.full((3, 3), 7)], 1)
  logits_p, attn_p = fwd(params, src_pad, SRC_LEN, tgt_pad)
  np.testing.assert_allclose(logits_p[:, :5], logits, atol=1e-5)
  np.testing.assert_allclose(attn_p[:, :5, :6], attn, atol=1e-6)
  assert (np.asarray(attn_p[:, :, 6:]) == 0).all()
  # The padded examples alone, unpadded, give the same logits too (example 0 has no
  # padding; alone it would only repeat that rows are independent).
  for b in (1, 2):
    lo, _ = fwd(params, SRC[b:b + 1, :SRC_LEN[b]], SRC_LEN[b:b + 1], TGT_IN[b:b + 1])
    np.testing.assert_allclose(lo[0], logits[b], atol=1e-5)
  enc, enc_p = encode(params, SRC, SRC_LEN), encode(params, src_pad, SRC_LEN)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), enc.final, enc_p.final)


def test_forward_backward_compiles_once_per_shape():
  m, params = make(attention="general", dropout=0.1)

  def loss(params, src, src_len, tgt_in, key):
    logits, _ = m(params, src, src_len, tgt_in, key=key, deterministic=False)
    return jnp.mean(jax.nn.log_softmax(logits)[..., 0])

  grad_fn = jax.jit(jax.value_and_grad(loss))
  grad_fn(params, SRC, SRC_LEN, TGT_IN, jax.random.key(0))
  grad_fn(params, SRC + 1, SRC_LEN, TGT_IN, jax.random.key(1))
  assert grad_fn._cache_size() == 1
  grad_fn(params, SRC[:2], SRC_LEN[:2], TGT_IN[:2], jax.random.key(1))
  assert grad_fn._cache_size() == 2  # a new shape is a new program, as expected


@pytest.mark.parametrize("kw", [dict(attention="general"), dict(attention="bahdanau"),
                                dict(attention="local_p", cell="gru")], ids=_ids)
def test_model_gradients_match_finite_differences(kw):
  with jax.enable_x64(True):
    m, params = make(**kw, encoder_layers=1, decoder_layers=1)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)

    @jax.jit  # one program per derivative; eager calls would retrace every scan
    def loss(params):
      logits, _ = m(params, SRC, SRC_LEN, TGT_IN)
      return jnp.sum(jax.nn.log_softmax(logits)[..., 3])

    test_util.check_grads(loss, (params,), order=1, modes=["rev"], eps=1e-6, atol=1e-5, rtol=1e-5)


def test_dropout_paths_agree_and_only_act_in_training():
  # The scanned (input feeding) and layered (no feedback) decoders draw the same masks.
  for feed in (True, False):
    m, params = make(attention="general", dropout=0.3, input_feeding=feed)
    fwd = jax.jit(m, static_argnames="deterministic")
    key = jax.random.key(3)
    det, _ = fwd(params, SRC, SRC_LEN, TGT_IN, key=key)
    drop1, _ = fwd(params, SRC, SRC_LEN, TGT_IN, key=key, deterministic=False)
    drop2, _ = fwd(params, SRC, SRC_LEN, TGT_IN, key=jax.random.key(4), deterministic=False)
    ref, _, _ = step_by_step(m, params, SRC, SRC_LEN, TGT_IN)
    np.testing.assert_allclose(det, ref, atol=1e-5)
    assert not np.allclose(drop1, det) and not np.allclose(drop1, drop2)


def test_bfloat16_compute_is_close_to_float32():
  m32, params = make(attention="general")
  m16 = model_lib.Seq2Seq(dataclasses.replace(m32.cfg, compute_dtype="bfloat16"))
  lo32, _ = jax.jit(m32)(params, SRC, SRC_LEN, TGT_IN)
  lo16, _ = jax.jit(m16)(params, SRC, SRC_LEN, TGT_IN)
  assert lo16.dtype == jnp.float32
  np.testing.assert_allclose(lo16, lo32, atol=0.05)
  assert jax.tree.leaves(params)[0].dtype == jnp.float32  # parameters stay float32


def test_parameters_have_the_documented_shapes():
  m, params = make(attention="general", bidirectional="first")
  E, H = 8, 6
  assert params["encoder"]["layer_0"]["fwd"]["w_ih"].shape == (E, 4 * H // 2)
  assert params["encoder"]["layer_1"]["w_ih"].shape == (H, 4 * H)
  assert params["decoder"]["layer_0"]["w_ih"].shape == (E + H, 4 * H)  # input feeding
  assert params["output"]["w_c"].shape == (2 * H, H)
  assert params["output"]["w_out"].shape == (H, V_TGT)
  assert params["embed"]["tgt"].shape == (V_TGT, E)


@pytest.mark.parametrize("kw, message", [
    (dict(cell="lstmm"), "unknown cell type"),
    (dict(attention="luong"), "attention must be"),
    (dict(attention="none", input_feeding=True), "input_feeding"),
    (dict(bidirectional="both"), "bidirectional must be"),
    (dict(bidirectional="all", hidden_dim=7), "odd"),
    (dict(tie_embeddings=True), "embed_dim == hidden_dim"),
    (dict(share_embeddings=True), "joint vocabulary"),
    (dict(residual_start=0), "residual_start"),
    (dict(dropout=1.0), "dropout"),
    (dict(hidden_dim=0), "hidden_dim"),
    (dict(compute_dtype="float16"), "compute_dtype"),
    (dict(remat_chunk=-1), "remat_chunk"),
])
def test_bad_model_config_is_a_clear_error(kw, message):
  base = dict(src_vocab_size=V_SRC, tgt_vocab_size=V_TGT)
  base.update(kw)
  with pytest.raises(ValueError, match=message):
    model_lib.ModelConfig(**base)


def test_from_dict_names_unknown_fields():
  with pytest.raises(ValueError, match=r"unknown field\(s\) \['hiden_dim'\]"):
    model_lib.ModelConfig.from_dict({"src_vocab_size": 3, "tgt_vocab_size": 3, "hiden_dim": 3})


@pytest.mark.parametrize("kw", [dict(attention="general", input_feeding=True, dropout=0.2),
                                dict(attention="bahdanau", bidirectional="all"),
                                dict(attention="none", cell="gru")], ids=_ids)
def test_rematerialised_model_has_the_same_loss_and_gradients(kw):
  m, params = make(**kw)
  m_remat = model_lib.Seq2Seq(dataclasses.replace(m.cfg, remat_chunk=2))

  def loss(model, params):
    logits, _ = model(params, SRC, SRC_LEN, TGT_IN, key=jax.random.key(3),
                      deterministic=False)
    return jnp.mean(jax.nn.log_softmax(logits)[..., 4])

  ref, ref_g = jax.jit(jax.value_and_grad(lambda p: loss(m, p)))(params)
  val, g = jax.jit(jax.value_and_grad(lambda p: loss(m_remat, p)))(params)
  np.testing.assert_allclose(val, ref, rtol=1e-6)
  jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-7), g, ref_g)


def test_only_location_attention_limits_the_source_length():
  from seq2seq_jax.models import seq2seq as model_lib
  base = dict(src_vocab_size=10, tgt_vocab_size=10, embed_dim=4, hidden_dim=4,
              encoder_layers=1, decoder_layers=1, max_source_len=40)
  assert model_lib.ModelConfig(attention="location", **base).longest_source == 40
  for att in ("general", "dot", "local_p", "none"):
    assert model_lib.ModelConfig(attention=att, input_feeding=att != "none",
                                 **base).longest_source is None, att

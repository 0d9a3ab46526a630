"""The recurrent encoder-decoder: configuration, parameters, encode, decode_step.

One model covers the classic architectures by configuration:

* Sutskever et al. 2014: ``attention="none"`` (the decoder sees only the
  encoder's final state, through the bridge), deep LSTM, reversed source
  (a data option).
* Cho et al. 2014: ``cell="gru"``.
* Bahdanau et al. 2015: ``attention="bahdanau"``, bidirectional encoder. The
  query is the previous top decoder state s_{t-1}; the context c_t is fed into
  the decoder RNN with the previous word; the output layer reads
  tanh(W_c [c_t; s_t]) (a tanh layer in place of the paper's maxout).
* Luong et al. 2015: ``attention`` in dot/general/concat/location/local_m/local_p,
  ``input_feeding=True``: h~_t = tanh(W_c [c_t; h_t]) is fed to the next step.
* GNMT (Wu et al. 2016): ``bidirectional="first"``, ``residual_start=2``.

The math is pure functions of an explicit parameter pytree. Flax (linen)
creates the parameters -- :class:`ParamFactory` -- and nothing else.

Public API of :class:`Seq2Seq` (all pure in `params`):
  ``init(key)``, ``encode(params, src, src_len)``, ``init_carry(params, encoded)``,
  ``decode_step(params, carry, token, encoded) -> (carry, logits, attention)``,
  ``__call__(params, src, src_len, tgt_in)`` (teacher forcing).

Teacher forcing has two paths with identical math (tests check both against
``decode_step``): without feedback from attention into the RNN (no attention,
or Luong attention without input feeding) the decoder layers run as plain
layers over all T steps and attention is one batched matmul over T; with
feedback (input feeding, Bahdanau) the whole decoder step is scanned, with the
embedding's input projection still hoisted out of the scan. The vocabulary
projection is always applied after the scan.

Shapes: B batch, S source length, T target length, E embedding size,
H hidden size, V vocabulary size, L layers.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.models.params import ParamFactory
from seq2seq_jax.models.seq2seq_config import BIDIRECTIONAL, BRIDGES, DTYPES, ModelConfig
from seq2seq_jax.nn import attention as attn_lib
from seq2seq_jax.nn import cells as cells_lib
from seq2seq_jax.nn import recurrent

Params = dict[str, Any]
__all__ = ["BIDIRECTIONAL", "BRIDGES", "DTYPES", "DecoderCarry", "Encoded", "ModelConfig",
           "Params", "ParamFactory", "Seq2Seq"]


class Encoded(NamedTuple):
  """The encoder's output: what every decoder step reads (every leaf has leading B)."""
  memory_BxSxH: jax.Array
  keys: jax.Array          # attention keys precomputed from memory (BxSx_)
  src_mask_BxS: jax.Array
  src_len_B: jax.Array
  final: tuple             # per encoder layer: final carry at each sequence's last token


class DecoderCarry(NamedTuple):
  """The decoder's state between steps; the cache of every decoding algorithm."""
  rnn: tuple               # per decoder layer: the cell's carry
  feed_BxH: jax.Array      # h~_{t-1} for input feeding (zeros when unused)
  coverage_BxS: jax.Array  # sum of attention weights so far (GNMT coverage penalty)
  step_B: jax.Array        # int32 decoder step (position t of the next token)



# -----------------------------------------------------------------------------
# The model: pure functions of params.
# -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Seq2Seq:
  """The encoder-decoder of `cfg`. Hashable, so it can be a static jit argument."""
  cfg: ModelConfig

  @property
  def cell(self) -> cells_lib.Cell:
    return cells_lib.get_cell(self.cfg.cell)

  def init(self, key) -> Params:
    """Fresh parameters (float32)."""
    return ParamFactory(self.cfg).init(key)["params"]

  # ---- helpers ---------------------------------------------------------------
  def _cast(self, params: Params) -> Params:
    dtype = jnp.dtype(self.cfg.compute_dtype)
    if dtype == jnp.float32:
      return params
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating)
                        else x, params)

  def _tgt_table(self, p):
    return p["embed"]["src"] if self.cfg.share_embeddings else p["embed"]["tgt"]

  def _logits(self, p, h_tilde):
    w, b = self._output_weights(p)
    return cells_lib.at_least_f32(cells_lib.matmul(h_tilde, w) + b)

  def _output_weights(self, p):
    w = self._tgt_table(p).T if self.cfg.tie_embeddings else p["output"]["w_out"]
    return w, p["output"]["b_out"].astype(w.dtype)

  def _attend(self, p, q_BxTxH, enc: Encoded, steps_BxT):
    return attn_lib.attend(self.cfg.attention, p.get("attention", {}), q_BxTxH,
                           enc.memory_BxSxH, enc.keys, enc.src_mask_BxS,
                           steps_BxT=steps_BxT, src_len_B=enc.src_len_B,
                           window=self.cfg.local_window)

  def _attentional(self, p, ctx, h):
    """Luong's h~ = tanh(W_c [c; h])."""
    return jnp.tanh(cells_lib.matmul(jnp.concatenate([ctx, h], -1), p["output"]["w_c"]))

  # ---- encoder ---------------------------------------------------------------
  def encode(self, params: Params, src_BxS, src_len_B, *, key=None,
             deterministic: bool = True) -> Encoded:
    """Runs the encoder. `key` drives dropout when not `deterministic`."""
    c, p = self.cfg, self._cast(params)
    src_len_B = src_len_B.astype(jnp.int32)
    emb_SxBxE = p["embed"]["src"][src_BxS.T]
    layers = [p["encoder"][f"layer_{l}"] for l in range(c.encoder_layers)]
    out_SxBxH, finals = recurrent.run_stack(
        self.cell, layers, emb_SxBxE, src_len_B,
        bidirectional=c.encoder_bidirectional(), residual_start=c.residual_start,
        dropout_rate=c.dropout, key=key, deterministic=deterministic,
        remat_chunk=c.remat_chunk, fused_lstm=c.fused_lstm)
    memory = out_SxBxH.transpose(1, 0, 2)
    keys = (attn_lib.precompute(c.attention, p.get("attention", {}), memory)
            if c.has_attention else memory)
    mask = jnp.arange(src_BxS.shape[1])[None, :] < src_len_B[:, None]
    return Encoded(memory, keys, mask, src_len_B, tuple(finals))

  def init_carry(self, params: Params, encoded: Encoded) -> DecoderCarry:
    """The decoder's initial state, bridged from the encoder's final states."""
    c, p = self.cfg, self._cast(params)
    B, S = encoded.src_mask_BxS.shape
    H = c.hidden_dim
    dtype = encoded.memory_BxSxH.dtype  # the compute dtype
    rnn = []
    for l in range(c.decoder_layers):
      zeros = self.cell.init_carry(B, H, dtype)
      src_l = l if c.encoder_layers == c.decoder_layers else c.encoder_layers - 1
      enc_final = encoded.final[src_l]
      if c.bridge == "zeros":
        rnn.append(zeros)
      elif c.bridge == "copy":
        rnn.append(jax.tree.map(lambda e, z: e.astype(z.dtype), enc_final, zeros))
      else:
        bp = p["bridge"][f"layer_{l}"]
        parts = enc_final if self.cell.has_cell_state else (enc_final,)
        names = ("h", "c")[:len(parts)]
        bridged = tuple(jnp.tanh(cells_lib.matmul(s, bp[n]["w"]) + bp[n]["b"])
                        for n, s in zip(names, parts))
        bridged = bridged if self.cell.has_cell_state else bridged[0]
        rnn.append(jax.tree.map(lambda e, z: e.astype(z.dtype), bridged, zeros))
    return DecoderCarry(tuple(rnn), jnp.zeros((B, H), dtype),
                        jnp.zeros((B, S), jnp.promote_types(dtype, jnp.float32)),
                        jnp.zeros((B,), jnp.int32))

  # ---- decoder ---------------------------------------------------------------
  def _core_step(self, p, carry: DecoderCarry, raw0_BxG, enc: Encoded, keep_masks=None):
    """One decoder step from layer 0's raw embedding projection (emb @ W_ih[:E]).

    `keep_masks` [L-1 x BxH] (scaled dropout masks between layers) or None.
    Returns (carry, h~_BxH, attn_BxS).
    """
    c = self.cfg
    E, H = c.embed_dim, c.hidden_dim
    layer0 = p["decoder"]["layer_0"]
    steps_Bx1 = carry.step_B[:, None]
    raw = raw0_BxG
    if c.attention == "bahdanau":
      q = self.cell.hidden(carry.rnn[-1])[:, None]
      ctx_Bx1xH, w_Bx1xS = self._attend(p, q, enc, steps_Bx1)
      raw = raw + cells_lib.matmul(ctx_Bx1xH[:, 0], layer0["w_ih"][E:])
    elif c.input_feeding:
      raw = raw + cells_lib.matmul(carry.feed_BxH, layer0["w_ih"][E:])
    rnn, x = [], None
    for l in range(c.decoder_layers):
      lp = p["decoder"][f"layer_{l}"]
      if l == 0:
        xp = self.cell.finish(lp, raw)
      else:
        inp = x if keep_masks is None else x * keep_masks[l - 1]
        xp = self.cell.project(lp, inp)
      new_carry, h = self.cell.recur(lp, carry.rnn[l], xp)
      if c.residual_start is not None and l >= c.residual_start:
        h = h + x
      rnn.append(new_carry)
      x = h
    if c.attention == "bahdanau":
      h_tilde = self._attentional(p, ctx_Bx1xH[:, 0], x)
    elif c.has_attention:
      ctx_Bx1xH, w_Bx1xS = self._attend(p, x[:, None], enc, steps_Bx1)
      h_tilde = self._attentional(p, ctx_Bx1xH[:, 0], x)
    else:
      h_tilde = x
      w_Bx1xS = jnp.zeros((x.shape[0], 1, enc.src_mask_BxS.shape[1]), carry.coverage_BxS.dtype)
    attn = w_Bx1xS[:, 0]
    feed = h_tilde if c.input_feeding else carry.feed_BxH
    new = DecoderCarry(tuple(rnn), feed.astype(carry.feed_BxH.dtype),
                       carry.coverage_BxS + attn, carry.step_B + 1)
    return new, h_tilde, attn

  def decode_step(self, params: Params, carry: DecoderCarry, token_B, encoded: Encoded):
    """One decoding step: previous token -> (carry, logits_BxV float32, attn_BxS)."""
    p = self._cast(params)
    emb = self._tgt_table(p)[token_B]
    raw0 = cells_lib.matmul(emb, p["decoder"]["layer_0"]["w_ih"][: self.cfg.embed_dim])
    carry, h_tilde, attn = self._core_step(p, carry, raw0, encoded)
    return carry, self._logits(p, h_tilde), attn

  def __call__(self, params: Params, src_BxS, src_len_B, tgt_in_BxT, *, key=None,
               deterministic: bool = True):
    """Teacher-forced forward: (logits_BxTxV float32, attn_BxTxS)."""
    h_tilde, attn = self.features(params, src_BxS, src_len_B, tgt_in_BxT, key=key,
                                  deterministic=deterministic)
    return self.output_logits(params, h_tilde), attn

  def output_logits(self, params: Params, h_tilde_BxTxH):
    """The vocabulary projection of `features` (float32 logits, ..xV)."""
    return self._logits(self._cast(params), h_tilde_BxTxH)

  def output_weights(self, params: Params):
    """(W_HxV, b_V) of the vocabulary projection, in the compute dtype (W is the target
    embedding's transpose with tie_embeddings): logits = h~ @ W + b."""
    return self._output_weights(self._cast(params))

  def features(self, params: Params, src_BxS, src_len_B, tgt_in_BxT, *, key=None,
               deterministic: bool = True):
    """Teacher-forced forward up to the output layer's input: (h~_BxTxH, attn_BxTxS).

    ``__call__`` is ``output_logits(features)``; the training loss instead hands h~ and
    ``output_weights`` to ``nn.output_loss.fused_losses``, which never keeps the BxTxV
    logits (and with a chunk never makes them all at once).
    """
    c, p = self.cfg, self._cast(params)
    k_enc, k_dec, k_out = (None, None, None) if key is None else jax.random.split(key, 3)
    enc = self.encode(params, src_BxS, src_len_B, key=k_enc, deterministic=deterministic)
    carry0 = self.init_carry(params, enc)
    emb_TxBxE = self._tgt_table(p)[tgt_in_BxT.T]
    B, T = tgt_in_BxT.shape
    if not c.feedback:
      h_tilde, attn = self._decode_layers(p, carry0, emb_TxBxE, enc, k_dec, deterministic)
    else:
      h_tilde, attn = self._decode_scan(p, carry0, emb_TxBxE, enc, k_dec, deterministic)
    return recurrent.dropout(h_tilde, c.dropout, k_out, deterministic), attn

  def _decode_layers(self, p, carry0, emb_TxBxE, enc, key, deterministic):
    """No feedback: decoder layers over all T, then attention batched over T."""
    c = self.cfg
    layers = [p["decoder"][f"layer_{l}"] for l in range(c.decoder_layers)]
    out_TxBxH, _ = recurrent.run_stack(
        self.cell, layers, emb_TxBxE, None, bidirectional=(False,) * c.decoder_layers,
        residual_start=c.residual_start, carries0=carry0.rnn, dropout_rate=c.dropout,
        key=key, deterministic=deterministic, remat_chunk=c.remat_chunk,
        fused_lstm=c.fused_lstm)
    top_BxTxH = out_TxBxH.transpose(1, 0, 2)
    B, T = top_BxTxH.shape[:2]
    if not c.has_attention:
      return top_BxTxH, jnp.zeros((B, T, enc.src_mask_BxS.shape[1]),
                                  cells_lib.at_least_f32(top_BxTxH).dtype)
    steps_BxT = jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32)[None], (B, T))
    ctx, attn = self._attend(p, top_BxTxH, enc, steps_BxT)
    return self._attentional(p, ctx, top_BxTxH), attn

  def _decode_scan(self, p, carry0, emb_TxBxE, enc, key, deterministic):
    """Feedback: scan the whole decoder step; layer 0's embedding matmul is hoisted."""
    c = self.cfg
    T, B = emb_TxBxE.shape[:2]
    L, H = c.decoder_layers, c.hidden_dim
    drop = not deterministic and c.dropout > 0.0 and key is not None
    if drop:  # same semantics as run_stack: layer 0's input (embedding) then between layers
      emb_TxBxE = recurrent.dropout(emb_TxBxE, c.dropout, jax.random.fold_in(key, 0), False)
    raw0_TxBxG = cells_lib.matmul(emb_TxBxE, p["decoder"]["layer_0"]["w_ih"][: c.embed_dim])
    if drop and L > 1:
      keep = jnp.stack([jax.random.bernoulli(jax.random.fold_in(key, l), 1.0 - c.dropout,
                                             (T, B, H)) for l in range(1, L)], axis=1)
      masks = keep.astype(raw0_TxBxG.dtype) / (1.0 - c.dropout)  # T x (L-1) x B x H
    else:
      masks = None

    def body(carry, xs):
      raw0, m = xs
      carry, h_tilde, attn = self._core_step(p, carry, raw0, enc, m)
      return carry, (h_tilde, attn)

    _, (h_TxBxH, attn_TxBxS) = recurrent.remat_scan(
        lambda carry, xs: jax.lax.scan(body, carry, xs), carry0, (raw0_TxBxG, masks),
        c.remat_chunk)
    return h_TxBxH.transpose(1, 0, 2), attn_TxBxS.transpose(1, 0, 2)

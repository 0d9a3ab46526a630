"""Beam search over a :class:`~seq2seq_jax.decoding.protocol.DecodeModel`, written for
one example and `jax.vmap`ped over the batch.

One compiled program: the model encodes the batch, then each example runs a
``lax.while_loop`` over K beams (vmap turns the per-example loops into one loop
that stops when every example is done). Per-example α, β and maximum length are
ordinary vmapped arguments.

Scoring (GNMT, Wu et al. 2016, eq. 14):

    s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
    lp(Y)   = ((5 + |Y|) / 6) ** α                   (|Y| counts EOS)
    cp      = β * Σ_i log(min(Σ_j a_ij, 1.0))       (a: attention; sum over target steps j)

with the coverage Σ_j a_ij read from the decoder carry's ``coverage_BxS``
(padded source positions excluded). Log-probabilities are the model's own
(no renormalisation); PAD and BOS are never generated. Every returned
hypothesis ends with EOS: at an example's last allowed step only EOS remains.

A hypothesis ends when EOS is among the step's top K expansions (as in
fairseq); the next K live beams come from the top 2K, so beam 1 is greedy.

Early exit (as in Flax's WMT example): an example stops once it has K finished
hypotheses and the best live beam cannot beat the worst of them even with the
most favourable length penalty and a perfect coverage.

Shapes: B batch, K beam, S source length, T maximum output length, V vocabulary,
N n-best size.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.decoding.lengths import max_output_lengths
from seq2seq_jax.decoding.protocol import DecodeModel, DecoderState, SourceEncoding

NEG = -1.0e9  # "minus infinity" that keeps arithmetic finite


def length_penalty(length, alpha):
  """GNMT's lp(Y) for |Y| = `length` (any shape, broadcast with `alpha`)."""
  return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


def coverage_penalty(coverage_S, src_mask_S, beta):
  """GNMT's cp over the last axis S (padding excluded); leading axes are kept."""
  per_pos = jnp.log(jnp.clip(coverage_S, 1e-10, 1.0))
  return beta * jnp.sum(jnp.where(src_mask_S, per_pos, 0.0), axis=-1)


class _State(NamedTuple):
  t: jax.Array
  live_seqs: jax.Array       # K x T
  live_logp: jax.Array       # K
  carry: DecoderState        # decoder carry for K beams (leaves K x ...)
  fin_seqs: jax.Array        # K x T
  fin_scores: jax.Array      # K
  fin_logp: jax.Array        # K
  fin_len: jax.Array         # K


def _tile(tree, k):
  return jax.tree.map(lambda x: jnp.broadcast_to(x[None], (k,) + x.shape), tree)


def _gather(tree, idx_K):
  return jax.tree.map(lambda x: x[idx_K], tree)


def _search_one(model: DecodeModel, params, enc_1: SourceEncoding, carry_1: DecoderState, alpha,
                beta, max_len_i, *, beam: int, max_len: int, bos_id: int, eos_id: int,
                pad_id: int):
  """Beam search for one example (leaves of enc_1/carry_1 have no batch axis): the
  K beams are the batch of `model`'s steps."""
  K, T = beam, max_len
  enc = _tile(enc_1, K)
  carry = _tile(carry_1, K)
  src_mask_S = enc_1.src_mask_BxS

  state = _State(
      t=jnp.int32(0),
      live_seqs=jnp.zeros((K, T), jnp.int32),
      live_logp=jnp.where(jnp.arange(K) == 0, 0.0, NEG).astype(jnp.float32),
      carry=carry,
      fin_seqs=jnp.zeros((K, T), jnp.int32),
      fin_scores=jnp.full((K,), NEG, jnp.float32),
      fin_logp=jnp.full((K,), NEG, jnp.float32),
      fin_len=jnp.zeros((K,), jnp.int32))

  def cond(s: _State):
    # Log-probs only fall and (α >= 0) lp only grows, and cp <= 0 (β >= 0): so this
    # bounds every score a live beam can still reach. α or β < 0 disables the exit.
    best_live = s.live_logp[0] / length_penalty(max_len_i, alpha)
    worst_fin = s.fin_scores[-1]
    can_improve = ((worst_fin <= NEG / 2) | (best_live > worst_fin) | (alpha < 0)
                   | (beta < 0))
    return (s.t < max_len_i) & can_improve

  def body(s: _State):
    prev = jnp.where(s.t == 0, bos_id, s.live_seqs[:, jnp.maximum(s.t - 1, 0)])
    carry, logits, _ = model.decode_step(params, s.carry, prev, enc)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32))
    vocab = logp.shape[-1]
    tok = jnp.arange(vocab)
    logp = jnp.where((tok == pad_id) | (tok == bos_id), NEG, logp)
    last = s.t + 1 >= max_len_i
    logp = jnp.where(last & (tok != eos_id), NEG, logp)  # only EOS at the last step
    cand = (s.live_logp[:, None] + logp).reshape(-1)  # K*V
    top_logp, top_idx = jax.lax.top_k(cand, 2 * K)
    parent, token = top_idx // vocab, (top_idx % vocab).astype(jnp.int32)
    seqs = s.live_seqs[parent].at[:, s.t].set(token)
    is_eos = token == eos_id
    valid = top_logp > NEG / 2

    # Finished candidates: score with the penalties, merge with the finished so far.
    length = s.t + 1
    cp = coverage_penalty(carry.coverage_BxS[parent], src_mask_S[None], beta)
    score = top_logp / length_penalty(length, alpha) + cp
    # As in fairseq: a hypothesis may end only if its EOS is among the top K
    # expansions (so beam 1 is exactly greedy); the top 2K guarantee K live ones.
    new_fin = is_eos & valid & (jnp.arange(2 * K) < K)
    all_scores = jnp.concatenate([s.fin_scores, jnp.where(new_fin, score, NEG)])
    all_seqs = jnp.concatenate([s.fin_seqs, seqs])
    all_logp = jnp.concatenate([s.fin_logp, jnp.where(new_fin, top_logp, NEG)])
    all_len = jnp.concatenate([s.fin_len, jnp.full((2 * K,), length, jnp.int32)])
    fin_scores, fin_idx = jax.lax.top_k(all_scores, K)

    # Live candidates: the K best that did not end.
    live_score = jnp.where(is_eos, NEG, top_logp)
    live_logp, live_idx = jax.lax.top_k(live_score, K)
    return _State(
        t=s.t + 1,
        live_seqs=seqs[live_idx],
        live_logp=live_logp,
        carry=_gather(carry, parent[live_idx]),
        fin_seqs=all_seqs[fin_idx],
        fin_scores=fin_scores,
        fin_logp=all_logp[fin_idx],
        fin_len=all_len[fin_idx])

  s = jax.lax.while_loop(cond, body, state)
  return s.fin_seqs, s.fin_scores, s.fin_logp, s.fin_len


def beam_search(model: DecodeModel, params, src_BxS, src_len_B, *, beam: int, max_len: int,
                bos_id: int, eos_id: int, pad_id: int = 0, nbest: int = 1,
                alpha_B=None, beta_B=None, max_len_B=None):
  """n-best beam search. Returns a dict of

    tokens_BxNxT (int32, 0 after EOS), scores_BxN (penalised, sorted descending),
    logprobs_BxN (log P(Y|X)), lengths_BxN (tokens incl. EOS; 0 = no hypothesis).

  `alpha_B` (length penalty α, default 0.6), `beta_B` (coverage penalty β,
  default 0), `max_len_B` (default: min(max_len, 2*src_len + 10)) may differ per
  example. Defaults are filled in before the compiled call, so batches of one
  shape share one program whichever arguments are given.
  """
  if nbest > beam:
    raise ValueError(f"nbest ({nbest}) cannot exceed the beam size ({beam})")
  B = src_BxS.shape[0]
  alpha_B = (jnp.full((B,), 0.6, jnp.float32) if alpha_B is None
             else jnp.asarray(alpha_B, jnp.float32))
  beta_B = jnp.zeros((B,), jnp.float32) if beta_B is None else jnp.asarray(beta_B, jnp.float32)
  if max_len_B is None:
    max_len_B = max_output_lengths(jnp.asarray(src_len_B), max_len=max_len)
  max_len_B = jnp.minimum(jnp.asarray(max_len_B, jnp.int32), max_len)
  return _beam_search(model, params, jnp.asarray(src_BxS), jnp.asarray(src_len_B), alpha_B,
                      beta_B, max_len_B, beam=beam, max_len=max_len, bos_id=bos_id,
                      eos_id=eos_id, pad_id=pad_id, nbest=nbest)


@functools.partial(jax.jit, static_argnames=("model", "beam", "max_len", "nbest", "bos_id",
                                             "eos_id", "pad_id"))
def _beam_search(model, params, src_BxS, src_len_B, alpha_B, beta_B, max_len_B, *, beam: int,
                 max_len: int, bos_id: int, eos_id: int, pad_id: int, nbest: int):
  enc = model.encode(params, src_BxS, src_len_B)
  carry = model.init_carry(params, enc)
  search = functools.partial(_search_one, model, params, beam=beam, max_len=max_len,
                             bos_id=bos_id, eos_id=eos_id, pad_id=pad_id)
  seqs, scores, logp, lengths = jax.vmap(search)(enc, carry, alpha_B, beta_B, max_len_B)
  ok = scores > NEG / 2
  keep_T = jnp.arange(max_len)[None, None, :] < lengths[..., None]
  seqs = jnp.where(keep_T & ok[..., None], seqs, 0)
  return {"tokens": seqs[:, :nbest], "scores": jnp.where(ok, scores, -jnp.inf)[:, :nbest],
          "logprobs": jnp.where(ok, logp, -jnp.inf)[:, :nbest],
          "lengths": jnp.where(ok, lengths, 0)[:, :nbest]}

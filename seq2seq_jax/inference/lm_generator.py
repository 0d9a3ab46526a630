"""A trained language model as a predictor: scoring text and generating continuations
with the shared decoders (greedy, sampling, beam search).

The decoders expect the encoder-decoder contract (``decoding.protocol``); a language
model fits it with the prompt as the "source": ``encode`` runs the model over the prompt
except its last token and keeps the state, and the first ``decode_step`` (given the
decoders' BOS, a sentinel id V here) feeds that last token. A prompt starts after an
``<eos>`` -- where every line of the training stream starts -- so an empty prompt
generates a first line; generation ends at ``<eos>`` (the end of the line) or at
``max_len`` tokens, the ``<eos>`` included. The model has no coverage: the protocol's
coverage and source mask are a constant column.

Shapes: B prompts, S prompt length, V vocabulary, H hidden units.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax.data.lm.vocab import Vocab, tokens_of
from seq2seq_jax.decoding import beam_search as beam_lib
from seq2seq_jax.decoding import sampling
from seq2seq_jax.models import language_model as lm


class Encoded(NamedTuple):
  carry: list               # the state after all prompt tokens but the last
  last_B: jax.Array         # the prompt's last token: the first decode step's input
  src_mask_BxS: jax.Array   # [B, 1] True (no attention, no coverage)


class Carry(NamedTuple):
  layers: list
  coverage_BxS: jax.Array   # [B, 1] ones: a coverage penalty of 0


@dataclasses.dataclass(frozen=True)
class Decoder:
  """A language model under the decoders' contract (hashable: a static jit argument)."""
  cfg: lm.LanguageModelConfig

  @property
  def bos_id(self) -> int:  # never a real token: the decoders feed it first
    return self.cfg.vocab_size

  @property
  def pad_id(self) -> int:
    return self.cfg.vocab_size + 1

  def encode(self, params, src_BxS, src_len_B) -> Encoded:
    B = src_BxS.shape[0]
    _, carry, _ = lm.hidden_states(self.cfg, params, src_BxS, src_len_B - 1,
                                   lm.init_carry(self.cfg, B))
    last = jnp.take_along_axis(src_BxS, (src_len_B - 1)[:, None], axis=1)[:, 0]
    return Encoded(carry, last, jnp.ones((B, 1), bool))

  def init_carry(self, params, encoded: Encoded) -> Carry:
    del params
    return Carry(encoded.carry, jnp.ones(encoded.src_mask_BxS.shape, jnp.float32))

  def decode_step(self, params, carry: Carry, token_B, encoded: Encoded):
    token = jnp.where(token_B == self.bos_id, encoded.last_B, token_B)
    B = token.shape[0]
    h, layers, _ = lm.hidden_states(self.cfg, params, token[:, None], jnp.ones((B,), jnp.int32),
                                    carry.layers)
    logits = lm.log_probs(self.cfg, params, h[0])
    return Carry(layers, carry.coverage_BxS), logits, jnp.zeros((B, 1), jnp.float32)


METHODS = ("greedy", "beam", "sample")


class LanguageModelPredictor:
  """Scores and continues text with one parameter set (a multi-seed run: its first
  seed, or the one ``load_predictor(..., seed_index=i)`` picked)."""

  def __init__(self, cfg: lm.LanguageModelConfig, params, vocab: Vocab):
    self.cfg, self.params, self.vocab = cfg, params, vocab
    self.decoder = Decoder(cfg)

  def encode_prompt(self, text: str, warn_line: int | None = None) -> list[int]:
    """[<eos>] + the prompt's token ids; unknown tokens become <unk>, said on stderr."""
    toks = tokens_of(text, self.vocab.level)
    unknown = [t for t in toks if t not in self.vocab.index]
    if unknown:
      where = f"prompt {warn_line}" if warn_line is not None else "the prompt"
      shown = ", ".join(repr(t) for t in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
      print(f"warning: {where}: {len(unknown)} token(s) not in the vocabulary, read as "
            f"<unk>: {shown}", file=sys.stderr)
    return [self.vocab.eos_id] + [self.vocab.index.get(t, self.vocab.unk_id) for t in toks]

  def _prompts(self, prompts: list[str]):
    ids = [self.encode_prompt(p, i + 1 if len(prompts) > 1 else None)
           for i, p in enumerate(prompts)]
    S = max(len(x) for x in ids)
    src = np.zeros((len(ids), S), np.int32)
    for i, x in enumerate(ids):
      src[i, :len(x)] = x
    return jnp.asarray(src), jnp.asarray([len(x) for x in ids], jnp.int32)

  def generate(self, prompts: list[str], *, method: str = "sample", max_len: int = 30,
               beam: int = 5, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               num_samples: int = 1, seed: int = 0, alpha: float = 0.0) -> list[list[str]]:
    """For each prompt, its continuations (num_samples of them when sampling)."""
    if method not in METHODS:
      raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if max_len < 1:
      raise ValueError(f"max_len must be >= 1 (tokens generated, <eos> included), got {max_len}")
    if num_samples < 1 or beam < 1:
      raise ValueError("num_samples and beam must be >= 1")
    src, src_len = self._prompts(prompts)
    B = src.shape[0]
    d, kw = self.decoder, dict(max_len=max_len, bos_id=self.decoder.bos_id,
                               eos_id=self.vocab.eos_id, pad_id=self.decoder.pad_id)
    limit = jnp.full((B,), max_len, jnp.int32)
    if method == "greedy":
      tokens, _, _ = sampling.greedy(d, self.params, src, src_len, len_limit_B=limit, **kw)
      outs = [[t] for t in np.asarray(tokens)]
    elif method == "beam":
      res = beam_lib.beam_search(d, self.params, src, src_len, beam=beam, max_len_B=limit,
                                 alpha_B=jnp.full((B,), alpha, jnp.float32), **kw)
      outs = [[t] for t in np.asarray(res["tokens"][:, 0])]
    else:
      outs = [[] for _ in range(B)]
      for n in range(num_samples):
        tokens, _ = sampling.sample(d, self.params, src, src_len,
                                    jax.random.fold_in(jax.random.key(seed), n),
                                    temperature=temperature, top_k=top_k, top_p=top_p,
                                    len_limit_B=limit, **kw)
        for i, t in enumerate(np.asarray(tokens)):
          outs[i].append(t)
    return [[self.vocab.decode(_until_eos(t, self.vocab.eos_id)) for t in row] for row in outs]


def _until_eos(tokens_T: np.ndarray, eos_id: int) -> list[int]:
  out = []
  for t in tokens_T.tolist():
    if t == eos_id:
      break
    out.append(t)
  return out

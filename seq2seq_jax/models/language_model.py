"""A stacked recurrent language model: embedding, L LSTM/GRU/RNN layers, softmax.

Pure functions over an explicit parameter pytree (Flax's ``ParamGroup`` only creates it):

    params = init(cfg, key)
    carry = init_carry(cfg, B)
    h_TxBxH, carry, aux = hidden_states(cfg, params, tokens_BxT, lengths_B, carry, ...)
    nll_sum, count = loss_sums(cfg, params, h_TxBxH, targets_BxT, mask_BxT)

``carry`` (one cell state per layer, rows first) is what stateful truncated BPTT hands
from one window to the next: running two windows with the carry equals running their
concatenation in one scan (tested).

Regularisers, all off at evaluation (``deterministic=True``):

* Zaremba et al. (2014): dropout on the non-recurrent connections -- the embedding output
  (``input_dropout``), between layers (``hidden_dropout``) and before the softmax
  (``output_dropout``); a new mask per time step.
* Merity et al. (2018), AWD-LSTM: ``locked_dropout`` reuses one mask for all time steps
  of a window (variational dropout, Gal & Ghahramani 2016); ``embed_dropout`` drops whole
  word types from the embedding matrix; ``dropconnect`` drops entries of every layer's
  recurrent matrix ``w_hh``, one mask per window shared by all rows and time steps;
  activation regularisation AR (alpha * mean h^2 of the dropped top outputs) and temporal
  AR (beta * mean (h_t - h_{t-1})^2 of the undropped ones) are returned in ``aux``.

Tied embeddings (Press & Wolf 2017; Inan et al. 2017): the softmax weight is the
embedding matrix transposed; when ``embed_dim != hidden_dim`` the top layer has
``embed_dim`` units (as AWD-LSTM's last layer).

``init_scale`` > 0 draws every parameter from U(-s, s), as Zaremba's code does (biases
included); 0 keeps the cells' defaults (U(+-1/sqrt(H)), forget-gate bias).

Speed by design: each layer projects all T inputs with one matmul, the scan runs only the
recurrent matmul, and the softmax and its gradient are one chunked pass
(``output_loss.fused_losses``).

Shapes: B rows, T steps, E embedding, H hidden units, V vocabulary, L layers.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.models.config import from_dict
from seq2seq_jax.models.params import ParamGroup
from seq2seq_jax.nn import cells as cells_lib
from seq2seq_jax.nn import output_loss
from seq2seq_jax.nn import recurrent


@dataclasses.dataclass(frozen=True)
class LanguageModelConfig:
  vocab_size: int
  embed_dim: int
  hidden_dim: int
  num_layers: int = 2
  cell: str = "lstm"
  tie_embeddings: bool = False
  init_scale: float = 0.0
  forget_bias: float = 1.0
  input_dropout: float = 0.0
  hidden_dropout: float = 0.0
  output_dropout: float = 0.0
  locked_dropout: bool = False
  embed_dropout: float = 0.0
  dropconnect: float = 0.0
  fused_lstm: bool = True
  softmax_chunk: int = 0  # rows of the fused softmax pass at a time (0: all)

  def __post_init__(self):
    cells_lib.num_gates(self.cell)  # raises on an unknown cell
    for name in ("vocab_size", "embed_dim", "hidden_dim", "num_layers"):
      v = getattr(self, name)
      if not isinstance(v, int) or v < 1:
        raise ValueError(f"LanguageModelConfig: {name} must be a positive integer, got {v!r}")
    for name in ("input_dropout", "hidden_dropout", "output_dropout", "embed_dropout",
                 "dropconnect"):
      v = getattr(self, name)
      if not 0.0 <= v < 1.0:
        raise ValueError(f"LanguageModelConfig: {name} must be in [0, 1), got {v!r}")

  @classmethod
  def from_dict(cls, d) -> "LanguageModelConfig":
    return from_dict(cls, d)

  def layer_dims(self) -> list[tuple[int, int]]:
    """(inputs, units) of each layer; a tied model's top layer has embed_dim units."""
    dims, d_in = [], self.embed_dim
    for l in range(self.num_layers):
      top = l == self.num_layers - 1
      units = self.embed_dim if top and self.tie_embeddings else self.hidden_dim
      dims.append((d_in, units))
      d_in = units
    return dims

  @property
  def top_dim(self) -> int:
    return self.layer_dims()[-1][1]


def _param_inits(cfg: LanguageModelConfig) -> dict[str, list]:
  s = cfg.init_scale
  uniform = lambda bound: lambda k, shape: jax.random.uniform(k, shape, jnp.float32, -bound, bound)

  def cell_init(d_in, units):
    def fn(k):
      p = cells_lib.init_params(cfg.cell, k, d_in, units, cfg.forget_bias)
      if s:  # Zaremba: every parameter U(-s, s)
        keys = jax.random.split(jax.random.fold_in(k, 1), len(p))
        p = {n: uniform(s)(kk, v.shape) for kk, (n, v) in zip(keys, sorted(p.items()))}
      return p
    return fn

  groups = {"embed": [("w", lambda k: uniform(s or 0.1)(k, (cfg.vocab_size, cfg.embed_dim)))],
            "layers": [(f"layer_{l}", cell_init(d_in, units))
                       for l, (d_in, units) in enumerate(cfg.layer_dims())]}
  out = [] if cfg.tie_embeddings else [
      ("w", lambda k: uniform(s or 1.0 / cfg.top_dim ** 0.5)(k, (cfg.top_dim, cfg.vocab_size)))]
  out.append(("b", (lambda k: uniform(s)(k, (cfg.vocab_size,))) if s else
              (lambda k: jnp.zeros((cfg.vocab_size,), jnp.float32))))
  groups["output"] = out
  return groups


class ParamFactory(nn.Module):
  """Creates the parameter pytree of a :class:`LanguageModelConfig`."""
  cfg: LanguageModelConfig

  @nn.compact
  def __call__(self):
    return {g: ParamGroup(tuple(inits), name=g)() for g, inits in _param_inits(self.cfg).items()}


def init(cfg: LanguageModelConfig, key) -> dict:
  return ParamFactory(cfg).init(key)["params"]


def init_carry(cfg: LanguageModelConfig, rows: int, dtype=jnp.float32) -> list:
  """Zero state of every layer, rows first."""
  cell = cells_lib.get_cell(cfg.cell)
  return [cell.init_carry(rows, units, dtype) for _, units in cfg.layer_dims()]


def output_weights(cfg: LanguageModelConfig, params: dict):
  """(w_HxV, b_V) of the softmax; tied: the embedding transposed."""
  w = params["embed"]["w"].T if cfg.tie_embeddings else params["output"]["w"]
  return w, params["output"]["b"]


def _dropout_mask(key, rate, shape):
  return jax.random.bernoulli(key, 1.0 - rate, shape).astype(jnp.float32) / (1.0 - rate)


def _drop(cfg, x_TxBxD, rate, key):
  """Per-step (Zaremba) or locked (one mask per window) dropout."""
  if not rate:
    return x_TxBxD
  shape = (1,) + x_TxBxD.shape[1:] if cfg.locked_dropout else x_TxBxD.shape
  return x_TxBxD * _dropout_mask(key, rate, shape)


def hidden_states(cfg: LanguageModelConfig, params: dict, tokens_BxT, lengths_B, carry, *,
                  key=None, deterministic: bool = True):
  """(h_TxBxH top outputs after output dropout, new carry, aux) of one window.

  Steps t >= lengths_B[b] leave row b's state untouched (output zeros). aux:
  ``raw_TxBxH``, the top outputs before dropout (for TAR).
  """
  cell = cells_lib.get_cell(cfg.cell)
  train = not deterministic and key is not None
  keys = jax.random.split(key, 2 * cfg.num_layers + 2) if train else [None] * (
      2 * cfg.num_layers + 2)
  emb = params["embed"]["w"]
  if train and cfg.embed_dropout:  # drop word types: the same words in every position
    emb = emb * _dropout_mask(keys[-1], cfg.embed_dropout, (emb.shape[0], 1))
  x = jnp.take(emb, tokens_BxT.T, axis=0)  # [T, B, E]
  T = x.shape[0]
  mask_TxB = recurrent.time_mask(lengths_B, T)
  new_carry = []
  for l in range(cfg.num_layers):
    p = params["layers"][f"layer_{l}"]
    if train:
      x = _drop(cfg, x, cfg.input_dropout if l == 0 else cfg.hidden_dropout, keys[2 * l])
      if cfg.dropconnect:
        p = dict(p, w_hh=p["w_hh"] * _dropout_mask(keys[2 * l + 1], cfg.dropconnect,
                                                   p["w_hh"].shape))
    xp = cell.project(p, x)
    final, x = recurrent.scan_recurrence(cell, p, xp, carry[l], mask_TxB,
                                         fused_lstm=cfg.fused_lstm)
    new_carry.append(final)
  raw = x
  if train:
    x = _drop(cfg, x, cfg.output_dropout, keys[-2])
  return x, new_carry, {"raw_TxBxH": raw, "mask_TxB": mask_TxB}


def loss_sums(cfg: LanguageModelConfig, params: dict, h_TxBxH, targets_BxT, mask_BxT):
  """(differentiable NLL sum, token count) through the fused softmax."""
  w, b = output_weights(cfg, params)
  H = h_TxBxH.shape[-1]
  loss, _, count = output_loss.fused_losses(h_TxBxH.reshape(-1, H), w, b,
                                            targets_BxT.T.reshape(-1),
                                            mask_BxT.T.reshape(-1).astype(jnp.float32),
                                            0.0, cfg.softmax_chunk)
  return loss, count


def log_probs(cfg: LanguageModelConfig, params: dict, h_NxH):
  """log p(next token) [N, V] (evaluation and generation)."""
  w, b = output_weights(cfg, params)
  logits = jnp.dot(h_NxH, w, preferred_element_type=jnp.float32) + b
  return jax.nn.log_softmax(logits)


def activation_regularisers(h_TxBxH, raw_TxBxH, mask_TxB):
  """(AR, TAR): mean squared dropped output; mean squared change of the raw output."""
  m = mask_TxB[..., None].astype(jnp.float32)
  H = h_TxBxH.shape[-1]
  ar = (jnp.square(h_TxBxH) * m).sum() / jnp.maximum(m.sum() * H, 1.0)
  both = m[1:] * m[:-1]
  tar = (jnp.square(raw_TxBxH[1:] - raw_TxBxH[:-1]) * both).sum() / jnp.maximum(
      both.sum() * H, 1.0)
  return ar, tar


@dataclasses.dataclass(frozen=True)
class LanguageModel:
  """The functions above bound to a config: hashable, with ``init(key)``."""
  cfg: LanguageModelConfig

  def init(self, key) -> dict:
    return init(self.cfg, key)

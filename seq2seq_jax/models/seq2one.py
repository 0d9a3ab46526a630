"""Sequence-to-one models: a recurrent stack read to each sequence's end, then a
linear head (regression or classification). Used by the long-time-lag tasks.

Pure functions over an explicit parameter pytree::

    params = init(cfg, key)
    out_BxO = apply(cfg, params, x_BxLxD, lengths_B)
    norms_L = hidden_grad_norms(cfg, params, x_BxLxD, lengths_B, y_B)

The stack is the same masked ``lax.scan`` as the seq2seq encoder
(``recurrent.run_stack``), so padding never changes an output.

Shapes: B batch, L padded length, D input features, H hidden, O outputs.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seq2seq_jax.models.config import from_dict
from seq2seq_jax.nn import cells as cells_lib
from seq2seq_jax.nn import recurrent

HEADS = ("regression", "classification")


@dataclasses.dataclass(frozen=True)
class SequenceModelConfig:
  cell: str
  input_dim: int
  hidden_dim: int
  output_dim: int
  head: str = "regression"
  num_layers: int = 1
  forget_bias: float = 1.0

  def __post_init__(self):
    cells_lib.num_gates(self.cell)  # raises on an unknown cell
    if self.head not in HEADS:
      raise ValueError(f"SequenceModelConfig: head must be one of {HEADS}, got {self.head!r}")
    for name in ("input_dim", "hidden_dim", "output_dim", "num_layers"):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise ValueError(f"SequenceModelConfig: {name} must be a positive integer, "
                         f"got {getattr(self, name)!r}")

  @classmethod
  def from_dict(cls, d) -> "SequenceModelConfig":
    return from_dict(cls, d)


def init(cfg: SequenceModelConfig, key) -> dict:
  keys = jax.random.split(key, cfg.num_layers + 1)
  layers = [cells_lib.init_params(cfg.cell, keys[l], cfg.input_dim if l == 0 else cfg.hidden_dim,
                                  cfg.hidden_dim, cfg.forget_bias)
            for l in range(cfg.num_layers)]
  bound = 1.0 / jnp.sqrt(cfg.hidden_dim)
  w = jax.random.uniform(keys[-1], (cfg.hidden_dim, cfg.output_dim), minval=-bound, maxval=bound)
  return {"layers": layers, "out": {"w": w, "b": jnp.zeros((cfg.output_dim,))}}


def _head(cfg, params, h_BxH):
  out = h_BxH @ params["out"]["w"] + params["out"]["b"]
  return out[:, 0] if cfg.head == "regression" else out


def apply(cfg: SequenceModelConfig, params: dict, x_BxLxD, lengths_B):
  """Regression output y_B, or class logits_BxO, read at each sequence's last step."""
  cell = cells_lib.get_cell(cfg.cell)
  _, finals = recurrent.run_stack(cell, params["layers"], jnp.swapaxes(x_BxLxD, 0, 1), lengths_B,
                                  bidirectional=(False,) * cfg.num_layers)
  return _head(cfg, params, cell.hidden(finals[-1]))


def loss_fn(cfg: SequenceModelConfig, out, y_B):
  """Mean squared error (regression) or cross-entropy (classification), per example."""
  if cfg.head == "regression":
    return jnp.square(out - y_B)
  logp = jax.nn.log_softmax(out)
  return -jnp.take_along_axis(logp, y_B[:, None].astype(jnp.int32), axis=1)[:, 0]


def errors(cfg: SequenceModelConfig, out, y_B, threshold: float):
  """1.0 where an output is wrong: |error| >= threshold (regression) or wrong class."""
  if cfg.head == "regression":
    return (jnp.abs(out - y_B) >= threshold).astype(jnp.float32)
  return (jnp.argmax(out, -1) != y_B).astype(jnp.float32)


def hidden_grad_norms(cfg: SequenceModelConfig, params: dict, x_BxLxD, lengths_B, y_B):
  """norms_L[k]: mean over the batch of ||dLoss/dh_t|| at lag k = length-1-t.

  k = 0 is each sequence's last step (where the loss is read); large k are
  early steps, i.e. long time lags. The top layer's hidden states are used.

  The gradient with respect to the hidden state at step t is measured by adding
  a zero perturbation delta_t to h_t inside the recurrence (so it flows into
  every later step) and differentiating the loss by delta. For a vanilla RNN
  the norm decays roughly geometrically as t moves away from the end (the
  vanishing gradient of Hochreiter 1991 / Bengio 1994); the LSTM's cell state
  carries it back. Steps past a sequence's length contribute 0.
  """
  cell = cells_lib.get_cell(cfg.cell)
  x_LxBxD = jnp.swapaxes(x_BxLxD, 0, 1)
  L, B = x_LxBxD.shape[:2]
  lower, top = params["layers"][:-1], params["layers"][-1]
  if lower:
    x_LxBxD, _ = recurrent.run_stack(cell, lower, x_LxBxD, lengths_B,
                                     bidirectional=(False,) * len(lower))
  xp = cell.project(top, x_LxBxD)
  mask = recurrent.time_mask(lengths_B, L)

  def loss_of(delta_LxBxH):
    def body(carry, inputs):
      xp_t, d_t, m_t = inputs
      new, h = cell.recur(top, carry, xp_t)
      h = h + d_t
      new = (h,) + tuple(new[1:]) if cell.has_cell_state else h
      keep = m_t[:, None]
      return jax.tree.map(lambda n, o: jnp.where(keep, n, o), new, carry), None
    carry0 = cell.init_carry(B, cfg.hidden_dim)
    final, _ = jax.lax.scan(body, carry0, (xp, delta_LxBxH, mask))
    out = _head(cfg, params, cell.hidden(final))
    return loss_fn(cfg, out, y_B).sum()  # sum: per-example gradients are not scaled by 1/B

  g = jax.grad(loss_of)(jnp.zeros((L, B, cfg.hidden_dim)))
  g = recurrent.reverse_padded(g, lengths_B)  # index k = steps before the end
  norms_LxB = jnp.linalg.norm(g, axis=-1) * mask
  return norms_LxB.sum(1) / jnp.maximum(mask.sum(1), 1)


@dataclasses.dataclass(frozen=True)
class SequenceModel:
  """The pure functions above bound to a config: hashable (a static jit argument) and
  with ``init(key)``, as every model the trainer builds."""
  cfg: SequenceModelConfig

  def init(self, key) -> dict:
    return init(self.cfg, key)

  def __call__(self, params: dict, x_BxLxD, lengths_B):
    return apply(self.cfg, params, x_BxLxD, lengths_B)

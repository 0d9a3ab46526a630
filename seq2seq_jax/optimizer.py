"""Optimizers and learning-rate schedules from a config's ``optimizer`` section (optax).

``make_optimizer(config.optimizer, num_train_steps) -> (tx, schedule)``: Adam, AdamW,
RMSprop or SGD (+momentum/Nesterov), global-norm clipping, and a linear warm-up followed
by a constant, rsqrt, cosine, linear or step decay, optionally with iterate averaging
(``averaging``: ASGD from a fixed update, or AWD-LSTM's NT-ASGD). Every task trains
with these.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from seq2seq_jax import averaging


def make_schedule(oc: ml_collections.ConfigDict, num_train_steps: int):
  """Linear warm-up then 'constant', 'rsqrt', 'cosine', 'linear' or 'step' decay."""
  lr, warmup = oc.learning_rate, oc.get("warmup_steps", 0)
  kind = oc.get("schedule", "constant")
  warm = optax.linear_schedule(0.0, lr, warmup) if warmup else None
  decay_steps = max(1, num_train_steps - warmup)
  if kind == "constant":
    after = optax.constant_schedule(lr)
  elif kind == "rsqrt":
    after = lambda s: lr * jnp.sqrt(max(warmup, 1) / jnp.maximum(s + max(warmup, 1), 1.0))
  elif kind == "cosine":
    after = optax.cosine_decay_schedule(lr, decay_steps, alpha=oc.get("final_lr_fraction", 0.0))
  elif kind == "linear":
    after = optax.linear_schedule(lr, lr * oc.get("final_lr_fraction", 0.0), decay_steps)
  elif kind == "step":  # Luong 2015 / Sutskever 2014: halve every `decay_every` after `decay_start`
    after = optax.exponential_decay(lr, oc.decay_every, oc.get("decay_factor", 0.5),
                                    transition_begin=oc.decay_start - warmup, staircase=True)
  else:
    raise ValueError(f"optimizer.schedule must be constant/rsqrt/cosine/linear/step, got {kind!r}")
  return optax.join_schedules([warm, after], [warmup]) if warm else after


def scalable(inner: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
  """`inner` whose update of one step can be multiplied by ``update_scale`` (a batch's
  learning-rate factor: AWD-LSTM scales the rate by window length / bptt). Without it,
  `inner` unchanged; the state is `inner`'s."""
  def update(grads, state, params=None, *, update_scale=None):
    updates, state = inner.update(grads, state, params)
    if update_scale is not None:
      updates = jax.tree.map(lambda u: (u * update_scale).astype(u.dtype), updates)
    return updates, state
  return optax.GradientTransformationExtraArgs(inner.init, update)


def make_optimizer(oc: ml_collections.ConfigDict, num_train_steps: int):
  sched = make_schedule(oc, num_train_steps)
  name = oc.name.lower()
  if name == "adam":
    opt = optax.adam(sched, b1=oc.get("b1", 0.9), b2=oc.get("b2", 0.999), eps=oc.get("eps", 1e-8))
  elif name == "adamw":
    opt = optax.adamw(sched, b1=oc.get("b1", 0.9), b2=oc.get("b2", 0.999),
                      eps=oc.get("eps", 1e-8), weight_decay=oc.get("weight_decay", 1e-4))
  elif name == "rmsprop":
    opt = optax.rmsprop(sched, decay=oc.get("decay", 0.9), eps=oc.get("eps", 1e-8),
                        momentum=oc.get("momentum", 0.0) or None)
  elif name == "sgd":
    opt = optax.sgd(sched, momentum=oc.get("momentum", 0.0) or None,
                    nesterov=oc.get("nesterov", False))
  else:
    raise ValueError(f"optimizer.name must be adam/adamw/rmsprop/sgd, got {oc.name!r}")
  clip = oc.get("clip_norm", 0.0)
  tx = scalable(optax.chain(optax.clip_by_global_norm(clip), opt) if clip else opt)
  kind = averaging.check(oc)  # iterate averaging (ASGD / NT-ASGD): see averaging.py
  if kind:
    tx = averaging.averaged(tx, int(oc.average_start) if kind == "asgd" else averaging.NEVER)
  return tx, sched

"""Iterate averaging: ASGD from a fixed update, and AWD-LSTM's non-monotonically
triggered ASGD (NT-ASGD; Merity, Keskar & Socher 2018).

``averaged(tx)`` wraps an optax optimizer; its state is a dict holding the inner state,
``averaged_params`` (the running mean of the parameters after updates start, start+1,
..., now; equal to the parameters themselves before `start`), the number of updates
done and `start` (1-based; ``NEVER`` until triggered). The updates themselves are the
inner optimizer's, unchanged: as in AWD-LSTM, where ASGD with lambd = 0 takes SGD's
steps, averaging changes only which weights are evaluated and kept.

Evaluation, the best checkpoint's scores and inference use ``averaged_params``
(`params_for_evaluation`, ``checkpoints.restore_for_inference``); before averaging starts
they are bitwise the parameters. The state is part of the checkpoint, so a resumed run
averages exactly as the uninterrupted one.

NT-ASGD (`should_start`): after an evaluation, averaging starts at the next update when
the validation score is worse than the best of all but the last `nonmono` earlier
evaluations (AWD-LSTM's ``val_loss > min(best_val_loss[:-nonmono])``, with more than
`nonmono` earlier ones).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

AVERAGED = "averaged_params"  # the state key inference reads
NEVER = jnp.iinfo(jnp.int32).max
KINDS = ("", "asgd", "nt_asgd")


def check(oc) -> str:
  """The config's averaging kind; a clear error for a bad one."""
  kind = oc.get("averaging", "") or ""
  if kind not in KINDS:
    raise ValueError(f"optimizer.averaging must be one of {KINDS[1:]} or empty, got {kind!r}")
  if kind == "asgd" and int(oc.get("average_start", 0)) < 1:
    raise ValueError("optimizer.averaging='asgd' needs optimizer.average_start >= 1 "
                     "(the first update averaged)")
  if kind == "nt_asgd" and int(oc.get("nonmono", 5)) < 1:
    raise ValueError(f"optimizer.nonmono must be >= 1, got {oc.get('nonmono')}")
  return kind


def averaged(inner: optax.GradientTransformation, start: int = NEVER
             ) -> optax.GradientTransformation:
  """`inner` plus the running mean of the parameters from update `start` (1-based)."""
  def init(params):
    return {"inner": inner.init(params), AVERAGED: jax.tree.map(jnp.array, params),
            "updates": jnp.zeros([], jnp.int32), "start": jnp.asarray(start, jnp.int32)}

  def update(grads, state, params, **extra):
    updates, inner_state = inner.update(grads, state["inner"], params, **extra)
    new = optax.apply_updates(params, updates)  # what the step's params become
    n = state["updates"] + 1
    on = n >= state["start"]
    mu = 1.0 / jnp.maximum(n - state["start"] + 1, 1).astype(jnp.float32)
    avg = jax.tree.map(lambda a, p: jnp.where(on, a + (p - a) * mu.astype(p.dtype), p),
                       state[AVERAGED], new)
    return updates, {"inner": inner_state, AVERAGED: avg, "updates": n,
                     "start": state["start"]}

  return optax.GradientTransformationExtraArgs(init, update)


def is_averaged(opt_state) -> bool:
  return isinstance(opt_state, dict) and AVERAGED in opt_state


def params_for_evaluation(state):
  """The averaged parameters when the optimizer averages, else the parameters."""
  return state.opt_state[AVERAGED] if is_averaged(state.opt_state) else state.params


def started(opt_state) -> bool:
  return is_averaged(opt_state) and bool(jnp.all(opt_state["start"] != NEVER))


def should_start(oc, opt_state, history: list[dict], select_by: str, mode: str) -> bool:
  """NT-ASGD's trigger after the evaluation that ends `history` (mean over seeds)."""
  if (oc.get("averaging", "") or "") != "nt_asgd" or started(opt_state):
    return False
  nonmono = int(oc.get("nonmono", 5))
  scores = [sum(r[select_by] for r in h["per_seed"]) / len(h["per_seed"]) for h in history]
  *earlier, now = scores
  if len(earlier) <= nonmono:
    return False
  best = min(earlier[:-nonmono]) if mode == "min" else max(earlier[:-nonmono])
  return now > best if mode == "min" else now < best


def start_at(opt_state, update: int):
  """`opt_state` with averaging from `update` (1-based) on, for every seed."""
  old = opt_state["start"]
  return dict(opt_state, start=jax.device_put(jnp.full(old.shape, update, old.dtype),
                                              old.sharding))

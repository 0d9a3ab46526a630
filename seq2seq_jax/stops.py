"""Stopping a run that went wrong: a non-finite loss or parameters (the NaN stop), a
finite loss that diverged, and early stopping. The two failure stops raise before the bad
state is saved, with a message true to the run: the newest checkpoint that exists (or that
there is none) and only remedies not already in effect.
"""
from __future__ import annotations

import math

import numpy as np


class NonFiniteLossError(FloatingPointError):
  """The loss or the parameters of a seed became NaN or infinite."""


class DivergedError(FloatingPointError):
  """The training loss stayed finite but far above what the untrained model scores."""


def remedy(config, newest: str | None, diverged: bool = False) -> str:
  """Where the run can be resumed from (`newest`: the newest checkpoint's path), and the
  settings worth changing (only those not in effect already)."""
  if newest is None:
    where = "No checkpoint has been written yet."
  else:
    where = f"The newest checkpoint is {newest}; a rerun with changed settings resumes from it"
    # Its state includes the update whose loss the next step measured: it may be the
    # first diverging one (a NaN stop checks the parameters of every update).
    where += (" (its parameters may already be diverging: if the rerun diverges too, use a "
              "fresh --workdir)." if diverged else ".")
  tips = [f"lower optimizer.learning_rate (now {config.optimizer.learning_rate:g})"]
  if not config.optimizer.get("clip_norm"):
    tips.append("set optimizer.clip_norm (e.g. 1.0)")
  model = config.get("model") or {}
  if model.get("compute_dtype", "float32") != "float32":
    tips.append(f"use model.compute_dtype='float32' (now {model.get('compute_dtype')!r})")
  return f"{where} Try: {'; '.join(tips)}."


def _of_seed(seeds, i) -> str:
  return f" of seed {seeds[i]}" if len(seeds) > 1 else ""


def check_finite(loss_N, param_norm_N, seeds: list[int], step: int, remedy_text=lambda: ""):
  """Raises NonFiniteLossError naming the first seed whose loss or parameters are not
  finite; `remedy_text()` (only called then) ends the message."""
  bad_N = ~(np.isfinite(loss_N) & np.isfinite(param_norm_N))
  if not bad_N.any():
    return
  i = int(np.argmax(bad_N))
  loss, pnorm = float(loss_N[i]), float(param_norm_N[i])
  raise NonFiniteLossError(
      f"non-finite {'loss' if not math.isfinite(loss) else 'parameters'}{_of_seed(seeds, i)} "
      f"(loss {loss}, parameter norm {pnorm}) at step {step}; stopping without saving. "
      + remedy_text())


class DivergenceWatch:
  """Stops a run whose loss diverged but stayed finite (NaN is `check_finite`'s).

  A seed's log window is "above" when its mean loss exceeds 2x the task's
  uniform-distribution loss (`Task.uniform_loss`: what predicting every outcome as equally
  likely costs, ln V per token for V classes), or, for tasks without one, 10x the loss of
  the run's first step (the untrained model's, kept in the checkpoints). Healthy training
  stays below both. Diverged: `WINDOWS` windows above in a row, or one when training ends
  (at its last step, the time budget or an early stop). While the newest window is above,
  nothing is saved (`suspect`).
  """
  UNIFORM_FACTOR, FIRST_STEP_FACTOR, WINDOWS = 2.0, 10.0, 3

  def __init__(self, uniform_loss: float | None, first_loss: list[float] | None = None):
    self.uniform, self.first_loss, self.count = uniform_loss, first_loss, 0
    self._newest = None  # the newest complete window's mean loss [N]

  def first_step(self, loss_N):
    """The first step's loss: the reference of tasks without a uniform loss."""
    if self.uniform is None and self.first_loss is None:
      self.first_loss = [float(x) for x in loss_N]

  def _threshold(self):
    if self.uniform is not None:
      return self.UNIFORM_FACTOR * self.uniform, (
          f"{self.UNIFORM_FACTOR:g}x the uniform-distribution loss {self.uniform:.4g}")
    if self.first_loss is not None:
      return self.FIRST_STEP_FACTOR * np.asarray(self.first_loss), (
          f"{self.FIRST_STEP_FACTOR:g}x the first step's loss")
    return None, ""

  def _above(self, loss_N):
    limit, _ = self._threshold()
    return None if limit is None else np.asarray(loss_N > limit)

  def suspect(self, partial_loss_N=None) -> bool:
    """Whether the newest complete window, or the steps since (`partial_loss_N`), are above."""
    above = None if partial_loss_N is None else self._above(partial_loss_N)
    return self.count > 0 or bool(above is not None and above.any())

  def check(self, loss_N, step: int, seeds, *, remedy_text, complete: bool = True,
            last: bool = False):
    """Counts a complete window's mean loss (`complete`; else `loss_N` is the mean of the
    steps since the newest window, or None: there were none). Raises DivergedError after
    `WINDOWS` windows above in a row or, at the end of training (`last`), one."""
    above = None if loss_N is None else self._above(loss_N)
    hit = above is not None and bool(above.any())
    if complete:
      self.count, self._newest = (self.count + 1 if hit else 0), loss_N
    if not (self.count >= self.WINDOWS or (last and (hit or self.count))):
      return
    loss_N = loss_N if hit else self._newest
    i = int(np.argmax(self._above(loss_N)))
    limit, what = self._threshold()
    raise DivergedError(
        f"training diverged{_of_seed(seeds, i)}: loss {float(loss_N[i]):.4g} at step {step}, "
        f"above {what} ({float(np.broadcast_to(limit, np.shape(loss_N))[i]):.4g}) in "
        f"{max(self.count, 1)} log window(s) in a row; stopping without saving. "
        + remedy_text())


def early_stop(history, select_by: str, mode: str, patience: int) -> str | None:
  """Stops after `patience` evaluations without a better (mean over seeds) score."""
  if not patience:
    return None
  scores = [float(np.mean([r[select_by] for r in h["per_seed"]])) for h in history]
  best = max(scores) if mode == "max" else min(scores)
  since = len(scores) - 1 - min(i for i, s in enumerate(scores) if s == best)  # ties: no gain
  if since >= patience:
    return (f"early stopping: validation {select_by} has not improved for {since} "
            "evaluations")
  return None


def is_better(score: float, best: tuple[int, float] | None, mode: str) -> bool:
  """Whether `score` replaces the best (step, score): strictly better, so that of equal
  scores the first stays best."""
  return best is None or (score > best[1] if mode == "max" else score < best[1])


def best_of(history, select_by: str, mode: str) -> tuple[int, float] | None:
  """(step, mean score over seeds) of the best evaluation in `history`."""
  best = None
  for h in history:
    score = float(np.mean([r[select_by] for r in h["per_seed"]]))
    if is_better(score, best, mode):
      best = (h["step"], score)
  return best

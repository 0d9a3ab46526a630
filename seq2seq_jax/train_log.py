"""The training log in ``metrics.jsonl``: one ``train`` record per log window, written so
that a resumed run's log equals the uninterrupted run's, line for line.

Two things make that so: on resume, `truncate` drops every record after the restored
step (they are recomputed) and the final scores (written again at the end); and the
partial window (the sums of the steps since the last record) is saved with every
checkpoint (`LogWindow.state`), so the first record after a resume averages the same
steps as the uninterrupted run's. Only ``<weight>_per_sec`` (e.g. ``tokens_per_sec``)
differs: it measures the time since the last record or, after a resume, since the resume.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

# Per-step metrics that are not averaged over the window (the last value is logged, or
# they only drive the NaN stop and the throughput).
NOT_AVERAGED = ("grad_norm", "param_norm", "weight")


def truncate(path: str, step: int):
  """Keeps the records of `path` up to `step` (0: none), without the final scores; a
  line cut short by a kill goes too."""
  if not os.path.exists(path):
    return
  keep = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        record = json.loads(line)
      except json.JSONDecodeError:
        continue
      if record["step"] <= step and not record["split"].startswith("final_"):
        keep.append(line.rstrip("\n") + "\n")
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.writelines(keep)
  os.replace(tmp, path)


class LogWindow:
  """The training metrics [K, N] of the steps since the last record: float64 sums per
  seed, the number of steps, the total loss weight and the last gradient norm."""

  def __init__(self, state: dict | None = None):
    state = state or {}
    self.n = int(state.get("n", 0))
    self.sums = ({k: np.asarray(v, np.float64) for k, v in state["sums"].items()}
                 if self.n else None)
    self.grad_norm = np.asarray(state["grad_norm"], np.float32) if self.n else None
    self.t, self.weight = time.time(), 0.0

  def state(self) -> dict:
    """JSON for the checkpoint's trainer item (floats round-trip exactly)."""
    if not self.n:
      return {}
    return {"n": self.n, "sums": {k: v.tolist() for k, v in self.sums.items()},
            "grad_norm": self.grad_norm.tolist()}

  def add(self, metrics: dict, count_metric: str | None = None):
    """Adds K steps' metrics [K, N]. `count_metric`: see ``Task.count_metric``."""
    sums = {k: v.astype(np.float64).sum(0) for k, v in metrics.items()
            if k not in NOT_AVERAGED and k != count_metric}
    self.sums = sums if self.sums is None else {k: self.sums[k] + v for k, v in sums.items()}
    self.n += metrics["weight"].shape[0]
    # Every seed sees the same batch: the pace through the data is seed 0's.
    counted = metrics["weight"] * (metrics[count_metric] if count_metric else 1.0)
    self.weight += float(counted[:, 0].sum())
    self.grad_norm = metrics["grad_norm"][-1]

  def means(self) -> dict:
    """Per-seed means [N] of the window's metrics."""
    return {k: v / self.n for k, v in self.sums.items()}

  def reset(self):
    self.n, self.sums, self.grad_norm = 0, None, None
    self.t, self.weight = time.time(), 0.0


def record(window: LogWindow, step: int, task, schedule, multi: bool) -> dict:
  """The ``train`` record of a complete window."""
  means_N = window.means()
  rec = {k: float(v.mean()) for k, v in means_N.items()}
  rec.update(task.train_log(rec))
  if task.weight_name:
    rec[f"{task.weight_name}_per_sec"] = window.weight / max(time.time() - window.t, 1e-9)
  rec.update(learning_rate=float(schedule(step - 1)), grad_norm=float(window.grad_norm.mean()))
  if multi:
    rec.update({f"{k}_per_seed": [float(x) for x in v] for k, v in means_N.items()})
    rec["grad_norm_per_seed"] = [float(x) for x in window.grad_norm]
  return rec

"""Training logs: TensorBoard events and one JSON line per record in ``metrics.jsonl``."""
from __future__ import annotations

import json
import os


class MetricsWriter:
  """TensorBoard events + one JSON line per record in workdir/metrics.jsonl.

  A list value (``<name>_per_seed`` of a multi-seed run) is one TensorBoard
  scalar per seed, ``<split>/<name>/seed<seed>``, and a list in the JSON line.
  """

  def __init__(self, workdir: str, seeds: list[int] = (0,)):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.tb = SummaryWriter(os.path.join(workdir, "tb"))
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.seeds = list(seeds)

  def write(self, step: int, split: str, metrics: dict):
    for k, v in metrics.items():
      if isinstance(v, (list, tuple)):
        for seed, x in zip(self.seeds, v):
          self.tb.add_scalar(f"{split}/{k.removesuffix('_per_seed')}/seed{seed}", x, step)
      elif isinstance(v, (int, float)):
        self.tb.add_scalar(f"{split}/{k}", v, step)
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
    self.tb.flush()

  def close(self):
    self.tb.close()

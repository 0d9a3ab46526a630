"""A run directory -> its task's predictor: ``load_predictor(workdirs, checkpoint)``.

A run directory holds everything inference needs: the checkpoint's parameters, its
``meta`` (task, model config, training config, number of seeds) and its ``assets`` (the
files fitted on the training split, e.g. tokenizers). ``checkpoint`` is one of

* ``best``: ``best/`` (the best checkpoint by the task's selection metric);
* ``last``: the newest of ``checkpoints/``;
* ``avg``: ``averaged/``, what ``python -m seq2seq_jax.average`` wrote (the mean of the
  parameters of the newest checkpoints).

Several workdirs make an ensemble (same task, architecture and assets). A multi-seed run
(params stacked on a leading seed axis) predicts as the ensemble of its seeds, or as seed
``config.seed + i`` alone with ``seed_index=i``. The task (``Task.predictor``) turns the
member parameters into its predictor; for translation a ``Translator``.
"""
from __future__ import annotations

import os
import tempfile

import jax
import jax.numpy as jnp

from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax.decoding import ensemble as ens_lib
from seq2seq_jax import tasks

CHECKPOINTS = {"best": "best", "last": "checkpoints", "avg": "averaged"}


def checkpoint_dir(workdir: str, checkpoint: str) -> str:
  """The directory of `checkpoint` (best | last | avg) in a run directory."""
  if checkpoint not in CHECKPOINTS:
    raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"run directory {workdir} does not exist")
  directory = os.path.join(workdir, CHECKPOINTS[checkpoint])
  if not os.path.isdir(directory) or not [d for d in os.listdir(directory) if d.isdigit()]:
    hint = (f"; write it with: python -m seq2seq_jax.average --workdir={workdir}"
            if checkpoint == "avg" else "")
    raise FileNotFoundError(f"no {checkpoint!r} checkpoint in {directory}{hint}")
  return directory


def stored_params(workdir: str, checkpoint: str = "best", seed_index: int | None = None):
  """(params, meta, assets) of a run's checkpoint; a multi-seed run's params keep their
  seed axis unless `seed_index` picks one seed."""
  params, meta, assets, _ = ckpt_lib.restore_for_inference(checkpoint_dir(workdir, checkpoint))
  if seed_index is None:
    return params, meta, assets
  n = ckpt_lib.num_seeds(meta)
  if not 0 <= seed_index < n:
    raise ValueError(f"seed_index={seed_index} is out of range: {workdir} trained {n} seed(s)")
  return (params if n == 1 else jax.tree.map(lambda x: x[seed_index], params)), meta, assets


def run_config(workdir: str, checkpoint: str = "best") -> dict:
  """The training config (as a dict) stored with a run's checkpoint."""
  return stored_params(workdir, checkpoint)[1].get("config", {})


def _members(params, meta: dict, seed_index: int | None) -> list:
  """The parameter sets one run adds: each seed of a multi-seed run (unless seed_index
  picked one), else its params."""
  if ckpt_lib.num_seeds(meta) > 1 and seed_index is None:
    return ens_lib.unstack_params(params)
  return [params]


def load_predictor(workdirs: list[str] | str, checkpoint: str = "best",
                   seed_index: int | None = None):
  """The predictor of one run, or of the ensemble of several runs and of all seeds of
  multi-seed runs; `seed_index` i takes only seed config.seed + i of each run."""
  workdirs = [workdirs] if isinstance(workdirs, str) else list(workdirs)
  if not workdirs:
    raise ValueError("no run directory given")
  loaded = [stored_params(w, checkpoint, seed_index) for w in workdirs]
  meta0 = loaded[0][1]
  for (_, meta, _), w in zip(loaded[1:], workdirs[1:]):
    ckpt_lib.check_compatible(meta, meta0, where=f"ensemble member {w}")
  task = tasks.get(meta0.get("task", "translation"))
  members = [jax.tree.map(jnp.asarray, member) for run_params, meta, _ in loaded
             for member in _members(run_params, meta, seed_index)]
  # Asset files (tokenizers) are read into memory, so nothing is left in /tmp.
  with tempfile.TemporaryDirectory(prefix="seq2seq_assets_") as asset_dir:
    paths = ckpt_lib.write_assets(loaded[0][2], asset_dir)
    return task.predictor(meta0, members, paths)

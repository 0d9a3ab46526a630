"""Orbax checkpoints: the training state, the data iterator, the config and tokenizer.

Layout under the workdir::

  checkpoints/<step>/   the last `keep` checkpoints
  best/<step>/          the single best checkpoint by the task's selection metric

Each checkpoint holds these items: ``state`` (step, params, optimizer state),
``data`` (the grain iterator's position; absent for batches generated in the step),
``meta`` (the task, the run's config, the model config, the sha256 of every asset file
and ``num_seeds``), ``assets`` (the files fitted on the training split -- tokenizers --
base64, so a checkpoint directory is self-contained for inference) and ``trainer``
(the evaluation history, so early stopping, "solved at step" and the best step resume
exactly, and the partial log window). A multi-seed run (``num_seeds`` N > 1) stores
params and optimizer state with a leading seed axis N; checkpoints without
``num_seeds`` in their meta are single-seed.

Training saves and resumes through ``checkpointer.Checkpointer`` (which also recovers
from crashes and corrupt files); this module has the format, the compatibility checks,
and the inference-side reads (``restore_for_inference``, ``average_checkpoints``).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

from seq2seq_jax.averaging import AVERAGED


class CheckpointMismatchError(ValueError):
  """A checkpoint belongs to a different model or tokenizer than this run."""


def training_manager(directory: str, keep: int) -> ocp.CheckpointManager:
  """The manager of checkpoints/ or best/ (all items; the newest `keep` kept)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(
      os.path.abspath(directory), options=options,
      item_handlers={"state": ocp.StandardCheckpointHandler(),
                     "data": grain.checkpoint.CheckpointHandler(),
                     "meta": ocp.JsonCheckpointHandler(),
                     "assets": ocp.JsonCheckpointHandler(),
                     "trainer": ocp.JsonCheckpointHandler()})


def file_digests(paths: list[str]) -> dict[str, str]:
  return {os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
          for p in sorted(paths)}


def encode_assets(paths: list[str]) -> dict[str, str]:
  """The files of `paths` as the ``assets`` item (name -> base64)."""
  return {os.path.basename(p): base64.b64encode(open(p, "rb").read()).decode("ascii")
          for p in sorted(paths)}


def write_assets(assets: dict[str, str], directory: str) -> list[str]:
  """Writes tokenizer files stored in a checkpoint back to `directory`."""
  os.makedirs(directory, exist_ok=True)
  out = []
  for name, data in assets.items():
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
      f.write(base64.b64decode(data))
    out.append(path)
  return out


# Model fields that change memory use or speed but neither the parameters nor the math:
# a run may resume, or a checkpoint be loaded, with another value (or from a checkpoint
# written before the field existed).
EXECUTION_ONLY_FIELDS = ("remat_chunk", "fused_lstm")


def check_compatible(saved: dict, current: dict, where: str):
  """Refuses a checkpoint made for another task, model config or asset files."""
  a, b = saved.get("task", "translation"), current.get("task", "translation")
  if a != b:
    raise CheckpointMismatchError(f"{where} was made for task {a!r}, not {b!r}. Use a "
                                  "fresh --workdir or the original config.")
  for section in ("model", "assets_sha256"):
    a, b = saved.get(section, {}), current.get(section, {})
    if section == "model":
      a, b = ({k: v for k, v in d.items() if k not in EXECUTION_ONLY_FIELDS} for d in (a, b))
    if a == b:
      continue
    # Only the differing fields; files by the start of their digest (or "absent").
    show = ((lambda v: "absent" if v is None else f"sha256:{v[:12]}")
            if section == "assets_sha256" else repr)
    diffs = [f"{k}: checkpoint={show(a.get(k))} vs run={show(b.get(k))}"
             for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    raise CheckpointMismatchError(
        f"{where} was made with a different {section.replace('_sha256', ' (tokenizer) files')}: "
        + "; ".join(diffs) + ". Use a fresh --workdir or the original config.")


def num_seeds(meta: dict) -> int:
  """How many seeds a checkpoint's state is stacked for (1: no seed axis)."""
  return int(meta.get("num_seeds", 1))


def check_same_num_seeds(saved: dict, current: dict, where: str):
  """Refuses to resume a run with another number of vmapped seeds (params have a
  leading seed axis of that size). Ensembles may mix them, so this is not part of
  check_compatible."""
  a, b = num_seeds(saved), num_seeds(current)
  if a != b:
    raise CheckpointMismatchError(
        f"{where} was made with a different number of seeds: num_seeds: checkpoint={a} vs "
        f"run={b}. Use a fresh --workdir or the original --config.num_seeds.")


def restore_for_inference(directory: str, step: int | None = None):
  """(params, meta, assets, step) of a checkpoint directory, without the optimizer (the
  averaged parameters of an averaging optimizer: ``averaging.py``)."""
  mngr = ocp.CheckpointManager(
      os.path.abspath(directory),
      item_handlers={"state": ocp.StandardCheckpointHandler(),
                     "meta": ocp.JsonCheckpointHandler(),
                     "assets": ocp.JsonCheckpointHandler()})
  step = mngr.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {directory}")
  out = mngr.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore(),
      assets=ocp.args.JsonRestore()))
  state = out["state"]
  # An averaging optimizer's run is evaluated and used with its averaged parameters.
  opt_state = state.get("opt_state")
  params = opt_state[AVERAGED] if isinstance(opt_state, dict) and AVERAGED in opt_state \
      else state["params"]
  return params, out["meta"], out["assets"], step


def to_json(obj) -> Any:
  """ConfigDict / dataclass -> JSON-compatible dict (sorted, for comparisons)."""
  return json.loads(json.dumps(obj, sort_keys=True, default=lambda o: o.to_dict()
                               if hasattr(o, "to_dict") else str(o)))


def average_checkpoints(directory: str, output: str, last: int = 0):
  """Writes the mean parameters of the newest `last` (0: all) checkpoints in
  `directory` as an inference checkpoint under `output`, replacing what an earlier call
  wrote there (so `--last` can be changed and the command rerun). Returns (step, steps).

  The new checkpoint is complete in a sibling directory before it replaces `output`, so
  an interrupted call leaves the previous average in place.
  """
  mngr = ocp.CheckpointManager(os.path.abspath(directory))
  steps = sorted(mngr.all_steps())
  if not steps:
    raise FileNotFoundError(f"no checkpoints to average in {directory}")
  steps = steps[-last:] if last else steps
  loaded = [restore_for_inference(directory, s) for s in steps]
  for _, meta, _, s in loaded[1:]:
    check_compatible(meta, loaded[0][1], where=f"checkpoint step {s}")
  avg = jax.tree.map(lambda *xs: sum(xs) / len(xs), *[l[0] for l in loaded])
  output = os.path.abspath(output)
  staging = f"{output}.writing-{os.getpid()}"
  shutil.rmtree(staging, ignore_errors=True)
  out = ocp.CheckpointManager(staging, options=ocp.CheckpointManagerOptions(
      create=True, enable_async_checkpointing=False))
  meta = dict(loaded[-1][1], averaged_steps=steps)
  out.save(steps[-1], args=ocp.args.Composite(
      state=ocp.args.StandardSave({"params": avg}), meta=ocp.args.JsonSave(meta),
      assets=ocp.args.JsonSave(loaded[-1][2])), force=True)
  out.wait_until_finished()
  out.close()
  if os.path.exists(output):
    old = f"{output}.old-{os.getpid()}"
    os.rename(output, old)
    os.rename(staging, output)
    shutil.rmtree(old)
  else:
    os.rename(staging, output)
  return steps[-1], steps

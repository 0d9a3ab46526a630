"""Saving and resuming a training run's checkpoints, through crashes and corruption.

``Checkpointer`` writes ``checkpoints/<step>`` and ``best/<step>`` (the items and layout
are in ``checkpoints.py``) and restores the newest readable one:

* Orbax writes into ``<step>.orbax-checkpoint-tmp*`` and renames it when complete, so a
  run killed during a save leaves no half checkpoint under a step name; the next start
  removes such leftovers.
* ``best/<step>`` holds the same items as ``checkpoints/<step>`` and is written after it.
  The evaluation history (the ``trainer`` item) is the record of which step is best:
  once a checkpoint's history names step s the best, ``checkpoints/<s>`` exists, and it
  is kept until ``keep`` later checkpoints are complete, long after ``best/<s>`` was
  written. On resume ``reconcile_best`` makes ``best/`` hold exactly the history's best
  step: re-created from ``checkpoints/<s>`` when its write was cut short or it is
  unreadable, leftovers of an interrupted replacement removed.
* Resume reads the newest readable checkpoint of either directory (``best/<s>`` is a
  complete checkpoint too). A step directory that is present but unreadable (disk
  corruption, files deleted by hand) is renamed ``<step>.corrupt-<time>`` -- kept for
  inspection, invisible to orbax -- with a one-line warning (the exception's details
  are logged at debug level), and an earlier one is tried.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import shutil
import sys
import time
import traceback
from typing import Any

import grain
import orbax.checkpoint as ocp
from absl import logging

from seq2seq_jax.checkpoints import (check_compatible, check_same_num_seeds, encode_assets,
                                     training_manager)

TMP_MARK = ".orbax-checkpoint-tmp"  # in the name of a step directory orbax has not committed


def brief(e: BaseException, limit: int = 300) -> str:
  """One line about an exception: the type and first message line of its root cause
  (orbax wraps TensorStore's error -- "byte range [0, 2001) is not valid for value of
  size 100" -- in one whose message is a dozens of lines long spec)."""
  while True:  # down the chain Python prints ("The above exception was the direct cause")
    inner = e.__cause__ if e.__cause__ is not None else (
        None if e.__suppress_context__ else e.__context__)
    if inner is None:
      break
    e = inner
  lines = str(e).strip().splitlines()
  text = f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")
  return text if len(text) <= limit else text[:limit - 3] + "..."


class _FailedReadNoise:
  """Orbax's coroutines cut short by a failed read report their errors to Python's
  unraisable hook when they are collected -- a TensorStore spec dozens of lines long per
  array, on stderr. Those still running when the read raised finish on orbax's threads
  and are collected later, so after the first failure TensorStore's reports go to the
  debug log until `stop` (the Checkpointer's close); while a read is attempted, all do."""

  def __init__(self):
    self.previous, self.reading = None, False

  def _hook(self, u):
    if self.reading or (u.exc_value is not None and "TensorStore" in str(u.exc_value)):
      logging.debug("After a failed checkpoint read: %s",
                    brief(u.exc_value) if u.exc_value else u.err_msg)
    else:
      self.previous(u)

  @contextlib.contextmanager
  def attempt(self):
    """Around one read; the caller appends to the yielded list when the read failed."""
    started, failed = self.previous is None, []
    if started:
      self.previous, sys.unraisablehook = sys.unraisablehook, self._hook
    self.reading = True
    try:
      yield failed
    finally:
      if failed:
        gc.collect()
      self.reading = False
      if started and not failed:
        self.stop()

  def stop(self):
    if self.previous is None:
      return
    gc.collect()
    if sys.unraisablehook == self._hook:  # not replaced by someone else since
      sys.unraisablehook = self.previous
    self.previous = None


class _DataProbe:
  """Receives a checkpoint's data item in place of the iterator, to check it is readable
  without moving the iterator (grain's handler calls these two)."""

  def set_state(self, state: bytes):
    json.loads(state)

  def start_prefetch(self):
    pass


@dataclasses.dataclass
class Restored:
  """What `Checkpointer.restore_latest` found: the state (None: start afresh), its step,
  the trainer item, where it came from, and the directories it set aside."""
  state: Any = None
  step: int | None = None
  trainer: dict = dataclasses.field(default_factory=dict)
  where: str | None = None
  set_aside: list[str] = dataclasses.field(default_factory=list)


class Checkpointer:
  """Saves and restores runs in `workdir`: the last `keep` checkpoints, and the best one.
  `data`: whether checkpoints hold a data iterator. Which step is best is the caller's
  decision (from the evaluation history, see `save` and `reconcile_best`)."""

  def __init__(self, workdir: str, *, keep: int = 3, data: bool = True):
    self.has_data, self._lost = data, set()
    self.set_aside: list[str] = []  # unreadable step directories renamed by this object
    self._noise = _FailedReadNoise()
    for name in ("checkpoints", "best"):
      _remove_unfinished(os.path.join(workdir, name))
    self.last = training_manager(os.path.join(workdir, "checkpoints"), keep)
    self.best = training_manager(os.path.join(workdir, "best"), 1)

  def _where(self, mngr, step) -> str:
    return f"{'best' if mngr is self.best else 'checkpoints'}/{step}"

  def _path(self, mngr, step) -> str:
    return os.path.join(str(mngr.directory), str(step))

  def save(self, step: int, state: Any, data_iter, meta: dict, asset_paths: list[str], *,
           trainer: dict, best: bool = False):
    """Saves to `checkpoints/`, then (`best`) to `best/`, replacing the previous best.
    `data_iter` None: the batches need no state (generated from the step)."""
    items = dict(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta),
                 assets=ocp.args.JsonSave(encode_assets(asset_paths)),
                 trainer=ocp.args.JsonSave(trainer))
    if data_iter is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iter)
    args = ocp.args.Composite(**items)
    self.last.save(step, args=args, force=True)
    self.last.wait_until_finished()
    if best:
      self.best.save(step, args=args, force=True)
      self.best.wait_until_finished()

  def _read(self, mngr, step: int, abstract_state: Any) -> dict:
    """Every item of a checkpoint (the data item into a probe): raises if any is unreadable."""
    items = dict(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore(),
                 assets=ocp.args.JsonRestore(), trainer=ocp.args.JsonRestore())
    if self.has_data:
      items["data"] = grain.checkpoint.CheckpointRestore(_DataProbe())
    restored = mngr.restore(step, args=ocp.args.Composite(**items))
    mngr.item_metadata(step)  # what a restore without a target (inference) reads besides
    return restored

  def _attempt(self, mngr, step: int, read, then: str):
    """`read()`'s result; None when it fails: the step directory is then set aside with a
    one-line warning (`then`: what happens next), its path added to `self.set_aside`."""
    with self._noise.attempt() as failed:
      try:
        return read()
      except Exception as e:  # pylint: disable=broad-except
        failed.append(True)  # not e: its traceback holds the coroutines to collect
        where, src = self._where(mngr, step), self._path(mngr, step)
        dst = f"{src}.corrupt-{int(time.time())}"
        while os.path.exists(dst):
          dst += "x"
        os.rename(src, dst)
        mngr.reload()
        self.set_aside.append(dst)
        logging.warning("Unreadable checkpoint %s (%s): moved it to %s; %s.", where, brief(e),
                        dst, then)
        logging.debug("Why %s is unreadable:\n%s", where, "".join(traceback.format_exception(e)))
        return None

  def restore_latest(self, abstract_state: Any, data_iter, meta: dict) -> Restored:
    """Restores the newest readable checkpoint of `checkpoints/` or `best/` (same step:
    `checkpoints/`) into `data_iter` and a new state.

    Unreadable checkpoints are set aside; a checkpoint whose task, model config, assets
    or number of seeds differs from `meta` raises CheckpointMismatchError naming the field.
    """
    candidates = sorted([(s, 1) for s in self.last.all_steps()] +
                        [(s, 0) for s in self.best.all_steps()], reverse=True)
    for step, in_last in candidates:
      mngr = self.last if in_last else self.best
      where = self._where(mngr, step)
      saved_meta = self._attempt(mngr, step, lambda: _dict(mngr.restore(
          step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]),
                                 "trying an earlier one")
      if saved_meta is None:
        continue
      check_compatible(saved_meta, meta, where=f"checkpoint {where}")
      # Before the state restore: a state stacked for another number of seeds would
      # fail to restore and be mistaken for a corrupt checkpoint.
      check_same_num_seeds(saved_meta, meta, where=f"checkpoint {where}")
      restored = self._attempt(mngr, step, lambda: self._read(mngr, step, abstract_state),
                               "trying an earlier one")
      if restored is None:
        continue
      if data_iter is not None:  # only now: a checkpoint found unreadable leaves it alone
        mngr.restore(step, args=ocp.args.Composite(
            data=grain.checkpoint.CheckpointRestore(data_iter)))
      if not in_last and step not in self.last.all_steps():  # "last" is this state
        self._copy(self.best, self.last, step, "the newest state")
      return Restored(restored["state"], step, restored["trainer"] or {}, where,
                      list(self.set_aside))
    return Restored(set_aside=list(self.set_aside))

  def reconcile_best(self, best_step: int | None, abstract_state: Any,
                     verified: str | None = None):
    """Makes `best/` hold `best_step` (the restored history's best; None: no evaluation
    yet) and nothing else. `verified`: a checkpoint just read whole (not read again)."""
    for step in self.best.all_steps():
      if step != best_step:
        # A best superseded by a later one whose deletion was cut short. (A newer step
        # than the restored one cannot be left: restore_latest restored it or set it aside.)
        self.best.delete(step)
    if best_step is None:
      return
    if best_step in self.best.all_steps() and (
        verified == self._where(self.best, best_step) or self._attempt(
            self.best, best_step, lambda: self._read(self.best, best_step, abstract_state),
            "re-creating it") is not None):
      return
    self._recover_best(best_step, abstract_state)

  def _recover_best(self, step: int, abstract_state: Any) -> bool:
    """Re-creates `best/<step>` from `checkpoints/<step>` (the same items); False with a
    warning when that is gone or unreadable too."""
    if step in self.last.all_steps():
      self._attempt(self.last, step, lambda: self._read(self.last, step, abstract_state),
                    "it cannot replace the best checkpoint")
    if step not in self.last.all_steps():
      if step not in self._lost:  # said once, at resume or at the end
        self._lost.add(step)
        logging.warning("The best checkpoint (step %d) is lost: neither best/%d nor "
                        "checkpoints/%d is readable. Final scores will use the last state.",
                        step, step, step)
      return False
    self._copy(self.last, self.best, step, "the best step so far")
    return True

  def _copy(self, src, dst, step: int, why: str):
    """Copies a step directory between checkpoints/ and best/ (their items are the same)."""
    path = self._path(dst, step)
    tmp = f"{path}{TMP_MARK}-copy"  # removed by the next start if this copy is cut short
    shutil.copytree(self._path(src, step), tmp)
    os.rename(tmp, path)
    dst.reload()
    logging.warning("Re-created %s from %s (%s; %s had no readable copy).",
                    self._where(dst, step), self._where(src, step), why,
                    self._where(dst, step).split("/")[0] + "/")

  def restore_best(self, step: int, abstract_state: Any):
    """The state of the best checkpoint `step`, recovered as in `reconcile_best` if it
    became unreadable since; None (with a warning) when no copy of it is readable."""
    def state():
      return self.best.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state)))["state"]
    if step in self.best.all_steps():
      restored = self._attempt(self.best, step, state, "looking for another copy")
      if restored is not None:
        return restored
    if not self._recover_best(step, abstract_state):
      return None
    return state()  # a copy of a checkpoint that was just read whole

  def newest(self) -> str | None:
    """The path of the newest checkpoint in `checkpoints/` or `best/` (None: none yet)."""
    steps = [(s, 1, self.last) for s in self.last.all_steps()] + [
        (s, 0, self.best) for s in self.best.all_steps()]
    if not steps:
      return None
    step, _, mngr = max(steps, key=lambda x: x[:2])
    return self._path(mngr, step)

  def close(self):
    self.last.close()
    self.best.close()
    self._noise.stop()


def _remove_unfinished(directory: str):
  """Removes step directories whose write was cut short (orbax's and ours)."""
  if not os.path.isdir(directory):
    return
  for name in os.listdir(directory):
    if TMP_MARK in name:
      shutil.rmtree(os.path.join(directory, name))
      logging.info("Removed the unfinished checkpoint %s/%s", directory, name)


def _dict(meta) -> dict:
  """A checkpoint's meta item, which must be a dict (a corrupt one may parse as another)."""
  if not isinstance(meta, dict):
    raise ValueError(f"meta is {type(meta).__name__}, not a dict")
  return meta

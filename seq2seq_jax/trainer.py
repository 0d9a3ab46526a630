"""The one training loop: ``train_and_evaluate(config, workdir)`` for every task.

``config.task`` picks the task (``seq2seq_jax.tasks``); the task builds its data, model and
loss and scores its predictions; this module does the rest, the same way for all of them:
the jitted, state-donating step (``steps.py``: accumulation, multi-seed vmap,
``steps_per_call`` updates per compiled call), data parallelism over the device mesh,
orbax checkpoints with exact resume (data iterator, evaluation history and partial log
window included; a killed or corrupted run resumes to the uninterrupted run's result and
log, see ``checkpointer.py`` and ``train_log.py``), the best checkpoint by the task's
selection metric, early stopping, the NaN and divergence stops (``stops.py``), the time
budget, TensorBoard and JSONL logs and the progress bar.

PRNG: ``jax.random.key(seed)`` is split once into an init key and a dropout key; step
``s`` uses ``fold_in(dropout_key, s)``. Multi-seed runs (``num_seeds`` N > 1) train seeds
``seed .. seed + N - 1`` at once on the same batches (order from ``data_seed``, default
``seed``); the mean over seeds selects the best checkpoint and drives early stopping.
"""
from __future__ import annotations

import contextlib
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from absl import logging

from seq2seq_jax.config_base import ConfigError
from seq2seq_jax import averaging
from seq2seq_jax import checkpointer as checkpointer_lib
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import optimizer as opt_lib
from seq2seq_jax import parallel
from seq2seq_jax import steps as steps_lib
from seq2seq_jax import stops
from seq2seq_jax import tasks as tasks_lib
from seq2seq_jax import train_log
from seq2seq_jax.metrics_writer import MetricsWriter
# The stops' errors are part of this module's interface (callers catch them from here).
from seq2seq_jax.stops import (DivergedError, NonFiniteLossError,  # pylint: disable=unused-import
                               check_finite)


def seeds_of(config) -> list[int]:
  """The seeds a run trains: config.seed, ..., config.seed + num_seeds - 1."""
  n = int(config.get("num_seeds", 1))
  if n < 1:
    raise ConfigError(f"num_seeds must be >= 1, got {n}")
  return [int(config.seed) + i for i in range(n)]


def data_seed_of(config) -> int:
  """The seed of the batch order: data_seed when set, else seed."""
  seed = config.get("data_seed")
  return int(config.seed if seed is None else seed)


def _check_config(config, task) -> None:
  """Trainer fields; before anything is written."""
  for name in ("num_train_steps", "log_every_steps", "eval_every_steps",
               "checkpoint_every_steps"):
    value = config.get(name)
    if not isinstance(value, int) or value < 1:
      raise ConfigError(f"{name} must be a positive integer, got {value!r}")
  k = config.get("steps_per_call", 1)
  if not isinstance(k, int) or k < 1:
    raise ConfigError(f"steps_per_call must be a positive integer, got {k!r}")
  for name in ("log_every_steps", "eval_every_steps", "checkpoint_every_steps"):
    if config.get(name) % k:
      raise ConfigError(f"{name}={config.get(name)} must be a multiple of steps_per_call={k}: "
                       "logs, evaluations and checkpoints happen between compiled calls")
  final = config.get("final_checkpoint", task.final_checkpoint)
  if final not in ("best", "last"):
    raise ConfigError(f"final_checkpoint must be 'best' or 'last', got {final!r}")
  accum = config.get("grad_accum_steps", 1)
  if not isinstance(accum, int) or accum < 1:
    raise ConfigError(f"grad_accum_steps must be a positive integer, got {accum!r}")
  seeds_of(config)
  task.check_config(config)


def _mean_record(per_seed: list[dict], multi: bool) -> dict:
  """Mean over seeds of every scalar metric (+ ``<k>_per_seed`` lists when N > 1)."""
  rec = {}
  for k in per_seed[0]:
    values = [r[k] for r in per_seed]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
      rec[k] = float(np.mean(values))
      if multi:
        rec[f"{k}_per_seed"] = [float(v) for v in values]
  return rec


class _Batches:
  """Host batches grouped for one compiled call: K consecutive batches of one shape are
  stacked [K, A, B, ...]; otherwise they go one call each."""

  def __init__(self, batches: tasks_lib.HostBatches, mesh, accum: int):
    self.it, self.mesh, self.accum = batches.iterator, mesh, accum

  def _local(self):
    local = next(self.it)
    return {k: v.reshape((self.accum, -1) + v.shape[1:]) for k, v in local.items()
            if k != "index"}

  def take(self, k: int) -> list:
    """[(num_steps, global batch)]: one stacked group, or k single batches."""
    group = [self._local() for _ in range(k)]
    shapes = {tuple((n, v.shape) for n, v in sorted(b.items())) for b in group}
    if k > 1 and len(shapes) == 1:
      stacked = {n: np.stack([b[n] for b in group]) for n in group[0]}
      return [(k, parallel.global_batch(self.mesh, stacked, batch_axis=2))]
    return [(1, parallel.global_batch(self.mesh, b, batch_axis=1)) for b in group]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains `config` (its task: ``config.task``) in `workdir`, resuming from its newest
  checkpoint; returns the task's final metrics (also in ``final_metrics.json``)."""
  task = tasks_lib.get(config.get("task", "translation"))
  _check_config(config, task)
  os.makedirs(workdir, exist_ok=True)
  parallel.initialize_distributed()
  mesh = parallel.make_mesh()
  accum = int(config.get("grad_accum_steps", 1))
  spc = int(config.get("steps_per_call", 1))
  seeds = seeds_of(config)
  multi = len(seeds) > 1  # N == 1 keeps the unstacked state and checkpoint layout

  data = task.build_data(config, workdir)
  model = task.build_model(config, data)
  run = tasks_lib.Run(config, workdir, data, model, seeds)
  meta = {"task": task.name, "model": task.model_meta(model),
          "assets_sha256": ckpt_lib.file_digests(data.assets),
          "config": ckpt_lib.to_json(config.to_dict()), "num_seeds": len(seeds)}

  tx, schedule = opt_lib.make_optimizer(config.optimizer, config.num_train_steps)
  states, dropout_keys = zip(*(steps_lib.init_state(model.init, tx, s) for s in seeds))
  carry = task.init_carry(run)  # a stateful task's carried state (None: stateless)
  if carry is not None:
    states = [st.replace(carry=carry) for st in states]
  if multi:
    state, dropout_key = steps_lib.stack_states(states), jnp.stack(dropout_keys)
  else:
    (state,), (dropout_key,) = states, dropout_keys
  # The initial parameters, for tasks that report on them (state's are donated).
  init_params = lambda: (steps_lib.stack_states(
      [steps_lib.init_state(model.init, tx, s)[0] for s in seeds]).params if multi
                         else steps_lib.init_state(model.init, tx, seeds[0])[0].params)
  state = jax.device_put(state, parallel.replicated(mesh))

  batches = task.train_batches(run, batch_multiple=jax.local_device_count() * accum,
                               shard_index=jax.process_index(),
                               shard_count=jax.process_count())
  data_iter = getattr(batches, "checkpointable", None)
  select_by, mode = task.select_by, task.select_mode
  checkpointer = checkpointer_lib.Checkpointer(
      workdir, keep=config.get("keep_checkpoints", 3), data=data_iter is not None)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
  restored = checkpointer.restore_latest(abstract, data_iter, meta)
  history = list(restored.trainer.get("history", []))
  if restored.state is not None:
    state = jax.device_put(restored.state, parallel.replicated(mesh))
    print(f"Resumed from checkpoint {restored.where} (step {restored.step})", flush=True)
  elif restored.set_aside:
    logging.warning("No readable checkpoint in %s (set aside: %s); training starts again "
                    "from step 0.", workdir, ", ".join(restored.set_aside))
  # The history decides which step is best; best/ is made to hold it (see checkpointer.py).
  best = stops.best_of(history, select_by, mode)
  checkpointer.reconcile_best(best and best[0], abstract, verified=restored.where)
  # What the steps after the restored one logged is logged again.
  train_log.truncate(os.path.join(workdir, "metrics.jsonl"), restored.step or 0)
  window = train_log.LogWindow(restored.trainer.get("log_window"))
  watch = stops.DivergenceWatch(task.uniform_loss(run), restored.trainer.get("first_loss"))
  remedy = lambda: stops.remedy(config, checkpointer.newest())
  diverged = lambda: stops.remedy(config, checkpointer.newest(), diverged=True)
  n_params = sum(x.size for x in jax.tree.leaves(states[0].params))
  print(f"Task {task.name}: {n_params / 1e6:.2f}M parameters; {jax.device_count()} device(s)"
        + (f"; {len(seeds)} seeds {seeds[0]}..{seeds[-1]} vmapped" if multi else ""),
        flush=True)

  if carry is None:
    loss_fn = lambda params, mb, key: task.loss(run, params, mb, key)
  else:
    loss_fn = lambda params, mb, key, c: task.loss(run, params, mb, key, c)
  step_fn = steps_lib.make_step(loss_fn=loss_fn, tx=tx, dropout_key=dropout_key,
                                num_seeds=len(seeds))
  generate = getattr(batches, "generate", None)
  calls = {}

  def call(k):  # one compiled program per number of steps per call
    if k not in calls:
      calls[k] = steps_lib.make_call(step_fn, num_steps=k, generate=generate, accum=accum)
    return calls[k]

  host = None if generate is not None else _Batches(batches, mesh, accum)
  writer = MetricsWriter(workdir, seeds)

  def evaluate(step, split, params, final=False):
    per_seed = task.evaluate(run, params, split, step=step, final=final)
    if per_seed is None:
      return None
    writer.write(step, split if not final else f"final_{split}", _mean_record(per_seed, multi))
    return per_seed

  step = int(state.step)
  total = config.num_train_steps
  bar = tqdm.tqdm(total=total, initial=step, desc="train", dynamic_ncols=True,
                  disable=not config.get("progress_bar", True))
  budget_s = 60.0 * config.get("train_time_budget_minutes", 0)
  t_start = time.time()
  patience = config.get("early_stopping_patience", 0)
  try:
    while step < total:
      k = min(spc, total - step)
      groups = [(k, None)] if host is None else host.take(k)
      for n, batch in groups:
        state, metrics = call(n)(state, batch) if batch is not None else call(n)(state)
        metrics = jax.tree.map(lambda x: np.asarray(x).reshape(n, -1), metrics)  # [K, N]
        loss_key = _loss_key(metrics, task)
        for j in range(n):
          check_finite(metrics[loss_key][j], metrics["param_norm"][j], seeds, step + j + 1,
                       remedy)
        if step == 0:
          watch.first_step(metrics[loss_key][0])
        window.add(metrics, task.count_metric)
        step += n
        bar.update(n)
      if step % config.log_every_steps == 0 or step == total:
        loss_N = window.means()[loss_key]
        _log(writer, window, step, task, schedule, multi, bar, budget_s, t_start)
        watch.check(loss_N, step, seeds, last=step == total, remedy_text=diverged)
      out_of_time = budget_s > 0 and time.time() - t_start > budget_s
      if out_of_time:
        tqdm.tqdm.write(f"Time budget of {budget_s / 60:.1f} min reached at step {step}.")
      is_eval = step % config.eval_every_steps == 0 or step == total or out_of_time
      is_ckpt = step % config.checkpoint_every_steps == 0 or step == total or out_of_time
      partial_N = window.means()[loss_key] if window.n else None  # since the newest record
      suspect = watch.suspect(partial_N)
      is_best, stop = False, None
      if is_eval:  # the mean over seeds picks the best checkpoint and drives early stopping
        per_seed = evaluate(step, task.eval_split, averaging.params_for_evaluation(state))
        if per_seed is not None:
          history.append({"step": step, "per_seed": per_seed})
          if averaging.should_start(config.optimizer, state.opt_state, history, select_by,
                                    mode):
            state = state.replace(opt_state=averaging.start_at(state.opt_state, step + 1))
            tqdm.tqdm.write(f"Step {step}: validation {select_by} is worse than "
                            f"{config.optimizer.get('nonmono', 5)} evaluations ago: "
                            "averaging the weights from here on (NT-ASGD).")
          score = float(np.mean([r[select_by] for r in per_seed]))
          is_best = not suspect and stops.is_better(score, best, mode)
          if is_best:
            best = (step, score)
          stop = task.should_stop(run, history) or stops.early_stop(history, select_by, mode,
                                                                    patience)
      if (is_ckpt or is_eval) and suspect:
        tqdm.tqdm.write(f"Step {step} not saved: the training loss is above the divergence "
                        "threshold.")
      elif is_ckpt or is_eval:
        checkpointer.save(step, state, data_iter, meta, data.assets, best=is_best,
                          trainer={"history": history, "log_window": window.state(),
                                   "first_loss": watch.first_loss})
      if stop:
        tqdm.tqdm.write(f"Stopping at step {step}: {stop}")
      if out_of_time or stop:
        if suspect:  # not a state to score
          watch.check(partial_N, step, seeds, complete=False, last=True, remedy_text=diverged)
        break
  except BaseException:
    with contextlib.suppress(Exception):  # the error that stopped the run is the one to see
      checkpointer.close()
    raise
  finally:
    bar.close()
    writer.close()
    batches.close()

  # Final scores: the best checkpoint by the selection metric (else the last state;
  # always the last with final_checkpoint="last", to compare runs after equal steps).
  final_params, checkpoint = averaging.params_for_evaluation(state), f"last (step {step})"
  if (config.get("final_checkpoint", task.final_checkpoint) == "best" and best is not None
      and best[0] != step):
    best_state = checkpointer.restore_best(best[0], abstract)
    if best_state is not None:
      final_params = averaging.params_for_evaluation(best_state)
      checkpoint = f"best (step {best[0]})"
    else:
      checkpoint += f"; the best (step {best[0]}) is lost"
  evals = {split: evaluate(step, split, final_params, final=True)
           for split in task.final_splits}
  final = task.final_metrics(run, evals, step=step, checkpoint=checkpoint, history=history,
                             init_params=init_params, final_params=final_params)
  path = os.path.join(workdir, "final_metrics.json")
  with open(f"{path}.tmp", "w") as f:  # never a half-written file under the final name
    json.dump(final, f, indent=2)
  os.replace(f"{path}.tmp", path)
  checkpointer.close()
  return final


def _loss_key(metrics: dict, task) -> str:
  """The metric the NaN and divergence stops watch: the task's first (its loss)."""
  return next(k for k in metrics if k not in train_log.NOT_AVERAGED and k != task.count_metric)


def _log(writer, window, step, task, schedule, multi, bar, budget_s, t_start):
  rec = train_log.record(window, step, task, schedule, multi)
  writer.write(step, "train", rec)
  loss_key = next(iter(window.sums))
  postfix = {"loss": f"{rec[loss_key]:.3f}"}
  if task.weight_name:
    postfix[f"{task.weight_name[:3]}_s"] = f"{rec[f'{task.weight_name}_per_sec']:.0f}"
  if budget_s > 0:  # the step-based ETA is meaningless under a time budget
    left = max(0.0, budget_s - (time.time() - t_start))
    postfix["budget_left"] = f"{int(left // 60)}:{int(left % 60):02d}"
  bar.set_postfix(**postfix)
  window.reset()

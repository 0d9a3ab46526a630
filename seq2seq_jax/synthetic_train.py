"""Training on the long-time-lag tasks: ``train_and_evaluate(config, workdir)``.

N seeds of one config train at once: parameters and optimizer states are
stacked along a leading seed axis and the update is ``jax.vmap``-ed over it.
All seeds see the same batches, drawn inside the jitted step from
``fold_in(data_key, step)``; seed ``s`` initialises from
``split(key(s))[0]``, exactly as a run with ``num_seeds=1, seed=s,
data_seed=<same>`` would, so each vmapped seed equals its solo run.

Each compiled call runs ``log_every_steps`` updates in one ``lax.scan``: the
models are tiny and per-call dispatch would otherwise dominate on CPU.

Results (``workdir/final_metrics.json``), per seed: the test error rate on a
fixed test set (H&S 1997 used 2560 sequences), the number of wrong outputs,
the mean squared error, the first evaluation step (and number of training
sequences) at which the error rate fell to ``solved_error_rate``, and the
hidden-state gradient norms ||dL/dh_t|| by time lag at initialisation and at
the end.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from seq2seq_jax import sequence_model as sm
from seq2seq_jax.data import synthetic


@flax.struct.dataclass
class State:
  step: jax.Array        # [N]
  params: Any            # leaves [N, ...]
  opt_state: Any
  solved_step: jax.Array  # [N]; -1 until the error rate first reaches the target


def model_config(config) -> sm.SequenceModelConfig:
  task = config.synthetic.task
  head = "regression" if task == "adding" else "classification"
  return sm.SequenceModelConfig(
      cell=config.model.cell, input_dim=synthetic.input_dim(task),
      hidden_dim=config.model.hidden_dim, output_dim=synthetic.output_dim(task), head=head,
      num_layers=config.model.get("num_layers", 1),
      forget_bias=config.model.get("forget_bias", 1.0))


def seeds_of(config) -> list[int]:
  n = int(config.get("num_seeds", 1))
  if n < 1:
    raise ValueError(f"num_seeds must be >= 1, got {n}")
  return [int(config.seed) + i for i in range(n)]


def data_key(config):
  seed = config.get("data_seed")
  return jax.random.split(jax.random.key(config.seed if seed is None else seed))[1]


def init_state(config, mcfg, tx) -> State:
  keys = jnp.stack([jax.random.split(jax.random.key(s))[0] for s in seeds_of(config)])
  params = jax.vmap(lambda k: sm.init(mcfg, k))(keys)
  n = keys.shape[0]
  return State(jnp.zeros((n,), jnp.int32), params, jax.vmap(tx.init)(params),
               jnp.full((n,), -1, jnp.int32))


def make_train_chunk(config, mcfg, tx, num_steps: int):
  """state -> (state, per-seed mean loss over `num_steps` updates)."""
  task, T, B = config.synthetic.task, config.synthetic.seq_len, config.batch_size
  dkey = data_key(config)

  def loss(params, x, lengths, y):
    return sm.loss_fn(mcfg, sm.apply(mcfg, params, x, lengths), y).mean()

  def one_seed(params, opt_state, x, lengths, y):
    l, g = jax.value_and_grad(loss)(params, x, lengths, y)
    updates, opt_state = tx.update(g, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, l

  def body(state: State, _):
    x, lengths, y = synthetic.make_batch(task, jax.random.fold_in(dkey, state.step[0]), B, T)
    params, opt_state, l = jax.vmap(one_seed, in_axes=(0, 0, None, None, None))(
        state.params, state.opt_state, x, lengths, y)
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), l

  def chunk(state):
    state, losses_KxN = jax.lax.scan(body, state, None, length=num_steps)
    return state, losses_KxN.mean(0)
  return jax.jit(chunk, donate_argnums=0)


def test_set(config):
  sc = config.synthetic
  return synthetic.make_batch(sc.task, jax.random.key(sc.get("test_seed", 1234)),
                              sc.get("test_size", 2560), sc.seq_len)


def make_eval(config, mcfg):
  """params_N -> (error rate_N, mse or cross-entropy_N) on the fixed test set."""
  x, lengths, y = test_set(config)
  thr = config.synthetic.get("error_threshold", synthetic.ERROR_THRESHOLD)

  @jax.jit
  def ev(params):
    def one(p):
      out = sm.apply(mcfg, p, x, lengths)
      return sm.errors(mcfg, out, y, thr).mean(), sm.loss_fn(mcfg, out, y).mean()
    return jax.vmap(one)(params)
  return ev


def grad_norms(config, mcfg, params):
  """[N, L] hidden-state gradient norms by time lag on a fixed batch."""
  sc = config.synthetic
  x, lengths, y = synthetic.make_batch(sc.task, jax.random.key(sc.get("test_seed", 1234) + 1),
                                       sc.get("grad_norm_batch", 256), sc.seq_len)
  fn = jax.jit(jax.vmap(lambda p: sm.hidden_grad_norms(mcfg, p, x, lengths, y)))
  return np.asarray(fn(params))


def _check_config(config):
  sc = config.synthetic
  if sc.task not in synthetic.TASKS:
    raise ValueError(f"synthetic.task must be one of {synthetic.TASKS}, got {sc.task!r}")
  for name in ("num_train_steps", "eval_every_steps", "log_every_steps", "batch_size"):
    if int(config.get(name)) < 1:
      raise ValueError(f"{name} must be >= 1, got {config.get(name)}")
  if config.eval_every_steps % config.log_every_steps:
    raise ValueError(f"eval_every_steps ({config.eval_every_steps}) must be a multiple of "
                     f"log_every_steps ({config.log_every_steps})")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains `num_seeds` seeds of a long-lag task at once; resumes from workdir."""
  from seq2seq_jax import train as train_lib  # pylint: disable=g-import-not-at-top
  _check_config(config)
  os.makedirs(workdir, exist_ok=True)
  mcfg = model_config(config)
  tx, _ = train_lib.make_optimizer(config.optimizer, config.num_train_steps)
  state = init_state(config, mcfg, tx)
  init_norms = grad_norms(config, mcfg, state.params)

  ckpt_every = int(config.get("checkpoint_every_steps", 0))
  manager = ocp.CheckpointManager(
      os.path.abspath(os.path.join(workdir, "checkpoints")),
      options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))
  meta = {"config": config.to_dict()}
  meta_path = os.path.join(workdir, "run_config.json")
  if manager.latest_step() is not None:
    with open(meta_path) as f:
      saved = json.load(f)["config"]
    for key in ("synthetic", "model", "num_seeds", "seed", "batch_size", "optimizer"):
      if json.dumps(saved.get(key), sort_keys=True) != json.dumps(meta["config"].get(key),
                                                                  sort_keys=True, default=str):
        raise ValueError(f"{workdir} holds a checkpoint of a different run: config field "
                         f"{key!r} differs ({saved.get(key)} vs {meta['config'].get(key)}). "
                         f"Use a new workdir.")
    state = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore(state))
    print(f"Resumed from step {int(state.step[0])}", flush=True)
  else:
    with open(meta_path, "w") as f:
      json.dump(meta, f, indent=2, default=str)

  chunk = make_train_chunk(config, mcfg, tx, config.log_every_steps)
  evaluate = make_eval(config, mcfg)
  target = config.synthetic.get("solved_error_rate", 0.0)
  seeds = seeds_of(config)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  t0 = time.time()
  step = int(state.step[0])
  while step < config.num_train_steps:
    state, losses = chunk(state)
    step += config.log_every_steps
    losses = np.asarray(losses)
    if not np.all(np.isfinite(losses)):
      bad = [s for s, l in zip(seeds, losses) if not math.isfinite(l)]
      raise FloatingPointError(f"non-finite training loss at step {step} for seed(s) {bad}")
    records = [{"step": step, "split": "train", "loss": losses.tolist()}]
    done = False
    if step % config.eval_every_steps == 0 or step >= config.num_train_steps:
      err, loss = (np.asarray(a) for a in evaluate(state.params))
      newly = (np.asarray(state.solved_step) < 0) & (err <= target)
      state = state.replace(solved_step=jnp.where(newly, step, state.solved_step))
      records.append({"step": step, "split": "test", "error_rate": err.tolist(),
                      "loss": loss.tolist()})
      print(f"step {step}: train loss {np.round(losses, 4).tolist()}  test error rate "
            f"{np.round(err, 4).tolist()}", flush=True)
      done = config.get("stop_when_solved", False) and bool(np.all(state.solved_step >= 0))
    with open(metrics_path, "a") as f:
      for r in records:
        f.write(json.dumps(r) + "\n")
    if (ckpt_every and step % ckpt_every == 0) or done or step >= config.num_train_steps:
      manager.save(step, args=ocp.args.StandardSave(state))
    if done:
      print(f"All seeds reached test error rate <= {target} by step {step}.", flush=True)
      break
  manager.wait_until_finished()
  manager.close()

  err, loss = (np.asarray(a) for a in evaluate(state.params))
  test_size = config.synthetic.get("test_size", 2560)
  solved = np.asarray(state.solved_step)
  final = {
      "task": config.synthetic.task, "seq_len": config.synthetic.seq_len,
      "cell": mcfg.cell, "hidden_dim": mcfg.hidden_dim,
      "num_params": int(sum(x[0].size for x in jax.tree.leaves(state.params))),
      "seeds": seeds, "steps": step, "test_size": test_size,
      "error_rate": err.tolist(), "num_wrong": np.round(err * test_size).astype(int).tolist(),
      "test_loss": loss.tolist(),
      "error_rate_mean": float(err.mean()), "error_rate_std": float(err.std()),
      "solved_error_rate": target,
      "solved_step": solved.tolist(),
      "solved_sequences": [int(s) * config.batch_size if s >= 0 else None for s in solved],
      "num_solved": int((solved >= 0).sum()),
      "train_seconds_this_run": time.time() - t0,
      "grad_norms": {"init": init_norms.tolist(),
                     "final": grad_norms(config, mcfg, state.params).tolist()},
  }
  with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
    json.dump(final, f)
  return final

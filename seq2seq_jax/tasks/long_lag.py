"""The long-time-lag problems of Hochreiter & Schmidhuber 1997 (the adding problem and the
temporal-order task) as a task: a sequence-to-one recurrent model (``models.seq2one``)
read to each sequence's end, trained on batches generated inside the compiled step.

Batches: ``data.synthetic.make_batch(problem, fold_in(data_key, step), B, T)`` with
``data_key = split(key(data_seed))[1]``, so every seed sees the same sequences and a
resumed run regenerates exactly the batches it would have seen; there is no data state.
Evaluation: the error rate on a fixed test set (H&S 1997 used 2560 sequences): a
regression output is wrong when ``|error| >= error_threshold``, a classification output
when its class is. Selection: the (mean over seeds) error rate, lowest best. The final
metrics add each seed's first evaluation step at which the error rate reached
``solved_error_rate`` and the hidden-state gradient norms ||dL/dh_t|| by time lag at
initialisation and at the end.

Config section ``long_lag``: problem ("adding" | "temporal_order"), seq_len, test_size,
test_seed, error_threshold, solved_error_rate, grad_norm_batch; ``stop_when_solved``.

Shapes: N seeds, B batch, L padded length, D input features, O outputs.
"""
from __future__ import annotations

import jax
import numpy as np

from seq2seq_jax.config_base import ConfigError
from seq2seq_jax.models import seq2one as sm
from seq2seq_jax import tasks
from seq2seq_jax.data import synthetic


def model_config(config) -> sm.SequenceModelConfig:
  problem = config.long_lag.problem
  head = "regression" if problem == "adding" else "classification"
  return sm.SequenceModelConfig(
      cell=config.model.cell, input_dim=synthetic.input_dim(problem),
      hidden_dim=config.model.hidden_dim, output_dim=synthetic.output_dim(problem), head=head,
      num_layers=config.model.get("num_layers", 1),
      forget_bias=config.model.get("forget_bias", 1.0))


def test_set(config):
  lc = config.long_lag
  return synthetic.make_batch(lc.problem, jax.random.key(lc.get("test_seed", 1234)),
                              lc.get("test_size", 2560), lc.seq_len)


def grad_norms(config, mcfg, params_N):
  """[N, L] hidden-state gradient norms by time lag on a fixed batch (params [N, ...])."""
  lc = config.long_lag
  x, lengths, y = synthetic.make_batch(lc.problem, jax.random.key(lc.get("test_seed", 1234) + 1),
                                       lc.get("grad_norm_batch", 256), lc.seq_len)
  fn = jax.jit(jax.vmap(lambda p: sm.hidden_grad_norms(mcfg, p, x, lengths, y)))
  return np.asarray(fn(params_N))


def _stacked(run, params):
  """Params with a seed axis, also for a single seed."""
  return params if run.multi else jax.tree.map(lambda x: x[None], params)


@tasks.register("long_lag")
class LongLag(tasks.Task):
  """See the module docstring."""
  select_by = "error_rate"
  select_mode = "min"
  eval_split = "test"
  final_splits = ("test",)
  final_checkpoint = "last"  # H&S report the state after training, not a selected one

  def check_config(self, config):
    if "long_lag" not in config:
      raise ConfigError("a long_lag config needs a `long_lag` section (problem, seq_len, ...)")
    if config.long_lag.problem not in synthetic.TASKS:
      raise ConfigError(f"long_lag.problem must be one of {synthetic.TASKS}, got "
                       f"{config.long_lag.problem!r}")
    if int(config.get("batch_size", 0)) < 1:
      raise ConfigError(f"batch_size must be >= 1, got {config.get('batch_size')}")

  def build_data(self, config, workdir):
    return tasks.Data({"test": test_set(config)})

  def build_model(self, config, data):
    return sm.SequenceModel(model_config(config))

  def model_meta(self, model):
    import dataclasses  # pylint: disable=g-import-not-at-top
    return dataclasses.asdict(model.cfg)

  def train_batches(self, run, *, batch_multiple, shard_index, shard_count):
    from seq2seq_jax import trainer  # pylint: disable=g-import-not-at-top
    c = run.config
    data_key = jax.random.split(jax.random.key(trainer.data_seed_of(c)))[1]
    problem, T, B = c.long_lag.problem, c.long_lag.seq_len, c.batch_size

    def generate(step):
      x, lengths, y = synthetic.make_batch(problem, jax.random.fold_in(data_key, step), B, T)
      return {"x": x, "lengths": lengths, "y": y}
    return tasks.GeneratedBatches(generate)

  def loss(self, run, params, batch, key):
    # The mean over the batch with weight 1: the same update as the pre-task loop.
    model = run.model
    out = model(params, batch["x"], batch["lengths"])
    loss = sm.loss_fn(model.cfg, out, batch["y"]).mean()
    return loss, 1.0, {"loss": loss}

  def uniform_loss(self, run):
    cfg = run.model.cfg  # cross-entropy over the classes; none for the regression
    return None if cfg.head == "regression" else float(np.log(cfg.output_dim))

  def evaluate(self, run, params, split, *, step, final=False):
    if "eval" not in run.cache:
      x, lengths, y = run.data.splits["test"]
      cfg = run.model.cfg
      thr = run.config.long_lag.get("error_threshold", synthetic.ERROR_THRESHOLD)

      @jax.jit
      def ev(params_N):
        def one(p):
          out = sm.apply(cfg, p, x, lengths)
          return sm.errors(cfg, out, y, thr).mean(), sm.loss_fn(cfg, out, y).mean()
        return jax.vmap(one)(params_N)
      run.cache["eval"] = ev
    err, loss = (np.asarray(a) for a in run.cache["eval"](_stacked(run, params)))
    if not final:
      print(f"step {step}: test error rate {np.round(err, 4).tolist()}", flush=True)
    return [{"error_rate": float(e), "loss": float(l)} for e, l in zip(err, loss)]

  def _solved_steps(self, run, history) -> list[int]:
    target = run.config.long_lag.get("solved_error_rate", 0.0)
    solved = []
    for i in range(len(run.seeds)):
      steps = [h["step"] for h in history if h["per_seed"][i]["error_rate"] <= target]
      solved.append(steps[0] if steps else -1)
    return solved

  def should_stop(self, run, history):
    if run.config.get("stop_when_solved", False) and min(self._solved_steps(run, history)) >= 0:
      target = run.config.long_lag.get("solved_error_rate", 0.0)
      return f"all seeds reached test error rate <= {target}"
    return None

  def final_metrics(self, run, evals, *, step, checkpoint, history, init_params,
                    final_params):
    c, mcfg = run.config, run.model.cfg
    err = np.array([r["error_rate"] for r in evals["test"]])
    loss = np.array([r["loss"] for r in evals["test"]])
    test_size = c.long_lag.get("test_size", 2560)
    solved = self._solved_steps(run, history)
    final_params = _stacked(run, final_params)
    return {
        "task": c.long_lag.problem, "seq_len": c.long_lag.seq_len,
        "cell": mcfg.cell, "hidden_dim": mcfg.hidden_dim,
        "num_params": int(sum(x[0].size for x in jax.tree.leaves(final_params))),
        "seeds": list(run.seeds), "steps": step, "checkpoint": checkpoint,
        "test_size": test_size,
        "error_rate": err.tolist(), "num_wrong": np.round(err * test_size).astype(int).tolist(),
        "test_loss": loss.tolist(),
        "error_rate_mean": float(err.mean()), "error_rate_std": float(err.std()),
        "solved_error_rate": c.long_lag.get("solved_error_rate", 0.0),
        "solved_step": solved,
        "solved_sequences": [int(s) * c.batch_size if s >= 0 else None for s in solved],
        "num_solved": int(sum(s >= 0 for s in solved)),
        "grad_norms": {"init": grad_norms(c, mcfg, _stacked(run, init_params())).tolist(),
                       "final": grad_norms(c, mcfg, final_params).tolist()},
    }

  def summary_lines(self, final):
    return [f"test error rate per seed: {final['error_rate']}  (solved at steps "
            f"{final['solved_step']})"]

  def predictor(self, meta, members, asset_paths):
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    model = sm.SequenceModel(sm.SequenceModelConfig.from_dict(meta["model"]))
    params = jax.tree.map(lambda *xs: jnp.stack(xs), *members)
    # [M] members' outputs for x [B, L, D]: regression values or class logits.
    return jax.jit(lambda x, lengths: jax.vmap(lambda p: model(p, x, lengths))(params))

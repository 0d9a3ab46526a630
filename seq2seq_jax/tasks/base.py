"""What a task is: the unit of plug-in of the one trainer (``trainer.train_and_evaluate``).

A task owns its data, model, loss, predictions and metrics; the trainer owns everything
else (the jitted step, accumulation, seeds, the mesh, checkpoints, resume, logs, early
stopping, the NaN stop, the time budget). A new application is a subclass of
:class:`Task` registered under a name (``tasks.register``), selected by ``config.task``.

The trainer calls, in order:

  check_config(config)                     before anything is written
  build_data(config, workdir) -> Data      sources + processors fitted on the training
                                           split (tokenizer, normaliser), files in
                                           ``Data.assets`` saved with every checkpoint
  build_model(config, data)                a frozen model object with ``init(key)``
  model_meta(model) -> dict                what must match for a checkpoint to resume
  init_carry(run) -> pytree | None         state carried from step to step (stateful
                                           truncated BPTT), checkpointed; None: none
  train_batches(run) -> HostBatches | GeneratedBatches
  loss(run, params, micro_batch, key) -> (objective, weight, metrics)   (see steps.py)
                                           (with a carry: ``key, carry`` in, the new
                                           carry appended to the result)
  uniform_loss(run) -> float | None        the loss of a uniform prediction (divergence)
  evaluate(run, params, split, final=...) -> [per-seed metrics]   selection metric included
  final_metrics(run, evals, ...) -> dict   written to final_metrics.json
  summary_lines(final) -> [str]            what ``main`` prints at the end

and ``predictor(meta, members, asset_paths)`` turns a checkpoint's parameters into the
task's predictor (``inference.predictor.load_predictor``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator


@dataclasses.dataclass
class Data:
  """A task's data: whatever its methods need (``splits``), plus the files fitted on the
  training split that a checkpoint must carry (``assets``: paths)."""
  splits: dict[str, Any]
  assets: list[str] = dataclasses.field(default_factory=list)
  extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class HostBatches:
  """Batches read on the host: an iterator of numpy dicts with a leading batch axis.

  ``checkpointable`` (a grain iterator with get_state/set_state) is saved with every
  checkpoint, so a resumed run reads the batches the uninterrupted one would have.
  """
  iterator: Iterator[dict]
  checkpointable: Any = None

  def close(self):
    close = getattr(self.iterator, "close", None)
    if close is not None:
      close()


@dataclasses.dataclass
class GeneratedBatches:
  """Batches made inside the compiled step from the step number: ``generate(step)``
  (a traced int32) returns the batch dict. Resume needs no data state."""
  generate: Callable[[Any], dict]

  def close(self):
    pass


@dataclasses.dataclass
class Run:
  """What a task's methods may read about the run being trained or evaluated."""
  config: Any
  workdir: str
  data: Data
  model: Any
  seeds: list[int]
  cache: dict = dataclasses.field(default_factory=dict)  # a task's compiled functions

  @property
  def multi(self) -> bool:
    return len(self.seeds) > 1

  def seed_params(self, params, i: int):
    """Seed i's parameters (params carry a seed axis only when N > 1)."""
    import jax  # pylint: disable=g-import-not-at-top
    return jax.tree.map(lambda x: x[i], params) if self.multi else params


class Task:
  """Base class of tasks; see the module docstring for the protocol."""
  name: str = ""
  select_by: str = ""          # the eval metric that picks best/ and drives early stopping
  select_mode: str = "max"     # "max" or "min"
  eval_split: str = "validation"        # the split of periodic evaluations
  final_splits: tuple[str, ...] = ("validation", "test")
  final_checkpoint: str = "best"        # default of config.final_checkpoint
  weight_name: str | None = None        # what the loss weight counts ("tokens"): logs <it>/s
  # When the loss weight counts something else (a language model's rows), the metric m
  # with m * weight = the count of `weight_name` (it is not logged itself).
  count_metric: str | None = None

  def check_config(self, config) -> None:
    """Raises ValueError on a bad config before anything is written."""

  def build_data(self, config, workdir: str) -> Data:
    raise NotImplementedError

  def build_model(self, config, data: Data):
    raise NotImplementedError

  def model_meta(self, model) -> dict:
    raise NotImplementedError

  def train_batches(self, run: Run, *, batch_multiple: int, shard_index: int,
                    shard_count: int):
    raise NotImplementedError

  def init_carry(self, run: Run):
    """The state carried across steps, rows first ([B, ...] for B batch rows), or None.
    A task that returns one takes it in `loss` and returns its successor."""
    return None

  def loss(self, run: Run, params, batch: dict, key, carry=None):
    """(objective, weight, metrics) of one micro-batch; see ``steps.py``. With a
    carry (``init_carry``): (objective, weight, metrics, new_carry)."""
    raise NotImplementedError

  def uniform_loss(self, run: Run) -> float | None:
    """The training loss of predicting every outcome as equally likely (ln V for V
    classes), in the units of the loss's first metric; None where that does not apply
    (regression). The divergence stop compares the training loss with it."""
    return None

  def train_log(self, means: dict) -> dict:
    """Metrics derived from the mean training metrics of a log window (e.g. perplexity)."""
    return {}

  def evaluate(self, run: Run, params, split: str, *, step: int, final: bool = False
               ) -> list[dict] | None:
    """Per-seed metric dicts of `split` (None: the split does not exist)."""
    raise NotImplementedError

  def should_stop(self, run: Run, history: list[dict]) -> str | None:
    """A reason to stop after this evaluation (e.g. every seed solved the task)."""
    return None

  def final_metrics(self, run: Run, evals: dict, *, step: int, checkpoint: str,
                    history: list[dict], init_params, final_params) -> dict:
    """The final_metrics.json dict. `evals`: split -> per-seed metrics of the final
    parameters; `init_params()` recomputes the initial parameters."""
    raise NotImplementedError

  def summary_lines(self, final: dict) -> list[str]:
    return []

  def predictor(self, meta: dict, members: list, asset_paths: list[str]):
    """The predictor of a checkpoint: `members` are one or more parameter sets (an
    ensemble), `asset_paths` the checkpoint's asset files (read them before returning:
    the directory is temporary)."""
    raise NotImplementedError

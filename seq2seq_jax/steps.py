"""The train step every task shares: gradient accumulation, multi-seed vmap, several
updates per compiled call.

A task supplies only its loss, ``loss_fn(params, micro_batch, key) -> (objective,
weight, metrics)``. The update is

    grads = sum over micro-batches of d objective / d params, divided by max(sum weight, 1)

and each metric is summed over micro-batches and divided the same way. A token-level task
returns the *sum* of its token losses with the number of tokens as weight (so accumulated
micro-batches weigh every token equally); a task that averages per batch returns the mean
with weight 1.

PRNG: step ``s`` uses ``fold_in(dropout_key, s)``, micro-batch ``i`` ``fold_in`` of that,
so a resumed run repeats the uninterrupted one bit for bit.

Multi-seed (N seeds): params and optimizer state carry a leading axis N (the step is
shared) and the step is ``jax.vmap`` over (state, dropout key) with the batch broadcast.

``steps_per_call`` K > 1: K updates in one compiled ``lax.scan``, over K stacked host
batches ``[K, A, B, ...]`` or over batches a task generates inside the program from the
step number (``generate(step) -> batch``). Per-call dispatch otherwise dominates tiny
models on CPU.

Carried state (stateful truncated BPTT, e.g. a language model over one stream): a task
whose ``init_carry`` returns a pytree (leading axis B, the batch rows) gets it in
``TrainState.carry``; its loss is then ``loss_fn(params, micro_batch, key, carry) ->
(objective, weight, metrics, new_carry)``, micro-batch i reading and writing rows
``[i*B/A, (i+1)*B/A)`` of the carry, and the new carry becomes the next step's (no
gradient flows through it). It is checkpointed with the state, so resume stays exact.

Shapes: N seeds, K steps per call, A accumulated micro-batches, B batch rows.
"""
from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[Any, dict, jax.Array], tuple[jax.Array, jax.Array, dict]]


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  carry: Any = None  # a stateful task's carried state [B, ...] (see the module doc)


# Params, optimizer state and carry have the seed axis; the step is shared by all seeds.
SEED_AXES = TrainState(step=None, params=0, opt_state=0, carry=0)


def train_step(state: TrainState, batch: dict, *, loss_fn: LossFn, tx, dropout_key):
  """One optimizer update from a batch [A, B, ...] of A accumulated micro-batches.

  Returns (state, metrics): the task's metrics divided by the total weight, plus
  ``weight`` (the total), ``grad_norm`` and ``param_norm``.
  """
  step_key = jax.random.fold_in(dropout_key, state.step)
  num_micro = jax.tree.leaves(batch)[0].shape[0]
  stateful = state.carry is not None

  def micro_loss(params, mb, key, carry):
    if stateful:
      objective, weight, metrics, new_carry = loss_fn(params, mb, key, carry)
      return objective, (weight, metrics, jax.lax.stop_gradient(new_carry))
    objective, weight, metrics = loss_fn(params, mb, key)
    return objective, (weight, metrics, None)

  grad_fn = jax.grad(micro_loss, has_aux=True)
  # [B, ...] -> [A, B/A, ...]: micro-batch i owns the carry of its rows.
  carry_A = None if not stateful else jax.tree.map(
      lambda x: x.reshape((num_micro, -1) + x.shape[1:]), state.carry)

  def accumulate(acc, xs):
    i, mb, carry = xs
    grads, (weight, metrics, new_carry) = grad_fn(state.params, mb,
                                                  jax.random.fold_in(step_key, i), carry)
    return jax.tree.map(jnp.add, acc, (grads, (weight, metrics))), new_carry

  first = jax.tree.map(lambda x: x[0], (batch, carry_A))
  _, (w_shape, m_shape, _) = jax.eval_shape(micro_loss, state.params, first[0], step_key,
                                            first[1])
  zeros = jax.tree.map(jnp.zeros_like, state.params), jax.tree.map(
      lambda s: jnp.zeros(s.shape, s.dtype), (w_shape, m_shape))
  (grads, (weight, metrics)), new_carry_A = jax.lax.scan(
      accumulate, zeros, (jnp.arange(num_micro), batch, carry_A))
  carry = None if not stateful else jax.tree.map(
      lambda x: x.reshape((-1,) + x.shape[2:]), new_carry_A)
  denom = jnp.maximum(weight, 1.0)
  grads = jax.tree.map(lambda g: g / denom, grads)
  # A batch may carry its learning-rate factor (one per step; AWD-LSTM's window length
  # / bptt): it multiplies the optimizer's update (optimizer.scalable).
  scaled = isinstance(batch, dict) and "update_scale" in batch
  extra = {"update_scale": batch["update_scale"][0, 0]} if scaled else {}
  updates, opt_state = tx.update(grads, state.opt_state, state.params, **extra)
  params = optax.apply_updates(state.params, updates)
  out = {k: v / denom for k, v in metrics.items()}
  out.update(weight=weight, grad_norm=optax.global_norm(grads),
             param_norm=optax.global_norm(params))
  return TrainState(state.step + 1, params, opt_state, carry), out


def make_step(*, loss_fn: LossFn, tx, dropout_key, num_seeds: int):
  """(state, batch) -> (state, metrics): `train_step`, vmapped over seeds when N > 1
  (dropout keys [N], metrics [N])."""
  def single(state, batch):
    return train_step(state, batch, loss_fn=loss_fn, tx=tx, dropout_key=dropout_key)
  if num_seeds == 1:
    return single

  def multi(state, batch):
    def one_seed(st, key):
      return train_step(st, batch, loss_fn=loss_fn, tx=tx, dropout_key=key)
    return jax.vmap(one_seed, in_axes=(SEED_AXES, 0), out_axes=(SEED_AXES, 0))(
        state, dropout_key)
  return multi


def make_call(step_fn, *, num_steps: int, generate=None, accum: int = 1):
  """The compiled call: `num_steps` updates of `step_fn` in one program.

  With `generate` (a task's ``step -> batch`` inside the program) the call takes only the
  state; otherwise host batches stacked [K, A, B, ...] (K = num_steps; [A, B, ...] when
  K == 1). Metrics come back with a leading K axis either way.
  """
  def split_micro(batch):  # [B*A, ...] -> [A, B, ...]
    return jax.tree.map(lambda x: x.reshape((accum, -1) + x.shape[1:]), batch)

  if generate is not None:
    def call(state):
      def body(st, _):
        return step_fn(st, split_micro(generate(st.step)))
      return jax.lax.scan(body, state, None, length=num_steps)
  elif num_steps == 1:
    def call(state, batch):
      state, metrics = step_fn(state, batch)
      return state, jax.tree.map(lambda x: x[None], metrics)
  else:
    def call(state, batches):
      return jax.lax.scan(step_fn, state, batches)
  return jax.jit(call, donate_argnums=(0,))


def init_state(init_params, tx, seed: int):
  """(TrainState, dropout key) of a single run with `seed`: ``key(seed)`` split once into
  an init key and a dropout key."""
  init_key, dropout_key = jax.random.split(jax.random.key(seed))
  params = init_params(init_key)
  return TrainState(jnp.asarray(0, jnp.int32), params, tx.init(params)), dropout_key


def stack_states(states: list[TrainState]) -> TrainState:
  """Per-seed states (at one step) -> params and opt_state stacked on a leading axis N.

  Stacking the single-seed inits (rather than vmapping init) makes each seed start from
  exactly the values its single run starts from.
  """
  stack = lambda *xs: jnp.stack(xs)
  carry = None if states[0].carry is None else jax.tree.map(stack, *[s.carry for s in states])
  return TrainState(states[0].step, jax.tree.map(stack, *[s.params for s in states]),
                    jax.tree.map(stack, *[s.opt_state for s in states]), carry)

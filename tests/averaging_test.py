"""Iterate averaging (ASGD, NT-ASGD): the mean it keeps, the updates it leaves alone, the
trigger rule, and clear errors for bad settings."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from seq2seq_jax import averaging, optimizer


def _trajectory(tx, steps=6):
  """Params after each update and the final state, on a fixed quadratic."""
  params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}
  state = tx.init(params)
  out = []
  for t in range(steps):
    grads = jax.tree.map(lambda p: jnp.sin(p * (t + 1)) + 0.1 * p, params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    out.append(params)
  return out, state


def test_before_the_start_the_average_is_the_parameters_bit_for_bit():
  inner = optax.sgd(0.3, momentum=0.5)
  plain, _ = _trajectory(inner)
  wrapped, state = _trajectory(averaging.averaged(inner))
  for a, b in zip(plain, wrapped):  # the updates are the inner optimizer's, unchanged
    jax.tree.map(np.testing.assert_array_equal, a, b)
  jax.tree.map(np.testing.assert_array_equal, state[averaging.AVERAGED], wrapped[-1])


def test_from_the_start_the_average_is_the_mean_of_the_iterates():
  inner = optax.adam(0.1)
  params, state = _trajectory(averaging.averaged(inner, start=3), steps=7)
  want = jax.tree.map(lambda *xs: np.mean(np.stack(xs).astype(np.float64), 0), *params[2:])
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               state[averaging.AVERAGED], want)
  assert int(state["updates"]) == 7


def _history(scores):
  return [{"step": i, "per_seed": [{"ppl": s}, {"ppl": s}]} for i, s in enumerate(scores)]


def test_nt_asgd_triggers_on_a_score_worse_than_nonmono_evaluations_ago():
  oc = ml_collections.ConfigDict(dict(averaging="nt_asgd", nonmono=2))
  state = averaging.averaged(optax.sgd(1.0)).init({"w": jnp.zeros(2)})
  start = lambda scores, mode="min": averaging.should_start(oc, state, _history(scores),
                                                            "ppl", mode)
  assert not start([5, 4, 9])  # 2 earlier evaluations: AWD needs more than nonmono
  assert start([5, 4, 3, 9])  # worse than min(5)
  assert not start([5, 4, 3, 3.2, 3.1, 2.9])  # still improving
  assert not start([5, 4, 3, 3.2, 3.1, 3.0])  # not worse than min(5, 4, 3)
  assert start([5, 4, 3, 3.2, 3.1, 3.3])       # worse than the best before the last two
  assert start([1, 2, 3, 3.2, 3.1, 2.5], mode="max")
  started = averaging.start_at(state, 7)
  assert averaging.started(started) and not averaging.started(state)
  assert not averaging.should_start(oc, started, _history([5, 4, 3, 3.2, 3.1, 3.3]), "ppl",
                                    "min")  # once only
  oc.averaging = "asgd"
  assert not start([5, 4, 3, 3.2, 3.1, 3.3])


@pytest.mark.parametrize("settings, message", [
    (dict(averaging="swa"), "optimizer.averaging must be one of"),
    (dict(averaging="asgd"), "average_start >= 1"),
    (dict(averaging="nt_asgd", nonmono=0), "nonmono must be >= 1"),
])
def test_bad_settings_are_one_clear_error(settings, message):
  oc = ml_collections.ConfigDict(dict(name="sgd", learning_rate=1.0, **settings))
  with pytest.raises(ValueError, match=message):
    optimizer.make_optimizer(oc, 10)

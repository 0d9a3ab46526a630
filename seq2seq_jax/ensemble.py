"""Ensembles and checkpoint averaging.

An :class:`Ensemble` of M models of one architecture holds their parameters
stacked on a leading axis (``stack_params``) and exposes the same
``encode`` / ``init_carry`` / ``decode_step`` as a single model, each a
``jax.vmap`` over the M parameter sets. Its step returns the log of the
*averaged probabilities*, so greedy decoding and beam search decode an
ensemble in the same compiled program without knowing it is one.

Shapes: M models, B batch, S source length, V vocabulary.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from seq2seq_jax import model as model_lib


def stack_params(params_list):
  """[params_1, ..., params_M] -> one pytree with a leading axis M."""
  if not params_list:
    raise ValueError("an ensemble needs at least one parameter set")
  structs = {jax.tree.structure(p) for p in params_list}
  if len(structs) > 1:
    raise ValueError("ensemble members have different parameter structures "
                     "(different model configs?)")
  return jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)


def unstack_params(params_M):
  """One pytree with a leading axis M -> [params_1, ..., params_M] (stack_params inverse)."""
  num = jax.tree.leaves(params_M)[0].shape[0]
  return [jax.tree.map(lambda x, i=i: x[i], params_M) for i in range(num)]


def average_params(params_list):
  """Element-wise mean of parameter sets (checkpoint averaging)."""
  return jax.tree.map(lambda x: x.mean(0), stack_params(params_list))


def _m_second(tree):
  """Moves the members axis M behind the batch axis, so every leaf is batch-first."""
  return jax.tree.map(lambda x: jnp.moveaxis(x, 0, 1), tree)


@dataclasses.dataclass(frozen=True)
class Ensemble:
  """M models of one config, decoded as one; params have a leading M axis.

  Encoded states and carries keep every leaf batch-first (B, M, ...), as the
  decoders expect (they tile and gather along the batch axis).
  """
  model: model_lib.Seq2Seq

  def encode(self, params_M, src_BxS, src_len_B):
    enc = jax.vmap(lambda p: self.model.encode(p, src_BxS, src_len_B))(params_M)
    return _Pair(_m_second(enc), enc.src_mask_BxS[0])

  def init_carry(self, params_M, encoded):
    carry = jax.vmap(self.model.init_carry, in_axes=(0, 1), out_axes=1)(params_M, encoded.inner)
    return _Pair(carry, carry.coverage_BxS.mean(1))

  def decode_step(self, params_M, carry, token_B, encoded):
    step = jax.vmap(self.model.decode_step, in_axes=(0, 1, None, 1), out_axes=(1, 0, 0))
    inner, logits_MxBxV, attn_MxBxS = step(params_M, carry.inner, token_B, encoded.inner)
    logp = jax.nn.log_softmax(logits_MxBxV.astype(jnp.float32))
    mean_logp = jax.nn.logsumexp(logp, axis=0) - jnp.log(logp.shape[0])
    return _Pair(inner, inner.coverage_BxS.mean(1)), mean_logp, attn_MxBxS.mean(0)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass
class _Pair:
  """Members' encoded states or carries (B, M, ...) plus one batch-level array:
  the source mask (for encoded) or the mean coverage (for carries)."""
  inner: object
  extra: jax.Array

  @property
  def src_mask_BxS(self):
    return self.extra

  @property
  def coverage_BxS(self):
    return self.extra

  def tree_flatten(self):
    return (self.inner, self.extra), None

  @classmethod
  def tree_unflatten(cls, _, children):
    return cls(*children)

"""Parameter creation for the encoder-decoder: Flax (linen) owns it, and nothing else.

:class:`ParamFactory` makes one ``self.param`` per weight group of a ``ModelConfig``, with
the initialisers written as plain JAX functions (``_param_inits``), so the parameter tree
is named and nested while the math stays pure functions of it.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from seq2seq_jax.models.seq2seq_config import ModelConfig
from seq2seq_jax.nn import attention as attn_lib
from seq2seq_jax.nn import cells as cells_lib


def _uniform(bound):
  return lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -bound, bound)


class ParamGroup(nn.Module):
  """A named group of parameters, each made by `init(key)` (any pytree)."""
  inits: tuple

  @nn.compact
  def __call__(self):
    return {name: self.param(name, fn) for name, fn in self.inits}


class ParamFactory(nn.Module):
  """Creates the parameter pytree of a :class:`ModelConfig` (see `_param_inits`)."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self):
    return {group: ParamGroup(tuple(inits), name=group)()
            for group, inits in _param_inits(self.cfg).items() if inits}


def _param_inits(c: ModelConfig) -> dict[str, list]:
  E, H = c.embed_dim, c.hidden_dim
  A = c.attention_dim or H
  emb = _uniform(0.1)
  cell_init = lambda in_dim, hidden: (
      lambda k: cells_lib.init_params(c.cell, k, in_dim, hidden, c.forget_bias))
  groups: dict[str, list] = {"embed": [("src", lambda k: emb(k, (c.src_vocab_size, E)))]}
  if not c.share_embeddings:
    groups["embed"].append(("tgt", lambda k: emb(k, (c.tgt_vocab_size, E))))

  groups["encoder"] = []
  for l, bidi in enumerate(c.encoder_bidirectional()):
    in_dim = E if l == 0 else H
    if bidi:
      fn = (lambda f: lambda k: {"fwd": f(jax.random.fold_in(k, 0)),
                                 "bwd": f(jax.random.fold_in(k, 1))})(cell_init(in_dim, H // 2))
    else:
      fn = cell_init(in_dim, H)
    groups["encoder"].append((f"layer_{l}", fn))

  groups["bridge"] = []
  if c.bridge == "linear":
    parts = ("h", "c") if cells_lib.get_cell(c.cell).has_cell_state else ("h",)
    lin = _uniform(1.0 / H ** 0.5)
    for l in range(c.decoder_layers):
      groups["bridge"].append((f"layer_{l}", lambda k, parts=parts: {
          p: {"w": lin(jax.random.fold_in(k, i), (H, H)), "b": jnp.zeros((H,), jnp.float32)}
          for i, p in enumerate(parts)}))

  dec_in0 = E + (H if c.input_feeding else 0) + (H if c.attention == "bahdanau" else 0)
  groups["decoder"] = [(f"layer_{l}", cell_init(dec_in0 if l == 0 else H, H))
                       for l in range(c.decoder_layers)]

  groups["attention"] = []
  if c.has_attention:
    probe = attn_lib.init_params(c.attention, jax.random.key(0), H, H, A, c.max_source_len)
    for name in probe:  # one Flax param per attention weight
      groups["attention"].append((name, lambda k, name=name: attn_lib.init_params(
          c.attention, k, H, H, A, c.max_source_len)[name]))

  groups["output"] = []
  if c.has_attention:
    groups["output"].append(("w_c", lambda k: _uniform(1.0 / (2 * H) ** 0.5)(k, (2 * H, H))))
  if not c.tie_embeddings:
    groups["output"].append(("w_out", lambda k: _uniform(1.0 / H ** 0.5)(k, (H, c.tgt_vocab_size))))
  groups["output"].append(("b_out", lambda k: jnp.zeros((c.tgt_vocab_size,), jnp.float32)))
  return groups



"""Token-level losses of sequence outputs (the reference the fused output loss is tested
against, and the evaluation loss of every token-predicting task).

Shapes: B batch, T steps, V vocabulary.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def token_losses(logits_BxTxV, targets_BxT, weights_BxT, label_smoothing: float = 0.0):
  """(sum of training loss, sum of NLL, sum of weights) over real tokens.

  Label smoothing mixes the one-hot target with the uniform distribution
  (Szegedy et al. 2016): loss = (1-e) NLL + e * mean_v(-log p_v).
  """
  logp = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32))
  nll = -jnp.take_along_axis(logp, targets_BxT[..., None], axis=-1)[..., 0]
  loss = nll
  if label_smoothing:
    loss = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
  w = weights_BxT.astype(jnp.float32)
  return (loss * w).sum(), (nll * w).sum(), w.sum()

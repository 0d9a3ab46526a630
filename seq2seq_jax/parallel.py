"""Data parallelism with a device mesh: `jit` + `NamedSharding`.

We use one mesh axis, ``data``, over every device of every host. Parameters and
optimizer state are replicated; each batch is split along its leading (batch)
axis. XLA's SPMD partitioner then inserts the gradient all-reduce, so the
train step is the single-device program: no ``pmap``, no explicit ``psum``,
and one device gives the same numbers as many (up to summation order).

``pmap`` is the old way (current JAX implements it on ``shard_map``);
``jit`` over a mesh composes with everything else (vmap for multi-seed runs,
donation, sharding of large embeddings later) without a second code path.

Multi-host (TPU VM pods, multi-node GPU): call :func:`initialize_distributed`
first on every host (``jax.distributed.initialize()`` reads the TPU/SLURM
environment); each host feeds its own slice of the data (shard_index =
process_index) and :func:`global_batch` assembles the global array.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def initialize_distributed():
  """Joins the multi-host job (no-op for a single process)."""
  if jax.process_count() == 1 and _env_says_multihost():
    jax.distributed.initialize()


def _env_says_multihost() -> bool:
  return any(k in os.environ for k in ("JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES",
                                       "SLURM_NTASKS")) and os.environ.get(
                                           "SEQ2SEQ_SINGLE_HOST") is None


def make_mesh(devices=None) -> Mesh:
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch(mesh: Mesh, local_batch: dict, batch_axis: int = 0) -> dict:
  """This host's numpy batch -> global jax arrays sharded over `data`.

  `batch_axis` is 1 for batches with a leading gradient-accumulation axis.
  """
  spec = P(*([None] * batch_axis + ["data"]))
  sharding = NamedSharding(mesh, spec)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}

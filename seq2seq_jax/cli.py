"""What every command-line entry point (main, translate, evaluate, average) does first.

The flags themselves stay in each entry point's module; this is only the shared start.
"""
from __future__ import annotations

from absl import app, logging


def start(argv, *, compilation_cache: bool = True) -> None:
  """Refuses stray arguments, quiets absl's INFO logs and, for commands that compile,
  turns on the persistent XLA cache (later runs load programs instead of recompiling)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  if compilation_cache:
    from seq2seq_jax import compilation_cache as cache  # pylint: disable=g-import-not-at-top
    cache.enable()

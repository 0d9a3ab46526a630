"""The task registry: ``config.task`` names one of the registered tasks.

A task module registers its class with ``@register("name")``; ``get(name)`` imports the
built-in task modules on first use, so importing ``seq2seq_jax.tasks`` stays cheap.
"""
from __future__ import annotations

import importlib

from seq2seq_jax.config_base import ConfigError
from seq2seq_jax.tasks.base import Data, GeneratedBatches, HostBatches, Run, Task

_REGISTRY: dict[str, type] = {}
# Built-in tasks: name -> module that registers it.
_BUILTIN = {"translation": "seq2seq_jax.tasks.translation",
            "long_lag": "seq2seq_jax.tasks.long_lag",
            "language_model": "seq2seq_jax.tasks.language_model"}


def register(name: str):
  """Class decorator: makes a Task subclass available as ``config.task = name``."""
  def wrap(cls):
    if name in _REGISTRY and _REGISTRY[name] is not cls:
      raise ValueError(f"task {name!r} is registered twice ({_REGISTRY[name]} and {cls})")
    cls.name = name
    _REGISTRY[name] = cls
    return cls
  return wrap


def names() -> list[str]:
  return sorted(set(_REGISTRY) | set(_BUILTIN))


def get(name: str) -> Task:
  """A new instance of the task registered as `name`; an unknown name lists the known."""
  if name not in _REGISTRY and name in _BUILTIN:
    importlib.import_module(_BUILTIN[name])
  if name not in _REGISTRY:
    raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
  return _REGISTRY[name]()


__all__ = ["Data", "GeneratedBatches", "HostBatches", "Run", "Task", "get", "names",
           "register"]

"""Dataset kind ``synthetic``: generated copy/reverse pairs (:mod:`seq2seq_jax.data.synthetic`).

Named ``synthetic/<task>``; each split is generated afresh from a fixed seed.
"""

from __future__ import annotations

from seq2seq_jax.data.sources import registry
from seq2seq_jax.data.sources.base import (SPLIT_ALIASES, DatasetError, InMemoryParallelSource,
                                           from_lists)

_PREFIX = "synthetic/"


def _load(name: str, split: str, src_lang: str, tgt_lang: str,
          data_dir: str | None) -> InMemoryParallelSource:
  del data_dir  # Generated, nothing is read.
  # Imported here: it imports JAX, which the other dataset kinds do not need.
  from seq2seq_jax.data import synthetic  # pylint: disable=g-import-not-at-top
  task = name[len(_PREFIX):]
  if task not in synthetic.PAIR_TASKS:
    raise DatasetError(f"Unknown dataset {name!r}: synthetic tasks are "
                       f"{[_PREFIX + t for t in synthetic.PAIR_TASKS]}")
  resolved = SPLIT_ALIASES.get(split, (split,))[0]
  if resolved not in synthetic.PAIR_SPLITS:
    raise DatasetError(f"{name}: unknown split {split!r}; its splits are "
                       f"{sorted(synthetic.PAIR_SPLITS)}")
  src, tgt = synthetic.pair_split(task, resolved)
  return from_lists(src, tgt, src_lang, tgt_lang, name=name, split=split)


KIND = registry.Kind(
    "synthetic", f"'{_PREFIX}copy' or '{_PREFIX}reverse' (generated word sequences)",
    lambda name: name.startswith(_PREFIX), _load)

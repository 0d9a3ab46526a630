"""What every model family's frozen config shares."""
from __future__ import annotations

import dataclasses


def from_dict(cls, d):
  """A frozen dataclass config `cls` from a dict / ConfigDict; unknown keys are an error
  naming them and the known ones (a typo in --config.model.x must not pass silently)."""
  d = dict(d)
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(d) - known)
  if unknown:
    raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
  return cls(**d)

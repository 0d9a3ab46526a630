"""De-duplication and the train/validation/test split of the extracted pairs.

Both are keyed on the folded English (:func:`.cleaning.fold`), and the split by a salted
hash of it, so held-out strings never become training strings when packages are added
or updated.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from seq2seq_jax.datasets.software_l10n.cleaning import fold

if TYPE_CHECKING:
  from seq2seq_jax.datasets.software_l10n.extract import Pair


def dedup(pairs: Iterable[Pair]) -> list[Pair]:
  """One pair per folded English string, keeping its most frequent translation.

  Ties go to the lexicographically smallest string and the package is the smallest name
  that produced the chosen pair, so the result does not depend on the input order. The
  result is sorted by folded English.
  """
  groups: dict[str, list[Pair]] = collections.defaultdict(list)
  for pair in pairs:
    groups[fold(pair.en)].append(pair)
  result = []
  for key in sorted(groups):
    group = groups[key]
    tgt = _most_common(p.tgt for p in group)
    en = _most_common(p.en for p in group if p.tgt == tgt)
    chosen = min((p for p in group if p.tgt == tgt and p.en == en),
                 key=lambda p: (p.package, p.origin))
    result.append(chosen)
  return result


def _most_common(values: Iterable[str]) -> str:
  counts = collections.Counter(values)
  return min(counts, key=lambda v: (-counts[v], v))


def split_key(en: str, salt: str) -> bytes:
  """Salted hash of the folded English: it alone decides which split a string lands in."""
  return hashlib.sha256(f"{salt}\0{fold(en)}".encode("utf-8")).digest()


def split_pairs(pairs: Sequence[Pair], n_test: int, n_validation: int, salt: str,
                held_out_fraction: float) -> dict[str, list[Pair]]:
  """Splits de-duplicated pairs into train/validation/test by a salted hash of the English.

  Read as a number in [0, 1), the hash makes a pair a held-out candidate when it is below
  ``held_out_fraction``; all other pairs are train. Among the candidates, ranked by hash,
  the first ``n_test`` are test and the next ``n_validation`` validation; any further
  candidates are left out of every split. So whatever packages are added or removed, a
  string that was ever held out never becomes train and a train string never becomes test
  or validation; adding packages can only move a test string to validation or out. (Only a
  corpus so small that fewer than two candidates exist borrows the next-ranked pairs, so
  that no split is empty.) When there are fewer candidates than ``n_test + n_validation``
  they are shared in proportion. Each split is sorted by folded English.
  """
  ranked = sorted(pairs, key=lambda p: (split_key(p.en, salt), p.en))
  limit = int(held_out_fraction * 2 ** 64)
  n_candidates = sum(int.from_bytes(split_key(p.en, salt)[:8], "big") < limit for p in ranked)
  if len(ranked) >= 3:
    n_candidates = max(n_candidates, 2)
  if n_candidates < n_test + n_validation:
    share = round(n_candidates * n_test / (n_test + n_validation))
    n_test = min(max(share, 1), n_candidates - 1) if n_candidates >= 2 else n_candidates
    n_validation = n_candidates - n_test
  splits = {"test": ranked[:n_test], "validation": ranked[n_test:n_test + n_validation],
            "train": ranked[n_candidates:]}
  return {name: sorted(split, key=lambda p: (fold(p.en), p.en)) for name, split in splits.items()}

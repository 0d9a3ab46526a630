"""Candidate pairs of unpacked package trees: which files to read, and reading them.

:func:`find_jobs` finds every catalog and two-language document in the trees (the same
globs give ``tar`` its patterns, :func:`tar_patterns`); :func:`job_pairs` parses one of
them and cleans its pairs; :func:`extract_tree_pairs` runs all jobs, in a process pool
when asked.
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from absl import logging

from seq2seq_jax.datasets.software_l10n import alignment, catalogs, cleaning, documents


class Pair(NamedTuple):
  """A candidate sentence pair and where it came from."""

  en: str
  tgt: str
  package: str
  origin: str  # "mo", "qm", "lohelp", "mallard", "kde", "html"


@dataclasses.dataclass(frozen=True)
class DocRule:
  """Where a two-language document family lives inside package trees.

  ``tgt_glob`` and ``en_glob`` have the same number of ``*``; a target-language file maps to
  the English file by substituting what the stars matched. ``{lang}`` is the language code,
  ``{LANG}`` its upper-case region (de → DE), as used by e.g. ``de-DE``.
  """

  origin: str  # "lohelp", "mallard", "kde" or "html"
  tgt_glob: str
  en_glob: str


DOC_RULES = (
    DocRule("lohelp", "usr/share/libreoffice/help/{lang}/*.html",
            "usr/share/libreoffice/help/en-US/*.html"),
    DocRule("mallard", "usr/share/help/{lang}/*.page", "usr/share/help/C/*.page"),
    DocRule("kde", "usr/share/doc/HTML/{lang}/*/index.cache.bz2",
            "usr/share/doc/HTML/en/*/index.cache.bz2"),
    DocRule("html", "usr/share/gimp/2.0/help/{lang}/*.html", "usr/share/gimp/2.0/help/en/*.html"),
    DocRule("html", "usr/share/debian-reference/*.{lang}.html",
            "usr/share/debian-reference/*.en.html"),
    DocRule("html", "usr/share/doc/debian-handbook/html/{lang}-{LANG}/*.html",
            "usr/share/doc/debian-handbook/html/en-US/*.html"),
    DocRule("html", "usr/share/doc/debian/FAQ/{lang}/*.{lang}.html",
            "usr/share/doc/debian/FAQ/*.en.html"),
    DocRule("html", "usr/share/doc/maint-guide-{lang}/html/*.{lang}.html",
            "usr/share/doc/maint-guide/html/*.en.html"),
    DocRule("html", "usr/share/developers-reference/{lang}/*.html",
            "usr/share/developers-reference/*.html"),
)
MO_GLOBS = ("*/{lang}/LC_MESSAGES/*.mo", "*/{lang}_{LANG}/LC_MESSAGES/*.mo")
QM_GLOBS = ("*_{lang}.qm", "*.{lang}.qm", "*_{lang}_{LANG}.qm")


def _fill(glob: str, lang: str) -> str:
  return glob.format(lang=lang, LANG=lang.upper())


def tar_patterns(lang: str) -> list[str]:
  """``tar --wildcards`` patterns for every file the extractors read (``*`` matches ``/``)."""
  globs = [*MO_GLOBS, *QM_GLOBS]
  for rule in DOC_RULES:
    globs += [rule.tgt_glob, rule.en_glob]
  return sorted({"*" + _fill(g, lang) if g.startswith("usr/") else _fill(g, lang) for g in globs})


def _glob_regex(glob: str) -> re.Pattern:
  """A path regex for ``glob`` where each ``*`` is a capturing group (it may match ``/``)."""
  parts = [re.escape(p) for p in glob.split("*")]
  return re.compile("(.*)".join(parts) + r"\Z", re.S)


class Job(NamedTuple):
  """One unit of extraction work: a catalog, or an English/target document pair."""

  origin: str
  package: str
  tgt_path: str
  en_path: str = ""


def find_jobs(trees: Mapping[str, str | os.PathLike], lang: str) -> list[Job]:
  """Finds every catalog and two-language document in unpacked package trees.

  ``trees`` maps a package name to the directory it was unpacked into (containing ``usr/``).
  English and target documents may come from different packages (``libreoffice-help-en-us``
  and ``libreoffice-help-de``); the pair is attributed to the package of the translation.
  """
  index: dict[str, str] = {}  # relative path -> absolute path (first package wins)
  owner: dict[str, str] = {}
  for package in sorted(trees):
    root = os.fspath(trees[package])
    for dirpath, _, files in os.walk(root):
      for file in files:
        path = os.path.join(dirpath, file)
        if os.path.islink(path):
          continue
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if rel not in index:
          index[rel], owner[rel] = path, package
  mo = [_glob_regex(_fill(g, lang)) for g in MO_GLOBS]
  qm = [_glob_regex(_fill(g, lang)) for g in QM_GLOBS]
  docs = [(rule, _glob_regex(_fill(rule.tgt_glob, lang)), _fill(rule.en_glob, lang))
          for rule in DOC_RULES]
  jobs = []
  for rel in sorted(index):
    name = "/" + rel
    if rel.endswith(".mo") and any(r.match(name) for r in mo):
      jobs.append(Job("mo", owner[rel], index[rel]))
    elif rel.endswith(".qm") and any(r.match(os.path.basename(rel)) for r in qm):
      jobs.append(Job("qm", owner[rel], index[rel]))
    else:
      for rule, regex, en_glob in docs:
        match = regex.match(rel)
        if match:
          en_rel = _substitute_stars(en_glob, match.groups())
          if en_rel in index and en_rel != rel:
            jobs.append(Job(rule.origin, owner[rel], index[rel], index[en_rel]))
          break
  return jobs


def _substitute_stars(glob: str, values: Sequence[str]) -> str:
  parts = glob.split("*")
  return parts[0] + "".join(v + p for v, p in zip(values, parts[1:]))


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def raw_pairs(job: Job) -> list[tuple[str, str, str]]:
  """(English, target, context) candidates of one job, before cleaning."""
  if job.origin in ("mo", "qm"):
    parse = catalogs.parse_mo if job.origin == "mo" else catalogs.parse_qm
    return [(e.source, e.translation, e.context) for e in parse(_read(job.tgt_path), job.tgt_path)]
  if job.origin == "lohelp":
    en = documents.lohelp_paragraphs(_read(job.en_path).decode("utf-8", errors="replace"))
    tgt = documents.lohelp_paragraphs(_read(job.tgt_path).decode("utf-8", errors="replace"))
    ratio = (sum(map(len, tgt.values())) + 1) / (sum(map(len, en.values())) + 1)
    pairs = [p for k in en if k in tgt for p in alignment.sentence_pairs(en[k], tgt[k], ratio)]
  elif job.origin == "mallard":
    pairs = alignment.align_blocks(documents.mallard_blocks(_read(job.en_path), job.en_path),
                                   documents.mallard_blocks(_read(job.tgt_path), job.tgt_path))
  elif job.origin == "kde":
    en_pages = documents.kde_cache_pages(_read(job.en_path), job.en_path)
    tgt_pages = documents.kde_cache_pages(_read(job.tgt_path), job.tgt_path)
    pairs = []
    for page in sorted(set(en_pages) & set(tgt_pages)):
      pairs += alignment.align_blocks(documents.html_blocks(en_pages[page]),
                                      documents.html_blocks(tgt_pages[page]),
                                      min_anchor_share=alignment.MIN_ANCHOR_SHARE)
  elif job.origin == "html":
    pairs = alignment.align_blocks(
        documents.html_blocks(_read(job.en_path).decode("utf-8", errors="replace")),
        documents.html_blocks(_read(job.tgt_path).decode("utf-8", errors="replace")),
        min_anchor_share=alignment.MIN_ANCHOR_SHARE)
  else:
    raise ValueError(f"unknown job origin {job.origin!r}")
  return [(en, tgt, "") for en, tgt in pairs]


def job_pairs(job: Job) -> tuple[list[Pair], collections.Counter]:
  """Cleaned pairs of one job and counts of why candidates were dropped.

  A file that cannot be parsed is skipped with a warning naming it (counted as
  'bad_file'): one corrupt catalog must not sink a build over hundreds of packages.
  """
  stats: collections.Counter = collections.Counter()
  try:
    candidates = raw_pairs(job)
  except (catalogs.L10nFormatError, OSError, UnicodeError, EOFError) as err:
    logging.warning("Skipping unreadable %s file: %s", job.origin, err)
    stats["bad_file"] += 1
    return [], stats
  pairs = []
  for en, tgt, context in candidates:
    en_n, tgt_n = cleaning.normalize_pair(en, tgt)
    reason = cleaning.reject_reason(en_n, tgt_n, context)
    if reason:
      stats[reason] += 1
    else:
      pairs.append(Pair(en_n, tgt_n, job.package, job.origin))
  stats["kept"] += len(pairs)
  return pairs, stats


def extract_tree_pairs(trees: Mapping[str, str | os.PathLike], lang: str,
                       processes: int = 1) -> tuple[list[Pair], collections.Counter]:
  """All cleaned (not yet de-duplicated) pairs of the given unpacked package trees.

  With ``processes > 1`` jobs run in a process pool; results are collected in job order, and
  :func:`.splits.dedup` does not depend on order anyway.
  """
  jobs = find_jobs(trees, lang)
  # Big document pairs first, so the pool does not end on one long straggler.
  jobs.sort(key=lambda j: (j.origin in ("mo", "qm"), j))
  stats: collections.Counter = collections.Counter()
  pairs: list[Pair] = []
  if processes > 1 and len(jobs) > 1:
    # Not "fork": the builder usually runs inside a process where JAX has already
    # started its thread pools, and forking a multithreaded process can deadlock.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(processes) as pool:
      results = pool.imap(job_pairs, jobs, chunksize=4)
      for job_result, job_stats in results:
        pairs += job_result
        stats += job_stats
  else:
    for job in jobs:
      job_result, job_stats = job_pairs(job)
      pairs += job_result
      stats += job_stats
  stats.update(f"jobs_{j.origin}" for j in jobs)
  return pairs, stats

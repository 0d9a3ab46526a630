"""The verses of the King James Bible, read with Debian's ``bible`` program.

``bible-kjv-text`` ships the text in the Bible Retrieval System's own compressed format
(``usr/lib/bible.data``); ``bible-kjv`` ships the program that reads it. Run from the
unpacked packages (``bible -f -p <dir of bible.data>``) with the one reference
``gen1:1-rev22:21`` on stdin, it prints every verse as ``<Book><chapter>:<verse> <text>``,
e.g. ``Ge1:1 In the beginning God created the heaven and the earth.`` (31,102 verses).

Splits keep chapters whole, so each split is a contiguous stream of whole chapters:
chapter number c (counted over the whole Bible from 0) goes to test when c % 20 == 19, to
validation when c % 20 == 18, else to train -- about 90 / 5 / 5 percent, spread over
every part of the book.
"""
from __future__ import annotations

import os
import re
import subprocess

WHOLE = "gen1:1-rev22:21"
_VERSE = re.compile(r"^(\d?[A-Z][A-Za-z]*)(\d+):(\d+) (.*)$")
NUM_VERSES = 31_102


class KjvError(RuntimeError):
  """The packaged program or its output is not what it must be."""


def run_bible(tree: str, timeout_s: float = 300) -> str:
  """The output of ``<tree>/usr/bin/bible`` over the whole text (tree: unpacked packages)."""
  program = os.path.join(tree, "usr", "bin", "bible")
  data = os.path.join(tree, "usr", "lib")
  for path in (program, os.path.join(data, "bible.data")):
    if not os.path.exists(path):
      raise KjvError(f"{path} is missing: unpack bible-kjv and bible-kjv-text into {tree}")
  try:
    proc = subprocess.run([program, "-f", "-p", data], input=WHOLE + "\n", text=True,
                          capture_output=True, timeout=timeout_s, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise KjvError(f"{program} did not run: {e}") from e
  if proc.returncode:
    raise KjvError(f"{program} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
  return proc.stdout


def parse(output: str) -> list[tuple[str, str]]:
  """[(reference, text)] of every verse in the program's output, in order.

  The program prints the current verse once when it starts (before reading the query);
  a repeated reference is that echo and is dropped. Prompt and banner lines are ignored.
  """
  verses, seen = [], set()
  for line in output.splitlines():
    if "> " in line and line.startswith("bible("):
      line = line.split("> ", 1)[1]  # output that follows a prompt on its line
    m = _VERSE.match(line)
    if not m:
      continue
    ref = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    if ref in seen:
      continue
    seen.add(ref)
    verses.append((ref, m.group(4).strip()))
  return verses


def split_of(chapter_index: int) -> str:
  r = chapter_index % 20
  return "test" if r == 19 else "validation" if r == 18 else "train"


def splits(verses: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
  """split -> its verses, in order; chapters stay whole (module docstring)."""
  out = {"train": [], "validation": [], "test": []}
  chapter, last = -1, None
  for ref, text in verses:
    key = ref.split(":", 1)[0]  # book + chapter
    if key != last:
      chapter, last = chapter + 1, key
    out[split_of(chapter)].append((ref, text))
  return out

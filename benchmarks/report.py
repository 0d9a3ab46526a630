"""Appending a benchmark's result section to BENCHMARKS.md (shared by the scripts here)."""
import os

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BENCHMARKS.md")
HEADER = ("# Benchmarks\n\nSide-by-side runs; ratios > 1 mean seq2seq_jax is faster. "
          "Absolute times are only meaningful on the machine named.\n\n")


def append(lines: list[str], path: str = PATH) -> None:
  """Appends one section (its lines) to BENCHMARKS.md, creating the file with its header."""
  new = not os.path.exists(path)
  with open(path, "a") as f:
    if new:
      f.write(HEADER)
    f.write("\n".join(lines) + "\n")


def publish(lines: list[str], write: bool) -> None:
  """Prints a benchmark's section and, with --write, appends it to BENCHMARKS.md."""
  print("\n".join(lines))
  if write:
    append(lines)

"""Plumbing shared by the colab/ notebooks (not part of the library).

* :func:`load_config` -- a ``configs/*.py`` file's ``get_config(arg)``, as
  ``--config=path:arg`` would load it.
* :func:`write_toy_corpus` -- a generated English->German "software UI" corpus
  (``<dir>/{train,validation,test}.{en,de}``): imperatives such as
  "open the new file" -> "die neue Datei öffnen". German puts the verb last and
  inflects article and adjective by gender, so the model has to reorder and agree,
  not copy word by word, and a tiny attention model learns it in a minute on a CPU.
* :func:`train_with_live_plot` -- runs a ``train_and_evaluate``-style function in a
  background thread and redraws its ``workdir/metrics.jsonl`` while it trains.

The notebooks put the checkout's ``colab/`` folder on ``sys.path`` to import this.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import threading
from typing import Callable

# ----------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------


def load_config(path, arg: str | None = None):
  """``get_config(arg)`` of a config file (e.g. configs/default.py, "runlocal")."""
  path = os.fspath(path)
  name = "nbconfig_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


# ----------------------------------------------------------------------------------------
# A toy software-localization corpus
# ----------------------------------------------------------------------------------------
VERBS = {"open": "öffnen", "save": "speichern", "close": "schließen", "print": "drucken",
         "delete": "löschen", "rename": "umbenennen", "copy": "kopieren", "show": "anzeigen"}
NOUNS = {"file": ("Datei", "f"), "folder": ("Ordner", "m"), "window": ("Fenster", "n"),
         "document": ("Dokument", "n"), "image": ("Bild", "n"), "page": ("Seite", "f"),
         "message": ("Nachricht", "f"), "project": ("Projekt", "n")}
ADJECTIVES = {"new": "neu", "current": "aktuell", "selected": "ausgewählt", "last": "letzt"}
ARTICLE = {"f": "die", "m": "den", "n": "das"}        # accusative definite article
WEAK = {"f": "e", "m": "en", "n": "e"}               # after the article: die neue Datei
STRONG = {"f": "e", "m": "en", "n": "es"}            # no article: neues Fenster


def _clause(rng: random.Random) -> tuple[list[str], list[str]]:
  verb, noun = rng.choice(sorted(VERBS)), rng.choice(sorted(NOUNS))
  article = rng.random() < 0.5
  adj = rng.choice(sorted(ADJECTIVES)) if rng.random() < 0.5 else None
  de_noun, gender = NOUNS[noun]
  en = [verb] + (["the"] if article else []) + ([adj] if adj else []) + [noun]
  de = (([ARTICLE[gender]] if article else [])
        + ([ADJECTIVES[adj] + (WEAK if article else STRONG)[gender]] if adj else [])
        + [de_noun, VERBS[verb]])
  return en, de


def toy_pair(rng: random.Random, clauses: int | None = None) -> tuple[str, str]:
  """One (English, German) pair of `clauses` clauses joined by "and" / "und" (default:
  one, or two with probability 0.4, as in the corpus)."""
  if clauses is None:
    clauses = 2 if rng.random() < 0.4 else 1
  en, de = _clause(rng)
  for _ in range(clauses - 1):
    en2, de2 = _clause(rng)
    en, de = en + ["and"] + en2, de + ["und"] + de2
  return " ".join(en), " ".join(de)


def toy_pairs(n: int, clauses: int | None = None, seed: int = 1) -> tuple[list[str], list[str]]:
  """`n` pairs as (English sentences, German references)."""
  rng = random.Random(seed)
  pairs = [toy_pair(rng, clauses) for _ in range(n)]
  return [p[0] for p in pairs], [p[1] for p in pairs]


def write_toy_corpus(directory, sizes=None, seed: int = 0) -> str:
  """Writes ``<directory>/<split>.en`` and ``.de``; returns the directory."""
  sizes = sizes or {"train": 4000, "validation": 100, "test": 100}
  os.makedirs(directory, exist_ok=True)
  rng = random.Random(seed)
  for split, n in sizes.items():
    pairs = [toy_pair(rng) for _ in range(n)]
    for lang, side in (("en", 0), ("de", 1)):
      with open(os.path.join(directory, f"{split}.{lang}"), "w", encoding="utf-8") as f:
        f.writelines(p[side] + "\n" for p in pairs)
  return os.fspath(directory)


# ----------------------------------------------------------------------------------------
# Live training curves
# ----------------------------------------------------------------------------------------
def read_metrics(workdir) -> list[dict]:
  """The records of ``workdir/metrics.jsonl`` (empty before the first log line)."""
  path = os.path.join(os.fspath(workdir), "metrics.jsonl")
  if not os.path.exists(path):
    return []
  out = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:  # a line being written right now
        break
  return out


def train_with_live_plot(train_fn: Callable[[], dict], workdir, draw: Callable, *,
                         every_s: float = 3.0):
  """Runs ``train_fn()`` in a thread; every `every_s` seconds calls ``draw(fig, records)``
  with the records of ``workdir/metrics.jsonl`` and updates the figure in place.

  Returns what ``train_fn`` returned; re-raises what it raised.
  """
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from IPython.display import display  # pylint: disable=g-import-not-at-top
  result: dict = {}

  def target():
    try:
      result["value"] = train_fn()
    except BaseException as e:  # pylint: disable=broad-except  (re-raised below)
      result["error"] = e

  fig = plt.figure(figsize=(9, 3.2))
  handle = display(fig, display_id=True)
  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  shown = -1
  try:
    while True:
      thread.join(every_s)
      records = read_metrics(workdir)
      if len(records) != shown or not thread.is_alive():
        fig.clf()
        draw(fig, records)
        fig.tight_layout()
        handle.update(fig)
        shown = len(records)
      if not thread.is_alive():
        break
  finally:
    plt.close(fig)
  if "error" in result:
    raise result["error"]
  return result["value"]


def draw_nmt_curves(fig, records: list[dict]):
  """Training loss (per-token NLL) and validation BLEU of a seq2seq run, by step."""
  ax1, ax2 = fig.subplots(1, 2)
  train = [r for r in records if r["split"] == "train"]
  valid = [r for r in records if r["split"] == "validation"]
  ax1.plot([r["step"] for r in train], [r["nll"] for r in train], lw=1.5)
  ax1.set_xlabel("step")
  ax1.set_ylabel("training loss (nats/token)")
  ax1.set_yscale("log")
  ax1.grid(alpha=0.3)
  ax2.plot([r["step"] for r in valid], [r["bleu"] for r in valid], marker="o")
  ax2.set_xlabel("step")
  ax2.set_ylabel("validation BLEU (greedy)")
  ax2.grid(alpha=0.3)
  if train:
    ax1.set_title(f"step {train[-1]['step']}: loss {train[-1]['nll']:.3f}", fontsize=10)



def draw_lm_curves(fig, records: list[dict]):
  """Training and validation perplexity of a language model, by step (log scale)."""
  ax = fig.subplots(1, 1)
  train = [r for r in records if r["split"] == "train"]
  valid = [r for r in records if r["split"] == "validation"]
  ax.plot([r["step"] for r in train], [r["ppl"] for r in train], lw=1.5, label="training")
  ax.plot([r["step"] for r in valid], [r["ppl"] for r in valid], marker="o", label="validation")
  ax.set_xlabel("step")
  ax.set_ylabel("perplexity")
  ax.set_yscale("log")
  ax.grid(alpha=0.3)
  ax.legend()
  if valid:
    ax.set_title(f"step {valid[-1]['step']}: validation perplexity {valid[-1]['ppl']:.1f}",
                 fontsize=10)

"""Shared fixtures: a tiny generated parallel corpus and a tiny training config."""
import importlib.util
import os
import random

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Tests that run the command-line entry points (in-process or as subprocesses) must not
# read or fill the user's compilation cache: each test compiles what it runs.
os.environ["SEQ2SEQ_JAX_COMPILATION_CACHE"] = "off"

WORDS = {"the": "die", "house": "haus", "cat": "katze", "open": "öffnen", "file": "datei",
         "save": "speichern", "window": "fenster", "close": "schließen", "new": "neu",
         "folder": "ordner", "settings": "einstellungen", "print": "drucken"}


def write_toy_corpus(directory, sizes=(("train", 400), ("validation", 24), ("test", 24)), seed=0):
  """Word-for-word 'translation' of random English word strings into German."""
  rng = random.Random(seed)
  en = sorted(WORDS)
  os.makedirs(directory, exist_ok=True)
  for split, n in sizes:
    with open(os.path.join(directory, f"{split}.en"), "w") as fe, \
         open(os.path.join(directory, f"{split}.de"), "w") as fd:
      for _ in range(n):
        s = [rng.choice(en) for _ in range(rng.randint(2, 7))]
        fe.write(" ".join(s) + "\n")
        fd.write(" ".join(WORDS[w] for w in s) + "\n")
  return directory


def load_config(name, arg=None):
  path = os.path.join(REPO, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"config_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def tiny_config(corpus_dir):
  c = load_config("default", "runlocal")
  c.dataset = f"text:{corpus_dir}"
  c.tokenizer.kind = "word"
  c.tokenizer.vocab_size = 64
  c.model.embed_dim, c.model.hidden_dim = 16, 16
  c.tokens_per_batch, c.batch_size = 0, 16
  c.buckets, c.max_len = (12,), 12
  c.eval_max_len = 0  # tests that need longer eval buckets set it themselves
  c.eval_batch_size = 16
  c.num_train_steps = 12
  c.log_every_steps = 1
  c.eval_every_steps = 6
  c.checkpoint_every_steps = 2
  c.max_eval_sentences = 16
  c.num_examples_to_print = 0
  c.progress_bar = False
  c.final_beam = 2
  return c


@pytest.fixture
def toy_corpus(tmp_path):
  return write_toy_corpus(str(tmp_path / "corpus"))

"""Shared fixtures: a tiny generated parallel corpus and a tiny training config."""
import importlib.util
import os
import random
import shutil
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One persistent XLA compilation cache for the whole test session, in a fresh temporary
# directory (never the user's): many tests train or decode the same tiny model, and a
# program compiled once is then loaded by every later test, xdist worker, entry-point
# subprocess and notebook kernel (they inherit the environment). A cached executable is
# the one XLA would compile, so no result changes; the directory is empty at the start
# of each session, so every program still compiles once. The controller creates it
# before xdist starts the workers and removes it at the end (`pytest_unconfigure`).
_CACHE, _CACHE_OWNER = "SEQ2SEQ_JAX_TEST_XLA_CACHE", "SEQ2SEQ_JAX_TEST_XLA_CACHE_OWNER"
if _CACHE not in os.environ:  # the controller (or a run without xdist)
  os.environ[_CACHE] = tempfile.mkdtemp(prefix="seq2seq_jax_test_xla_")
  os.environ[_CACHE_OWNER] = str(os.getpid())
TEST_XLA_CACHE = os.environ[_CACHE]
os.environ["JAX_COMPILATION_CACHE_DIR"] = TEST_XLA_CACHE
# Programs compiling faster than this are cheaper to recompile than to store.
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.2"
# The entry points (main, translate, evaluate) use the same directory.
os.environ["SEQ2SEQ_JAX_COMPILATION_CACHE"] = TEST_XLA_CACHE

# Tests compile with LLVM at -O0 (XLA's backend optimisation level 0): the same HLO
# programs, optimised by the same HLO passes, with machine code generated in less than
# half the time -- most of a tiny training run is compilation (measured: 10.2 -> 4.4 s
# for one tiny translation run; the suite 12.1 -> 8.9 min on 2 cores). Every invariant
# the suite checks compares programs compiled alike or holds a tolerance. The one
# comparison against bits recorded by a production build (`trainer_golden_test`) runs
# its training in a child process at the production level (`PRODUCTION_XLA_FLAGS`).
# SEQ2SEQ_JAX_TEST_PRODUCTION_XLA=1 runs the whole suite at the production level.
PRODUCTION_XLA_FLAGS = os.environ.get(
    "SEQ2SEQ_JAX_TEST_PRODUCTION_XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
os.environ["SEQ2SEQ_JAX_TEST_PRODUCTION_XLA_FLAGS"] = PRODUCTION_XLA_FLAGS  # for workers
if (os.environ.get("SEQ2SEQ_JAX_TEST_PRODUCTION_XLA") != "1"
    and "xla_backend_optimization_level" not in PRODUCTION_XLA_FLAGS):
  os.environ["XLA_FLAGS"] = f"{PRODUCTION_XLA_FLAGS} --xla_backend_optimization_level=0".strip()


def pytest_unconfigure(config):
  del config
  if os.environ.get(_CACHE_OWNER) == str(os.getpid()):
    shutil.rmtree(TEST_XLA_CACHE, ignore_errors=True)

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

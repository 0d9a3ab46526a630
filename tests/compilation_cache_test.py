"""The persistent compilation cache of the entry points: where it lives, switching it off,
errors for an unusable directory, and that a second process reuses what the first stored."""
import os
import subprocess
import sys

import pytest

from seq2seq_jax import compilation_cache as cc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cache_dir_from_environment():
  assert cc.cache_dir({}) == os.path.expanduser(cc.DEFAULT_DIR)
  assert cc.cache_dir({cc.ENV: "/tmp/somewhere"}) == "/tmp/somewhere"
  for off in ("", "off", "OFF", "0", "none"):
    assert cc.cache_dir({cc.ENV: off}) is None


def test_enable_off_returns_none(monkeypatch):
  monkeypatch.setenv(cc.ENV, "off")
  assert cc.enable() is None


def test_unusable_directory_is_an_error_naming_it(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  with pytest.raises(OSError, match="a_file"):
    cc.enable(str(blocker / "cache"))


_PROGRAM = r"""
import sys
import jax, jax.numpy as jnp
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
from seq2seq_jax import compilation_cache
compilation_cache.enable(sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # cache even this
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum(axis=0) * 3.0)
value = float(f(jnp.arange(64.0).reshape(8, 8) / 64.0).sum())
print(repr(value), events.count("/jax/compilation_cache/cache_hits"),
      events.count("/jax/compilation_cache/cache_misses"))
"""


def _run(cache):
  # Not the test session's cache: this process must use only `cache`.
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
  env.update(JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _PROGRAM, cache], capture_output=True, text=True,
                       cwd=REPO, env=env, check=True)
  value, hits, misses = out.stdout.split()
  return value, int(hits), int(misses)


def _entries(cache):
  return sorted(f for _, _, files in os.walk(cache) for f in files)


def test_second_process_reuses_the_stored_executable(tmp_path):
  cache = str(tmp_path / "xla")
  first, hits1, misses1 = _run(cache)
  stored = _entries(cache)
  assert stored and misses1 > 0 and hits1 == 0, (stored, hits1, misses1)
  second, hits2, misses2 = _run(cache)
  assert (hits2, misses2) == (misses1, 0)  # every program the first compiled is loaded
  assert second == first  # and computes the same numbers
  assert _entries(cache) == stored

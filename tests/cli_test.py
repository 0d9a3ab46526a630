"""Errors a user can cause end an entry point with one or two lines and a non-zero exit;
--verbose (or SEQ2SEQ_JAX_VERBOSE=1) shows the traceback; bugs keep theirs.

Cases that need a trained run (non-UTF-8 input, config mismatch, unknown split) are in
translate_test.py, next to its trained run.
"""
import os
import subprocess
import sys

from conftest import REPO, write_toy_corpus

ENV = dict(os.environ, JAX_PLATFORMS="cpu")
MAIN = [sys.executable, "-m", "seq2seq_jax.main", "--config=configs/default.py:runlocal"]


def run(args, env=ENV):
  return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                        stdin=subprocess.DEVNULL, timeout=120)


def assert_user_error(proc, code, *fragments):
  """Exit status `code`, stderr at most two lines, the first naming `fragments`."""
  lines = proc.stderr.splitlines()
  assert proc.returncode == code, proc.stderr
  assert len(lines) <= 2 and "Traceback" not in proc.stderr, proc.stderr
  assert lines[0].startswith("error: ")
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


def test_unknown_config_field_is_one_line_with_the_hint(tmp_path):
  args = MAIN + ["--config.model.hiden_dim=8", f"--workdir={tmp_path}"]
  assert_user_error(run(args), 2, "--config.model.hiden_dim=8",
                    "no field 'hiden_dim'", 'Did you mean "hidden_dim"')
  for verbose in (run(args + ["--verbose"]), run(args, dict(ENV, SEQ2SEQ_JAX_VERBOSE="1"))):
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert verbose.stderr.splitlines()[-2].startswith("error: --config.model.hiden_dim=8")


def test_bad_flags_and_config_arguments_are_one_line(tmp_path):
  wd = f"--workdir={tmp_path}"
  # A config file's own error comes back from ml_collections with its traceback as text.
  assert_user_error(run([sys.executable, "-m", "seq2seq_jax.main", wd,
                         "--config=configs/default.py:bogus"]),
                    2, "unknown config argument 'bogus'")
  assert_user_error(run(MAIN + [wd, "--bogus=1"]), 2, "Unknown command line flag 'bogus'")
  assert_user_error(run(MAIN + [wd, "--config.model.hidden_dim=abc"]), 2, "invalid literal")


def test_translate_refuses_nbest_above_beam(tmp_path):
  proc = run([sys.executable, "-m", "seq2seq_jax.translate", f"--workdir={tmp_path}",
              "--nbest=10", "--beam=5"])
  assert_user_error(proc, 2, "--nbest=10 cannot exceed --beam=5")


def test_translate_on_a_missing_workdir_says_so_and_verbose_shows_the_traceback(tmp_path):
  args = [sys.executable, "-m", "seq2seq_jax.translate", f"--workdir={tmp_path}/nope"]
  assert_user_error(run(args), 1, f"run directory {tmp_path}/nope does not exist")
  verbose = run(args + ["--verbose"])
  assert verbose.returncode == 1
  assert "Traceback" in verbose.stderr and "FileNotFoundError" in verbose.stderr


def test_empty_training_file_names_it_and_leaves_no_tokenizer(tmp_path):
  corpus = write_toy_corpus(str(tmp_path / "corpus"))
  for lang in ("en", "de"):
    open(os.path.join(corpus, f"train.{lang}"), "w").close()
  wd = tmp_path / "run"
  proc = run(MAIN + [f"--workdir={wd}", f"--config.dataset=text:{corpus}"])
  assert_user_error(proc, 1, f"{corpus}/train.en and {corpus}/train.de are empty")
  assert not (wd / "tokenizer").exists()


def test_unknown_software_l10n_config_lists_the_configs(tmp_path):
  proc = run(MAIN + [f"--workdir={tmp_path}", "--config.dataset=software_l10n/en-xx",
                     f"--config.data_dir={tmp_path}/tfds"])
  assert_user_error(proc, 1, "Unknown config 'en-xx'", "en-de, en-fr, en-de-small, en-fr-small")


_RAISING_MAIN = """
from absl import flags
from seq2seq_jax import cli
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)

def main(argv):
  {body}

cli.run(main)
"""


def _raise_in_main(body):
  return run([sys.executable, "-c", _RAISING_MAIN.format(body=body)])


def test_nonfinite_loss_subclass_is_a_user_error_and_a_bug_keeps_its_traceback():
  diverged = _raise_in_main("from seq2seq_jax import trainer\n"
                            "  class Diverged(trainer.NonFiniteLossError): pass\n"
                            "  raise Diverged('loss 1e9 at step 40; stopping')")
  assert_user_error(diverged, 1, "loss 1e9 at step 40; stopping")
  bug = _raise_in_main("raise KeyError('a bug')")
  assert bug.returncode == 1
  assert "Traceback" in bug.stderr and bug.stderr.rstrip().endswith("KeyError: 'a bug'")

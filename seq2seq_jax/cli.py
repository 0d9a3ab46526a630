"""What every command-line entry point (main, translate, evaluate, average) shares: how it
starts (`start`) and how it ends on an error (`run`, which wraps ``absl.app.run``).

The flags themselves stay in each entry point's module; each defines ``--verbose`` (help
text VERBOSE_HELP).

An error a user can cause ends the command with one line on stderr (``error: ...``) and a
hint line, and a non-zero exit status: USAGE_ERROR for a mistake on the command line (an
unknown flag or config field, a flag value that is refused), USER_ERROR for one of the
USER_ERRORS types raised while the command runs. ``--verbose`` or SEQ2SEQ_JAX_VERBOSE=1
prints the traceback before that line. Any other exception is a bug and keeps its
traceback.
"""
from __future__ import annotations

import os
import sys
import traceback

from absl import app, flags, logging

USAGE_ERROR = 2
USER_ERROR = 1
VERBOSE_HELP = ("On an error, print the traceback too (also: environment variable "
                "SEQ2SEQ_JAX_VERBOSE=1).")

# (module, exception type) pairs: the errors a user's input or environment causes.
#   OSError: a file, run directory or checkpoint that is not there, a full disk, a
#     --config file that does not load;
#   DatasetError: an unknown dataset, config, split or language, an empty split;
#   CheckpointMismatchError: a checkpoint of another task, model or tokenizer;
#   NonFiniteLossError (and subclasses): training diverged and stopped.
# Looked up in sys.modules rather than imported: an exception of a type can only have been
# raised once its module was imported, and the error path should not import JAX.
USER_ERRORS = (
    ("builtins", "OSError"),
    ("seq2seq_jax.data.sources.base", "DatasetError"),
    ("seq2seq_jax.checkpoints", "CheckpointMismatchError"),
    ("seq2seq_jax.stops", "NonFiniteLossError"),
    ("seq2seq_jax.stops", "DivergedError"),
    ("seq2seq_jax.config_base", "ConfigError"),
)


def start(argv, *, compilation_cache: bool = True) -> None:
  """Refuses stray arguments, quiets absl's INFO logs and, for commands that compile,
  turns on the persistent XLA cache (later runs load programs instead of recompiling)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  if compilation_cache:
    from seq2seq_jax import compilation_cache as cache  # pylint: disable=g-import-not-at-top
    cache.enable()


def read_lines(stream) -> list[str]:
  """The lines of a binary stream decoded as UTF-8, without their line ends.

  A line that is not valid UTF-8 is decoded with U+FFFD for the bad bytes (and a warning
  with its line number), so it still gets its output line and the other lines are
  processed. Reading bytes also keeps the locale's encoding out of it.
  """
  lines = []
  for number, raw in enumerate(stream, 1):
    # Only "\n" ends a line (text-mode stdin would also split on a lone "\r", changing
    # the line count); a "\r" before it is a Windows line end.
    raw = raw.removesuffix(b"\n").removesuffix(b"\r")
    try:
      lines.append(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
      print(f"warning: line {number} is not valid UTF-8 ({e.reason} at byte {e.start}); "
            "undecodable bytes replaced by U+FFFD", file=sys.stderr)
      lines.append(raw.decode("utf-8", errors="replace"))
  return lines


def run(main) -> None:
  """``absl.app.run(main)``, with user errors reported as described above."""
  app.run(_reporting_user_errors(main), flags_parser=_parse_flags)


def _is_user_error(error: BaseException) -> bool:
  return any(module in sys.modules and isinstance(error, getattr(sys.modules[module], name))
             for module, name in USER_ERRORS)


def _reporting_user_errors(main):
  def wrapped(argv):
    try:
      return main(argv)
    except app.UsageError as e:
      _fail(str(e), USAGE_ERROR)
    except Exception as e:  # pylint: disable=broad-except  (bugs are re-raised)
      if not _is_user_error(e):
        raise
      _fail(_one_line(str(e)), USER_ERROR)
  return wrapped


def _parse_flags(argv):
  """Parses the flags as ``absl.app`` does, but reports a bad flag in one line.

  ml_collections' config flags raise AttributeError or KeyError for an override of a
  field the config does not have (``--config.model.hiden_dim=8``), and OSError for an
  override of a config file that did not load; absl only catches its own flags.Error.
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    _fail(_one_line(str(e)), USAGE_ERROR, argv)
  except (AttributeError, KeyError) as e:
    _fail(_override_error(e, argv), USAGE_ERROR, argv)
  except OSError as e:
    _fail(_one_line(str(e)), USAGE_ERROR, argv)


def _override_error(error: BaseException, argv) -> str:
  """'--config.model.hiden_dim=8: the config has no field 'hiden_dim'. Did you mean ...'"""
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]  # ml_collections wraps its KeyError in an AttributeError
  lines = str(error.args[0] if error.args else error).splitlines() or [""]
  first, rest = lines[0].strip(), " ".join(l.strip() for l in lines[1:] if l.strip())
  key = first.strip("'\"")
  text = f"the config has no field {key!r}" if first != key else first
  text += f". {rest}" if rest else ""
  overrides = [a for a in argv[1:] if a.startswith("--") and "." in a.split("=", 1)[0]]
  named = [a for a in overrides if key in a.split("=", 1)[0].replace("[", ".").split(".")]
  return f"{named[0]}: {text}" if len(named) == 1 else f"config override: {text}"


def _one_line(text: str) -> str:
  """The first and last lines of a message: messages that embed a traceback (config
  files that raise) or list what was tried (config files not found) end with the cause."""
  lines = [l.strip() for l in text.splitlines() if l.strip()]
  if len(lines) <= 2:
    return " ".join(lines)
  return f"{lines[0]} ... {lines[-1]}"


def verbose(argv=None) -> bool:
  """Whether --verbose or SEQ2SEQ_JAX_VERBOSE asks for tracebacks."""
  if os.environ.get("SEQ2SEQ_JAX_VERBOSE", "") not in ("", "0", "false"):
    return True
  if flags.FLAGS.is_parsed() and "verbose" in flags.FLAGS:
    return bool(flags.FLAGS.verbose)
  # Flag parsing failed: the flag may not have been read yet.
  return any(a in ("--verbose", "--verbose=true", "--verbose=1")
             for a in (argv if argv is not None else sys.argv)[1:])


def _fail(message: str, code: int, argv=None):
  if verbose(argv):
    traceback.print_exc()
  hint = ("--help lists the flags" if code == USAGE_ERROR else
          "--verbose or SEQ2SEQ_JAX_VERBOSE=1 shows the traceback")
  print(f"error: {message}\n({hint})", file=sys.stderr)
  sys.exit(code)

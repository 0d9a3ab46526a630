r"""Average the parameters of a run's last N checkpoints into a new checkpoint.

  python -m seq2seq_jax.average --workdir=DIR [--last=3] [--output=DIR/averaged]

The result is an inference checkpoint (params, model config, tokenizer files) at
`<output>/<newest step>`; `translate --workdir=...` reads it with
`--checkpoint=avg` computed on the fly, or point tools at it directly.
"""
import os

from absl import flags

from seq2seq_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory.")
flags.DEFINE_integer("last", 0, "Average the newest N checkpoints (0: all kept ones).")
flags.DEFINE_string("output", None, "Default: <workdir>/averaged.")
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)
flags.mark_flag_as_required("workdir")


def main(argv):
  cli.start(argv, compilation_cache=False)
  if not os.path.isdir(FLAGS.workdir):
    raise FileNotFoundError(f"run directory {FLAGS.workdir} does not exist")
  from seq2seq_jax import checkpoints  # pylint: disable=g-import-not-at-top
  out = FLAGS.output or os.path.join(FLAGS.workdir, "averaged")
  step, steps = checkpoints.average_checkpoints(
      os.path.join(FLAGS.workdir, "checkpoints"), out, last=FLAGS.last)
  print(f"averaged steps {steps} -> {out}/{step}")


if __name__ == "__main__":
  cli.run(main)

r"""Translate stdin to stdout with a trained run.

  python -m seq2seq_jax.translate --workdir=DIR [--beam=5 --alpha=0.6 --beta=0.0 \
      --nbest=3 --checkpoint=best|last|avg] < input.txt > output.txt

One translation per input line, in input order (n-best: `index<TAB>score<TAB>
hypothesis` lines, best first). Input and output are UTF-8 whatever the locale; bytes
that are not UTF-8 are replaced by U+FFFD with a warning naming the line. Empty lines
give empty lines; lines longer than the run's limit (its config's eval_max_len, else
max_len) are truncated with a warning on stderr. Several comma-separated workdirs decode
as an ensemble (averaged probabilities).
"""
import sys

from absl import app, flags

from seq2seq_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_list("workdir", None, "Run directory, or several (comma-separated) for an ensemble.")
flags.DEFINE_enum("checkpoint", "best", ["best", "last", "avg"], "Which parameters to use.")
flags.DEFINE_integer("beam", 5, "Beam size; 1 = greedy.")
flags.DEFINE_float("alpha", 0.6, "GNMT length penalty alpha.")
flags.DEFINE_float("beta", 0.0, "GNMT coverage penalty beta.")
flags.DEFINE_integer("nbest", 1, "Hypotheses per line; > 1 writes TSV (index, score, text).")
flags.DEFINE_integer("batch_size", None, "Sentences per compiled batch (default: 32 for beam "
                     "search, 64 greedy).")
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)
flags.mark_flag_as_required("workdir")


def main(argv):
  cli.start(argv)
  if FLAGS.nbest < 1 or FLAGS.beam < 1:
    raise app.UsageError("--beam and --nbest must be >= 1")
  if FLAGS.nbest > FLAGS.beam:
    raise app.UsageError(f"--nbest={FLAGS.nbest} cannot exceed --beam={FLAGS.beam}: the "
                         "search keeps only --beam hypotheses")
  if FLAGS.batch_size is not None and FLAGS.batch_size < 1:
    raise app.UsageError("--batch_size must be >= 1")
  from seq2seq_jax.inference import predictor  # pylint: disable=g-import-not-at-top
  tr = predictor.load_predictor(FLAGS.workdir, FLAGS.checkpoint)
  lines = cli.read_lines(sys.stdin.buffer)
  results = tr.translate(lines, beam=FLAGS.beam, alpha=FLAGS.alpha, beta=FLAGS.beta,
                         nbest=FLAGS.nbest, batch_size=FLAGS.batch_size)
  rows = []
  for i, hyps in enumerate(results):
    if FLAGS.nbest == 1:
      rows.append(hyps[0].text)
    else:
      rows.extend(f"{i}\t{h.score:.4f}\t{h.text}" for h in hyps[:FLAGS.nbest])
  sys.stdout.buffer.write("".join(r + "\n" for r in rows).encode("utf-8"))
  sys.stdout.buffer.flush()


if __name__ == "__main__":
  cli.run(main)

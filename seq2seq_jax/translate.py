r"""Translate stdin to stdout with a trained run.

  python -m seq2seq_jax.translate --workdir=DIR [--beam=5 --alpha=0.6 --beta=0.0 \
      --nbest=3 --checkpoint=best|last|avg] < input.txt > output.txt

One translation per input line, in input order (n-best: `index<TAB>score<TAB>
hypothesis` lines, best first). Empty lines give empty lines; lines longer than
the run's limit (its config's eval_max_len, else max_len) are truncated with a warning
on stderr. Several comma-separated
workdirs decode as an ensemble (averaged probabilities).
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
flags.mark_flag_as_required("workdir")


def main(argv):
  cli.start(argv)
  from seq2seq_jax.inference import predictor  # pylint: disable=g-import-not-at-top
  if FLAGS.nbest < 1 or FLAGS.beam < 1:
    raise app.UsageError("--beam and --nbest must be >= 1")
  tr = predictor.load_predictor(FLAGS.workdir, FLAGS.checkpoint)
  lines = [line.rstrip("\n") for line in sys.stdin]
  results = tr.translate(lines, beam=FLAGS.beam, alpha=FLAGS.alpha, beta=FLAGS.beta,
                         nbest=FLAGS.nbest, batch_size=FLAGS.batch_size)
  out = sys.stdout
  for i, hyps in enumerate(results):
    if FLAGS.nbest == 1:
      out.write(hyps[0].text + "\n")
    else:
      for h in hyps[:FLAGS.nbest]:
        out.write(f"{i}\t{h.score:.4f}\t{h.text}\n")
  out.flush()


if __name__ == "__main__":
  app.run(main)

r"""Evaluate a trained run on a split and write the analysis.

  python -m seq2seq_jax.evaluate --workdir=DIR [--split=test --beam=5 --alpha=0.6 \
      --checkpoint=best --heatmaps=3 --output_dir=DIR/eval_test]

Writes hypotheses.txt, metrics.json (sacreBLEU BLEU/chrF/TER with signatures,
WER, ROUGE, length ratio, repetition rates, rare-word recall, <unk> rate),
bleu_by_length.tsv/.png and attention_<i>.png heatmaps.
"""
import json
import os

from absl import flags

from seq2seq_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_list("workdir", None, "Run directory (several: an ensemble).")
flags.DEFINE_string("split", "test", "Dataset split to evaluate.")
flags.DEFINE_enum("checkpoint", "best", ["best", "last", "avg"], "Which parameters.")
flags.DEFINE_integer("beam", 5, "Beam size; 1 = greedy.")
flags.DEFINE_float("alpha", 0.6, "GNMT length penalty.")
flags.DEFINE_float("beta", 0.0, "GNMT coverage penalty.")
flags.DEFINE_integer("limit", 0, "Evaluate only the first N pairs (0: all).")
flags.DEFINE_integer("heatmaps", 3, "Attention heatmaps for the first N sentences.")
flags.DEFINE_string("output_dir", None, "Default: <workdir>/eval_<split>.")
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)
flags.mark_flag_as_required("workdir")


def main(argv):
  cli.start(argv)
  from seq2seq_jax import evaluation_run  # pylint: disable=g-import-not-at-top
  out_dir = FLAGS.output_dir or os.path.join(FLAGS.workdir[0], f"eval_{FLAGS.split}")
  report = evaluation_run.evaluate_run(
      FLAGS.workdir, FLAGS.split, out_dir, checkpoint=FLAGS.checkpoint, beam=FLAGS.beam,
      alpha=FLAGS.alpha, beta=FLAGS.beta, limit=FLAGS.limit, heatmaps=FLAGS.heatmaps)
  print(json.dumps({k: v for k, v in report.items() if k != "bleu_by_length"}, indent=1))


if __name__ == "__main__":
  cli.run(main)

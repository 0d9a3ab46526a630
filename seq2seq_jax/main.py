"""Command line: train and evaluate a config.

  python -m seq2seq_jax.main --config=configs/default.py --workdir=workdir/default
  python -m seq2seq_jax.main --config=configs/default.py:runlocal --workdir=/tmp/smoke \
      --config.model.hidden_dim=256 --config.num_train_steps=500

This is the only module that defines flags; everything else is functions
(`train.train_and_evaluate(config, workdir)`) that tests and notebooks call.
"""
from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, tokenizers and logs.")
config_flags.DEFINE_config_file("config", None, "Training configuration file (configs/*.py).",
                                lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from seq2seq_jax import train  # pylint: disable=g-import-not-at-top  (after flag parsing)
  logging.set_verbosity(logging.WARNING)
  final = train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  for split in ("validation", "test"):
    if split in final:
      r = final[split]
      print(f"{split}: BLEU {r['bleu']:.2f}  chrF2 {r['chrf']:.2f}  ppl {r['ppl']:.2f}")
      print(f"  {r['bleu_signature']}\n  {r['chrf_signature']}")


if __name__ == "__main__":
  app.run(main)

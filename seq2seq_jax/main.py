"""Command line: train and evaluate a config, or run a paper reproduction.

  python -m seq2seq_jax.main --config=configs/default.py --workdir=workdir/default
  python -m seq2seq_jax.main --config=configs/default.py:runlocal --workdir=/tmp/smoke \
      --config.model.hidden_dim=256 --config.num_train_steps=500
  python -m seq2seq_jax.main --experiment=experiments/sutskever2014 --size=cpu \
      --workdir=workdir/sutskever2014 [--variants=forward,reversed] [--set=data_dir=/data]

Only the entry points (this module, translate, evaluate, average) define flags;
everything else is functions (`trainer.train_and_evaluate(config, workdir)`,
`experiment.run(...)`) that tests and notebooks call. `config.task` picks the task
(`seq2seq_jax.tasks`). A user error (bad flag, missing file, diverged run...) ends with a
one-line message; --verbose shows its traceback (`seq2seq_jax.cli`).
"""
from absl import app, flags

from seq2seq_jax import cli
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, tokenizers and logs.")
config_flags.DEFINE_config_file("config", None, "Training configuration file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("experiment", None, "An experiments/<paper> folder: trains all its "
                    "variants and writes experiments/<paper>/results/<size>.json.")
flags.DEFINE_enum("size", "cpu", ["tiny", "cpu", "full"], "Scale of --experiment.")
flags.DEFINE_list("variants", None, "Subset of the experiment's variants (default: all).")
flags.DEFINE_multi_string("set", [], "key=value overrides for every experiment variant "
                          "(e.g. data_dir=/path, num_seeds=1); values are parsed as Python "
                          "literals when possible.")
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)
flags.mark_flags_as_required(["workdir"])


def _literal(text):
  import ast  # pylint: disable=g-import-not-at-top
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def main(argv):
  cli.start(argv)
  if FLAGS.experiment:
    if FLAGS.config is not None:
      raise app.UsageError("give either --config or --experiment, not both")
    from seq2seq_jax import experiment  # pylint: disable=g-import-not-at-top
    overrides = {}
    for item in FLAGS.set:
      key, sep, value = item.partition("=")
      if not sep:
        raise app.UsageError(f"--set expects key=value, got {item!r}")
      overrides[key] = _literal(value)
    experiment.run(FLAGS.experiment, FLAGS.size, FLAGS.workdir, variants=FLAGS.variants,
                   overrides=overrides)
    return
  if FLAGS.config is None:
    raise app.UsageError("--config (or --experiment) is required")
  from seq2seq_jax import tasks, trainer  # pylint: disable=g-import-not-at-top  (after flags)
  final = trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  for line in tasks.get(FLAGS.config.get("task", "translation")).summary_lines(final):
    print(line)

if __name__ == "__main__":
  cli.run(main)

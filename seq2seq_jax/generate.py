r"""Continue text with a trained language model.

  python -m seq2seq_jax.generate --workdir=DIR --prompt="the company said" \
      [--beam=5 | --temperature=0.8 --top-k=40 --top-p=0.9 --num-samples=3] \
      [--max-len=30 --seed=0 --checkpoint=best|last|avg]

Without --prompt, prompts are read from stdin, one per line (UTF-8; undecodable bytes
replaced, with a warning naming the line). One output line per continuation: the prompt,
" | ", the generated text (up to <eos>, the end of the line, or --max-len tokens, the
<eos> included). Decoder: --beam > 1 beam search; else sampling if any of
--temperature, --top-k, --top-p or --num-samples is given; else greedy. Tokens of a
prompt that the vocabulary lacks are read as <unk>, said on stderr.
"""
import sys

from absl import app, flags

from seq2seq_jax import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory of a language model.")
flags.DEFINE_enum("checkpoint", "best", ["best", "last", "avg"], "Which parameters to use.")
flags.DEFINE_string("prompt", None, "The text to continue (default: stdin, one per line).")
flags.DEFINE_integer("beam", 1, "Beam size; > 1 = beam search.")
flags.DEFINE_float("temperature", None, "Sampling temperature (> 0).")
flags.DEFINE_integer("top-k", None, "Sample from the k most likely tokens (0 = all).")
flags.DEFINE_float("top-p", None, "Nucleus sampling: the most likely tokens of this mass.")
flags.DEFINE_integer("num-samples", None, "Samples per prompt.")
flags.DEFINE_integer("max-len", 30, "Tokens to generate at most, <eos> included.")
flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.DEFINE_integer("seed_index", None, "A multi-seed run's seed to use (default: the first).")
flags.DEFINE_bool("verbose", False, cli.VERBOSE_HELP)
flags.mark_flag_as_required("workdir")


def decoder_options() -> dict:
  """The generate() arguments the flags ask for; a UsageError for a refused value."""
  f = FLAGS
  top_k, top_p, n, temp = f["top-k"].value, f["top-p"].value, f["num-samples"].value, \
      f.temperature
  max_len = f["max-len"].value
  if max_len < 1:
    raise app.UsageError(f"--max-len must be >= 1 (tokens generated, <eos> included), got "
                         f"{max_len}")
  if f.beam < 1:
    raise app.UsageError(f"--beam must be >= 1, got {f.beam}")
  sampling = any(v is not None for v in (top_k, top_p, n, temp))
  if f.beam > 1 and sampling:
    raise app.UsageError("--beam > 1 is beam search: it takes none of --temperature, --top-k, "
                         "--top-p, --num-samples")
  if temp is not None and temp <= 0:
    raise app.UsageError(f"--temperature must be > 0, got {temp}")
  if top_k is not None and top_k < 0:
    raise app.UsageError(f"--top-k must be >= 0, got {top_k}")
  if top_p is not None and not 0 < top_p <= 1:
    raise app.UsageError(f"--top-p must be in (0, 1], got {top_p}")
  if n is not None and n < 1:
    raise app.UsageError(f"--num-samples must be >= 1, got {n}")
  if f.beam > 1:
    return dict(method="beam", beam=f.beam, max_len=max_len)
  if sampling:
    return dict(method="sample", temperature=temp or 1.0, top_k=top_k or 0,
                top_p=1.0 if top_p is None else top_p, num_samples=n or 1, seed=f.seed,
                max_len=max_len)
  return dict(method="greedy", max_len=max_len)


def main(argv):
  cli.start(argv)
  options = decoder_options()
  from seq2seq_jax.inference import predictor  # pylint: disable=g-import-not-at-top
  gen = predictor.load_predictor(FLAGS.workdir, FLAGS.checkpoint, seed_index=FLAGS.seed_index)
  if not hasattr(gen, "generate"):
    raise app.UsageError(f"{FLAGS.workdir} is not a language model run")
  prompts = [FLAGS.prompt] if FLAGS.prompt is not None else cli.read_lines(sys.stdin.buffer)
  if not prompts:
    return
  rows = []
  for prompt, continuations in zip(prompts, gen.generate(prompts, **options)):
    rows.extend(f"{prompt} | {text}" for text in continuations)
  sys.stdout.buffer.write("".join(r + "\n" for r in rows).encode("utf-8"))
  sys.stdout.buffer.flush()


if __name__ == "__main__":
  cli.run(main)

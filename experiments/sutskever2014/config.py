r"""Sutskever, Vinyals & Le (2014): reversing the source helps an LSTM encoder-decoder
without attention.

Paper (WMT'14 en->fr, 4-layer LSTM 1000 units, no attention): test BLEU 25.9 -> 30.6 and
perplexity 5.8 -> 4.7 when the source sentence is read backwards.
Ours: software-l10n en->de, same model family (no attention, the encoder's final
state copied into the decoder), forward vs reversed source, 2 seeds at once.

  python -m seq2seq_jax.main --experiment=experiments/sutskever2014 --size=cpu \
      --workdir=workdir/sutskever2014
Hardware/time: 2 CPU cores, 38 min for both variants (README.md has the numbers).
Expected (cpu, 2 seeds): test BLEU 0.72 -> 0.84 and perplexity 49.9 -> 49.5, forward ->
reversed (both gaps within the spread over seeds).
`--size=full` is the paper's 4x1000 model for a GPU/TPU.
"""
from seq2seq_jax import config_base

VARIANTS = ("forward", "reversed")
ANALYSES = ()


def get_config(arg=None):
  args = config_base.parse_arg(arg, size="cpu", variant="forward")
  config_base.check_variant(args.variant, VARIANTS)
  c = config_base.nmt_config(args.size)
  c.model.update(attention="none", input_feeding=False, bridge="copy")
  c.reverse_source = args.variant == "reversed"
  if args.size == "full":  # the paper: SGD 0.7, halved every half epoch after 5 epochs
    c.model.dropout = 0.2
  return c

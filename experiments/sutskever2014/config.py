r"""Sutskever, Vinyals & Le (2014): reversing the source helps an LSTM encoder-decoder
without attention.

Paper (WMT'14 en->fr, 4-layer LSTM 1000 units, no attention): test BLEU 25.9 -> 30.6 and
perplexity 5.8 -> 4.7 when the source sentence is read backwards.
Ours: software-l10n en->de, same model family (no attention, the encoder's final
state copied into the decoder), forward vs reversed source, 2 seeds at once.

  python -m seq2seq_jax.main --experiment=experiments/sutskever2014 --size=cpu \
      --workdir=workdir/sutskever2014
Hardware/time: 2 CPU cores, see README.md for the measured minutes and numbers.
`--size=full` is the paper's 4x1000 model for a GPU/TPU.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nmt_base  # noqa: E402  pylint: disable=g-import-not-at-top

VARIANTS = ("forward", "reversed")
ANALYSES = ()


def get_config(arg=None):
  args = nmt_base.common.parse_arg(arg, size="cpu", variant="forward")
  if args.variant not in VARIANTS:
    raise ValueError(f"unknown variant {args.variant!r}; expected one of {VARIANTS}")
  c = nmt_base.nmt_config(args.size)
  c.model.update(attention="none", input_feeding=False, bridge="copy")
  c.reverse_source = args.variant == "reversed"
  if args.size == "full":  # the paper: SGD 0.7, halved every half epoch after 5 epochs
    c.model.dropout = 0.2
  return c

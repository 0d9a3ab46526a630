r"""Bahdanau, Cho & Bengio (2015): attention (RNNsearch) vs a fixed-length context
vector (RNNencdec), BLEU by source-sentence length.

Paper (WMT'14 en->fr, GRU-like units, 1000 hidden): RNNsearch-50 keeps its BLEU on
sentences of 50+ words while RNNencdec-50 falls steadily with length (Fig. 2);
overall test BLEU 26.75 vs 17.82 (all sentences, RNNsearch-50 vs RNNencdec-50).
Ours: software-l10n en->de, GRU (Cho's reset-before variant) encoder-decoders;
RNNencdec: unidirectional encoder, its final state initialises the decoder (the
paper also feeds it to every decoder step; we use the initial state only);
RNNsearch: bidirectional encoder with additive (Bahdanau) attention.

  python -m seq2seq_jax.main --experiment=experiments/bahdanau2015 --size=cpu \
      --workdir=workdir/bahdanau2015
Hardware/time: 2 CPU cores, 47 min for both variants (README.md has the numbers).
Expected (cpu, 2 seeds): test BLEU 3.21 (RNNsearch) vs 1.29 (RNNencdec); on sources of
> 20 words 1.66 vs 1.36. The plot is results/cpu_bleu_by_length.png.
"""
from seq2seq_jax import config_base

VARIANTS = ("rnnencdec", "rnnsearch")
ANALYSES = ("bleu_by_length",)


def get_config(arg=None):
  args = config_base.parse_arg(arg, size="cpu", variant="rnnsearch")
  config_base.check_variant(args.variant, VARIANTS)
  c = config_base.nmt_config(args.size)
  c.model.update(cell="gru", input_feeding=False, bridge="linear")
  if args.variant == "rnnsearch":
    c.model.update(bidirectional="all", attention="bahdanau")
  else:
    c.model.update(bidirectional="none", attention="none")
  if args.size == "full":
    c.model.update(encoder_layers=1, decoder_layers=1, embed_dim=620, hidden_dim=1000)
  return c

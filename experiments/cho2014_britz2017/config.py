r"""Cho et al. (2014) / Britz et al. (2017): LSTM vs GRU vs vanilla RNN at equal
parameter count, and a beam-width x length-penalty sweep.

Britz et al. 2017 ("Massive Exploration of NMT Architectures", WMT'15 en->de,
newstest2013 BLEU, Table 2): LSTM 22.22, GRU 21.78, vanilla RNN not trainable at their
depth (Cho 2014 introduced the GRU as a lighter gated unit). Beam search: beam 5-10 with
a length penalty is best, about 1 BLEU over greedy decoding; a badly tuned beam costs 1-2
BLEU.
Ours: software-l10n en->de, bidirectional encoder with additive attention; hidden sizes
chosen so every model has 1.16M parameters (+-0.3%) with the 2000-piece vocabulary.

  python -m seq2seq_jax.main --experiment=experiments/cho2014_britz2017 --size=cpu \
      --workdir=workdir/cho2014_britz2017
Hardware/time: 2 CPU cores, 32-36 min per variant plus ~6 for the sweep: 107 min in all.
Expected (cpu, 2 seeds): test BLEU LSTM 2.22, GRU 3.93, RNN 4.71 (Britz's ordering does
not reproduce at this scale, README.md says why); validation BLEU beam 10 + alpha 1.0
2.71 vs greedy 2.29. Plot: results/cpu_beam_sweep_lstm.png.
"""
from seq2seq_jax import config_base

# Hidden sizes of equal total parameter count (E=128, V=2000, 1+1 layers,
# bidirectional encoder, additive attention): 1,164,624 / 1,161,094 / 1,163,800.
HIDDEN = {"lstm": 128, "gru": 142, "rnn": 180}
VARIANTS = ("lstm", "gru", "rnn")
ANALYSES = ("beam_sweep",)


def get_config(arg=None):
  args = config_base.parse_arg(arg, size="cpu", variant="lstm")
  config_base.check_variant(args.variant, VARIANTS)
  c = config_base.nmt_config(args.size)
  c.model.update(cell=args.variant, bidirectional="all", attention="bahdanau",
                 input_feeding=False, bridge="linear", dropout=0.1)
  if args.size == "cpu":
    c.model.hidden_dim = HIDDEN[args.variant]
  elif args.size == "full":  # Britz's base: 2+2 layers, 512 units, 4 seeds in the paper
    c.model.update(encoder_layers=2, decoder_layers=2, bidirectional="first",
                   hidden_dim={"lstm": 512, "gru": 572, "rnn": 732}[args.variant])
  c.beam_sweep = args.variant == "lstm"
  # The sweep decodes 10 settings per model: at tiny size (CI) a few sentences suffice.
  c.beam_sweep_sentences = 32 if args.size == "tiny" else 500
  return c

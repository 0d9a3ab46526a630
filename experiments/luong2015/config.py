r"""Luong, Pham & Manning (2015): the ladder of Table 1 and the attention variants.

Paper (WMT'14 en->de, 4-layer LSTM 1000 units), test BLEU (Table 1):
  base 11.3; +reverse 12.6; +dropout 14.0; +global attention (location) 16.8;
  +feed input 18.1; +local-p attention (general) + feed input 19.0.
Attention variants (Table 4, with feed input, before unk replacement; BLEU):
  global location 18.1, global dot 18.6, global general 17.3, local-m dot *,
  local-m general 18.6, local-p dot 18.0 (*: did not train well), local-p general 19.0.
Ours: software-l10n en->de at CPU scale; each rung adds one thing to the previous.

  python -m seq2seq_jax.main --experiment=experiments/luong2015 --size=cpu \
      --workdir=workdir/luong2015 [--variants=base,reverse,...]
Hardware/time: 2 CPU cores, 10-22 min per variant, about 2.5 hours for all ten.
Expected (cpu, 2 seeds), test BLEU: base 0.67, reverse 0.69, dropout 0.72, global
location 0.99, feed input 0.89, local-p general 1.26; global dot 2.14, global general
2.18, global concat 1.81, local-m general 1.21 (README.md).
"""
from seq2seq_jax import config_base

LADDER = ("base", "reverse", "dropout", "global_location", "feed_input", "local_p_general")
# With feed input, like the ladder's top rungs (global location = "feed_input",
# local-p general = "local_p_general"). Local attention here scores with
# "general" only, so the paper's local-m/local-p dot rows are not run.
ATTENTION = ("global_dot", "global_general", "global_concat", "local_m_general")
VARIANTS = LADDER + ATTENTION
ANALYSES = ("bleu_by_length",)  # the form of the paper's Fig. 6 (BLEU by sentence length)


def get_config(arg=None):
  args = config_base.parse_arg(arg, size="cpu", variant="base")
  config_base.check_variant(args.variant, VARIANTS)
  c = config_base.nmt_config(args.size)
  v = args.variant
  # Luong's models: unidirectional stacked LSTM, decoder initialised with the
  # encoder's final states.
  c.model.update(attention="none", input_feeding=False, bridge="copy")
  rung = LADDER.index(v) if v in LADDER else len(LADDER)  # variants sit on the full ladder
  c.reverse_source = rung >= 1
  c.model.dropout = 0.2 if rung >= 2 else 0.0
  if rung >= 3:
    c.model.attention = "location"
  if rung >= 4:
    c.model.input_feeding = True
  if rung >= 5:
    c.model.attention = "local_p"  # Luong's local-p uses the general score
  if v in ATTENTION:
    c.model.attention = {"global_dot": "dot", "global_general": "general",
                         "global_concat": "concat", "local_m_general": "local_m"}[v]
  if args.size == "full":
    c.model.local_window = 10
  else:
    c.model.local_window = 5  # the corpus' sentences are short (median 7 words)
  return c

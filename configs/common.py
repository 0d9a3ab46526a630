"""Shared config pieces: parsing `get_config(arg)` strings (big_vision style)."""
import ml_collections


def parse_arg(arg, **defaults):
  """'runlocal,hidden=128' -> ConfigDict(runlocal=True, hidden=128) over `defaults`."""
  out = ml_collections.ConfigDict(defaults)
  for part in filter(None, (arg or "").split(",")):
    key, _, value = part.partition("=")
    if key not in out:
      raise ValueError(f"unknown config argument {key!r}; known: {sorted(out.keys())}")
    if not value:
      out[key] = True
    else:
      out[key] = type(out[key])(value) if out[key] is not None else value
  return out


def base_config():
  """Fields every training config has, with their defaults."""
  c = ml_collections.ConfigDict()
  c.dataset = "software_l10n/en-de-small"
  c.data_dir = ml_collections.config_dict.placeholder(str)
  c.src_lang, c.tgt_lang = "en", "de"
  c.max_train_examples = ml_collections.config_dict.placeholder(int)

  c.tokenizer = ml_collections.ConfigDict(dict(
      kind="sentencepiece", model_type="unigram", vocab_size=8000, joint=True,
      character_coverage=1.0, max_train_sentences=300_000))
  c.max_len = 64
  c.buckets = (16, 24, 32, 48, 64)
  # Batches are sized by tokens (tokens_per_batch) or, when that is 0, by sentences.
  c.batch_size = 0
  c.tokens_per_batch = 4096
  c.eval_batch_size = 128
  c.reverse_source = False
  # Longest sentence (tokens, EOS included) evaluation and translation read and write;
  # 0: max_len. Larger values add longer eval buckets (input_pipeline.eval_buckets), so
  # test sentences longer than the training limit are translated whole, not cut.
  c.eval_max_len = 0

  c.model = ml_collections.ConfigDict(dict(
      cell="lstm", embed_dim=256, hidden_dim=512, encoder_layers=2, decoder_layers=2,
      bidirectional="first", attention="general", attention_dim=None, local_window=10,
      input_feeding=True, bridge="linear", residual_start=None, dropout=0.2,
      tie_embeddings=False, share_embeddings=False, max_source_len=128,
      compute_dtype="float32", forget_bias=1.0,
      remat_chunk=0))  # >0: recompute scans in chunks of this many steps (long sequences)

  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, schedule="rsqrt", warmup_steps=500, clip_norm=1.0,
      b1=0.9, b2=0.999, eps=1e-8))
  c.label_smoothing = 0.1
  # Output layer + loss with the logits' gradient in closed form (nn/output_loss.py): no
  # BxTxV array kept for the backward pass. loss_chunk > 0 (implies it) also makes the
  # logits that many target steps at a time (long targets, large V). Same update.
  c.fused_loss = True
  c.loss_chunk = 0
  c.grad_accum_steps = 1
  c.num_train_steps = 20_000
  c.log_every_steps = 50
  c.eval_every_steps = 2_000
  c.checkpoint_every_steps = 1_000
  c.keep_checkpoints = 3
  c.max_eval_sentences = 500
  c.num_examples_to_print = 3
  c.final_beam = 5  # final validation/test scores use beam search; periodic ones greedy
  c.eval_alpha = 0.6
  # Which parameters the final scores use: "best" (by validation BLEU) or "last".
  c.final_checkpoint = "best"
  c.early_stopping_patience = 0  # evaluations without a better validation BLEU; 0: off
  c.train_time_budget_minutes = 0.0  # stop (and evaluate) after this much training; 0: off
  c.progress_bar = True
  c.seed = 0
  # Seeds config.seed, ..., config.seed + num_seeds - 1 train at once (vmapped), on the same
  # batches; their order comes from data_seed (None: config.seed).
  c.num_seeds = 1
  c.data_seed = ml_collections.config_dict.placeholder(int)
  return c


def runlocal(c):
  """Shrinks any config to a smoke run of a minute on a laptop CPU."""
  c.dataset = c.dataset
  c.max_train_examples = 2000
  c.tokenizer.vocab_size = 1000
  c.model.embed_dim, c.model.hidden_dim = 32, 64
  c.model.encoder_layers = c.model.decoder_layers = 1
  c.tokens_per_batch, c.batch_size = 1024, 0
  c.buckets, c.max_len = (16, 32), 32
  c.num_train_steps = 30
  c.log_every_steps = c.eval_every_steps = c.checkpoint_every_steps = 10
  c.max_eval_sentences = 50
  c.optimizer.warmup_steps = 5
  return c

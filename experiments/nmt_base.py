"""Shared settings of the translation experiments (software-l10n en->de).

`size`:
* tiny: CI smoke run on the generated `synthetic/reverse` corpus (seconds).
* cpu:  en-de-small (129k pairs), 1-layer 128-unit models, 2 seeds trained at
        once by vmap, 3000 steps of 2048-token batches (about three epochs):
        ~25 min per variant on 2 idle cores (0.45 s/step for both seeds, plus
        scoring). One epoch (1000 steps, 8-10 min) was tried first: no model
        translated yet (test BLEU < 1) and the attention model was still behind
        the fixed-vector one in perplexity, so no claim could be read from it
        (bahdanau2015/README.md has both points). The claims are about
        differences between variants, each mean +- std over the seeds.
* full: en-de (224k pairs), the papers' depth and width; for a GPU/TPU.
Each experiment's config.py overrides the model per variant.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "configs"))
import common  # noqa: E402  pylint: disable=g-import-not-at-top


def nmt_config(size: str):
  c = common.base_config()
  c.dataset = "software_l10n/en-de-small"
  c.data_dir = os.path.join(REPO, "data", "tfds")  # the same place `make demo` builds into
  c.tokenizer.vocab_size = 2000
  c.max_len = 64
  c.buckets = (16, 32, 48, 64)
  c.tokens_per_batch = 2048
  c.model.update(cell="lstm", embed_dim=128, hidden_dim=128, encoder_layers=1,
                 decoder_layers=1, bidirectional="none", attention="none",
                 input_feeding=False, bridge="copy", dropout=0.0)
  c.optimizer.update(learning_rate=2e-3, warmup_steps=200, schedule="rsqrt")
  c.label_smoothing = 0.0  # perplexities stay comparable with the papers'
  c.num_train_steps = 3000
  c.eval_every_steps = 500
  c.checkpoint_every_steps = 500
  c.max_eval_sentences = 300
  c.final_beam = 5
  # Variants are compared after the same number of steps. Best-by-BLEU would pick among
  # checkpoints by noise while BLEU is below 1 (a no-attention model at cpu size).
  c.final_checkpoint = "last"
  c.num_seeds = 2
  c.progress_bar = False
  if size == "full":
    c.dataset = "software_l10n/en-de"
    c.tokenizer.vocab_size = 16000
    c.model.update(embed_dim=512, hidden_dim=1000, encoder_layers=4, decoder_layers=4)
    c.tokens_per_batch = 16384
    c.num_train_steps = 30_000
    c.eval_every_steps = 2000
    c.checkpoint_every_steps = 2000
    c.num_seeds = 3
    c.model.compute_dtype = "bfloat16"
  elif size == "tiny":
    c.dataset = "synthetic/reverse"
    c.tokenizer.kind = "word"
    c.tokenizer.vocab_size = 64
    c.max_train_examples = 400
    c.model.update(embed_dim=16, hidden_dim=16, max_source_len=32)
    c.tokens_per_batch, c.batch_size = 0, 16
    c.buckets, c.max_len = (24,), 24
    c.eval_batch_size = 16
    c.num_train_steps = 6
    c.eval_every_steps = c.checkpoint_every_steps = 3
    c.log_every_steps = 3
    c.max_eval_sentences = 16
    c.num_examples_to_print = 0
    c.final_beam = 2
    c.optimizer.warmup_steps = 2
  return c


"""Shared config pieces, imported by every config file as ``from seq2seq_jax import
config_base``.

* ``parse_arg``: the ``get_config(arg)`` string of a config (big_vision style), e.g.
  ``--config=configs/default.py:runlocal`` or ``...config.py:size=cpu,variant=gru``.
* ``base_config``: every field a translation training config has, with its default.
* ``runlocal``: shrinks any translation config to a one-minute laptop smoke run.
* ``nmt_config``: the shared settings of the translation experiments in
  ``experiments/`` (software-l10n en->de), one per ``size``.

Config files are loaded by file path (ml_collections ``config_flags``,
``experiment.load_experiment``), not as a package, so what they share lives here.
"""
from __future__ import annotations

import os

import ml_collections

# The checkout this package is installed from (`make venv` installs it editable): the
# experiments read and build their corpora in its data/tfds, as `make demo` does.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO, "data", "tfds")  # where `make demo` and the experiments build corpora

SIZES = ("tiny", "cpu", "full")  # of every experiment folder
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


# -----------------------------------------------------------------------------
# get_config(arg) strings
# -----------------------------------------------------------------------------
class ConfigError(ValueError):
  """A config value the run cannot use (raised before anything is written): the command
  line prints its message in one line."""


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """'runlocal,hidden=128' -> ConfigDict(runlocal=True, hidden=128) over `defaults`.

  Each comma-separated part is ``key=value`` or, for a bool argument only, a bare
  ``key`` (True). Values take the type of the default: bools are
  True/true/1/yes or False/false/0/no, ints and floats are parsed as such, a None
  default takes the string. Anything else (an unknown key, a key given twice, a
  value that does not parse) is a ValueError naming the argument.
  """
  out = ml_collections.ConfigDict(defaults)
  seen = set()
  for part in filter(None, (arg or "").split(",")):
    key, eq, value = part.partition("=")
    key = key.strip()
    if key not in defaults:
      raise ValueError(f"unknown config argument {key!r} in {arg!r}; known: "
                       f"{sorted(defaults)}")
    if key in seen:
      raise ValueError(f"config argument {key!r} given twice in {arg!r}")
    seen.add(key)
    default = defaults[key]
    if not eq:
      if not isinstance(default, bool):
        raise ValueError(f"config argument {key!r} needs a value ({key}=...); only bool "
                         f"arguments may be given bare, and its default is {default!r}")
      out[key] = True
    else:
      out[key] = _parse_value(key, value.strip(), default)
  return out


def _parse_value(key: str, value: str, default):
  if isinstance(default, bool):  # before int: bool is an int subclass
    if value.lower() in _TRUE:
      return True
    if value.lower() in _FALSE:
      return False
    raise ValueError(f"config argument {key!r} is a bool: expected one of "
                     f"{_TRUE + _FALSE} (any case), got {value!r}")
  if default is None or isinstance(default, str):
    return value
  try:
    return type(default)(value)
  except (TypeError, ValueError) as e:
    raise ValueError(f"config argument {key!r} takes a {type(default).__name__} value "
                     f"(default {default!r}), got {value!r}") from e


def check_size(size: str) -> None:
  """An experiment config's `size` argument must be one of SIZES."""
  if size not in SIZES:
    raise ValueError(f"size must be one of {SIZES}, got {size!r}")


def check_variant(variant: str, variants) -> None:
  """An experiment config's `variant` argument must be one of its VARIANTS."""
  if variant not in variants:
    raise ValueError(f"unknown variant {variant!r}; expected one of {tuple(variants)}")


# -----------------------------------------------------------------------------
# Translation configs
# -----------------------------------------------------------------------------
def base_config() -> ml_collections.ConfigDict:
  """Fields every translation training config has, with their defaults."""
  c = ml_collections.ConfigDict()
  c.task = "translation"  # the registered task that trains this config
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
      remat_chunk=0,  # >0: recompute scans in chunks of this many steps (long sequences)
      # float32 LSTM layers run the fused scan (nn/fused_lstm.py: closed-form backward
      # pass); False: the generic lax.scan. Same numbers.
      fused_lstm=True))

  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, schedule="rsqrt", warmup_steps=500, clip_norm=1.0,
      b1=0.9, b2=0.999, eps=1e-8,
      # Iterate averaging (averaging.py): "" none, "asgd" from update average_start,
      # "nt_asgd" once validation is worse than `nonmono` evaluations ago (AWD-LSTM).
      averaging="", average_start=0, nonmono=5))
  c.label_smoothing = 0.1
  # Output layer + loss with the logits' gradient in closed form (nn/output_loss.py): no
  # BxTxV array kept for the backward pass. loss_chunk > 0 (implies it) also makes the
  # logits that many target steps at a time (long targets, large V). Same update.
  c.fused_loss = True
  c.loss_chunk = 0
  c.grad_accum_steps = 1
  c.num_train_steps = 20_000
  # Optimizer updates per compiled call (a lax.scan over steps): fewer dispatches for
  # small models.
  c.steps_per_call = 1
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


def runlocal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks any translation config to a smoke run of a minute on a laptop CPU."""
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


# -----------------------------------------------------------------------------
# The translation experiments (experiments/<paper>/config.py)
# -----------------------------------------------------------------------------
def nmt_config(size: str) -> ml_collections.ConfigDict:
  """Shared settings of the translation experiments (software-l10n en->de).

  `size`:
  * tiny: CI smoke run on the generated `synthetic/reverse` corpus (seconds).
  * cpu:  en-de-small (129k pairs), 1-layer 128-unit models, 2 seeds trained at
          once by vmap, 3000 steps of 2048-token batches (about three epochs):
          ~25 min per variant on 2 idle cores (0.45 s/step for both seeds, plus
          scoring). One epoch (1000 steps, 8-10 min) was tried first: no model
          translated yet (test BLEU < 1) and the attention model was still behind
          the fixed-vector one in perplexity, so no claim could be read from it
          (experiments/bahdanau2015/README.md has both points). The claims are about
          differences between variants, each mean +- std over the seeds.
  * full: en-de (224k pairs), the papers' depth and width; for a GPU/TPU.
  Each experiment's config.py overrides the model per variant.
  """
  check_size(size)
  c = base_config()
  c.data_dir = DATA_DIR
  c.tokenizer.vocab_size = 2000
  c.buckets = (16, 32, 48, 64)
  c.tokens_per_batch = 2048
  c.model.update(cell="lstm", embed_dim=128, hidden_dim=128, encoder_layers=1,
                 decoder_layers=1, bidirectional="none", attention="none",
                 input_feeding=False, bridge="copy", dropout=0.0)
  c.optimizer.update(learning_rate=2e-3, warmup_steps=200)
  c.label_smoothing = 0.0  # perplexities stay comparable with the papers'
  c.num_train_steps = 3000
  c.eval_every_steps = 500
  c.checkpoint_every_steps = 500
  c.max_eval_sentences = 300
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

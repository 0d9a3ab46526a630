"""Language modelling as a task: a stacked recurrent LM (``models.language_model``) trained
by stateful truncated BPTT on one token stream, scored by perplexity.

Data (config section ``lm``): ``dataset`` (``data.lm.corpus``: ``penn_treebank``,
``text:<dir>``, a TFDS name), ``level`` (word | char), ``vocab_size`` / ``min_count``
(0 / 1: every training type), the vocabulary saved with the run (``vocab.json``).

Training (``data.lm.stream``): the training stream in ``batch_size`` rows, windows of
``lm.bptt`` steps (``variable_length``: AWD-LSTM's random lengths; with
``scale_lr_with_length`` each update is scaled by length / bptt, as AWD scales its
learning rate), the state carried
from window to window in ``TrainState.carry`` and reset at each epoch start. Batches are
made inside the compiled step from the step number (no data state), so resume is exact.
``lm.loss_normalisation``: ``sequence`` -- the NLL summed over a window's steps and
averaged over rows, the objective of Zaremba et al. and ``ptb_word_lm`` that their
learning rate 1 is tuned for -- or ``token`` (mean per token, AWD-LSTM), to which
``lm.alpha`` * AR + ``lm.beta`` * TAR are added.

Evaluation: perplexity exp(sum NLL / number of targets) over every target of a split,
read as ``lm.eval_batch_size`` rows with the state carried (``lm.final_eval_batch_size``
for the final scores; 1 = one unbroken stream, the papers' test computation). Selection:
validation perplexity, lowest best.

Shapes: B rows, T window, W window width, R row length, V vocabulary.
"""
from __future__ import annotations

import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import tasks
from seq2seq_jax.config_base import ConfigError
from seq2seq_jax.data.lm import corpus, stream
from seq2seq_jax.data.lm.vocab import Vocab
from seq2seq_jax.models import language_model as lm

NORMALISATIONS = ("sequence", "token")
SPLITS = ("train", "validation", "test")


def model_config(config, vocab_size: int) -> lm.LanguageModelConfig:
  m = dict(config.model)
  dropout = m.pop("dropout", 0.0)  # Zaremba: one rate for every non-recurrent connection
  for name in ("input_dropout", "hidden_dropout", "output_dropout"):
    m.setdefault(name, dropout)
  try:
    return lm.LanguageModelConfig.from_dict(dict(m, vocab_size=vocab_size))
  except (TypeError, ValueError) as e:
    raise ConfigError(f"model: {e}") from None


def load_data(config, workdir: str) -> tasks.Data:
  c = config.lm
  data_dir = config.get("data_dir") or None
  lines = {s: corpus.load_lines(c.dataset, s, data_dir, c.get("text_feature", "text"))
           for s in SPLITS}
  vocab = Vocab.build(lines["train"], c.get("level", "word"), c.get("vocab_size", 0),
                      c.get("min_count", 1))
  path = os.path.join(workdir, "vocab.json")
  vocab.save(path)
  ids, oov = {}, {}
  for s in SPLITS:
    ids[s], oov[s] = vocab.encode(lines[s])
  print(f"Corpus {c.dataset}: {len(vocab)} types ({vocab.level} level); tokens "
        + ", ".join(f"{s} {len(ids[s]):,}" for s in SPLITS)
        + "; <unk> from OOV: " + ", ".join(f"{s} {oov[s]:,}" for s in SPLITS), flush=True)
  return tasks.Data(ids, assets=[path], extra={"vocab": vocab, "oov": oov})


def _reset(carry, reset_B):
  return jax.tree.map(lambda x: jnp.where(reset_B[:, None], jnp.zeros_like(x), x), carry)


@tasks.register("language_model")
class LanguageModelling(tasks.Task):
  """See the module docstring."""
  select_by = "ppl"
  select_mode = "min"
  weight_name = "tokens"
  count_metric = "tokens"  # the loss weight counts rows in Zaremba's normalisation

  def check_config(self, config):
    if "lm" not in config:
      raise ConfigError("a language_model config needs an `lm` section (dataset, bptt, ...)")
    c = config.lm
    if int(config.get("batch_size", 0)) < 1:
      raise ConfigError(f"batch_size (rows of the stream) must be >= 1, got "
                        f"{config.get('batch_size')}")
    if not isinstance(c.get("bptt"), int) or c.bptt < 1:
      raise ConfigError(f"lm.bptt must be a positive integer, got {c.get('bptt')!r}")
    norm = c.get("loss_normalisation", "sequence")
    if norm not in NORMALISATIONS:
      raise ConfigError(f"lm.loss_normalisation must be one of {NORMALISATIONS}, got {norm!r}")
    if (c.get("alpha", 0.0) or c.get("beta", 0.0)) and norm != "token":
      raise ConfigError("lm.alpha / lm.beta (AR/TAR) are added to the per-token loss: set "
                        "lm.loss_normalisation='token'")
    for name in ("eval_batch_size", "final_eval_batch_size"):
      if int(c.get(name, 1)) < 1:
        raise ConfigError(f"lm.{name} must be >= 1, got {c.get(name)}")

  def build_data(self, config, workdir):
    return load_data(config, workdir)

  def build_model(self, config, data):
    model = lm.LanguageModel(model_config(config, len(data.extra["vocab"])))
    m = model.cfg
    print(f"Model: {m.cell} {m.num_layers}x{m.hidden_dim}, embed {m.embed_dim}, "
          f"{'tied' if m.tie_embeddings else 'untied'} embeddings; vocab {m.vocab_size}",
          flush=True)
    return model

  def model_meta(self, model):
    return dataclasses.asdict(model.cfg)

  # ---- training ---------------------------------------------------------------
  def _rows(self, run):
    try:
      return stream.batchify(run.data.splits["train"], int(run.config.batch_size))
    except ValueError as e:
      raise ConfigError(f"{run.config.lm.dataset}: {e}") from None

  def schedule(self, run) -> stream.Schedule:
    from seq2seq_jax import trainer  # pylint: disable=g-import-not-at-top
    c = run.config
    rows = self._rows(run)
    try:
      sched = stream.schedule(rows.shape[1], c.lm.bptt, c.num_train_steps,
                              variable_length=c.lm.get("variable_length", False),
                              max_len=c.lm.get("max_len", 0), seed=trainer.data_seed_of(c))
    except ValueError as e:
      raise ConfigError(f"{c.lm.dataset}: {e}") from None
    spe = c.lm.get("steps_per_epoch", 0)
    if spe and not c.lm.get("variable_length", False):
      actual = stream.steps_per_epoch(rows.shape[1], c.lm.bptt)
      if spe != actual:
        raise ConfigError(f"lm.steps_per_epoch={spe}, but {c.lm.dataset} in {c.batch_size} rows "
                          f"of bptt {c.lm.bptt} has {actual} steps per epoch")
    return sched

  def init_carry(self, run):
    return lm.init_carry(run.model.cfg, int(run.config.batch_size))

  def train_batches(self, run, *, batch_multiple, shard_index, shard_count):
    c = run.config
    B = int(c.batch_size)
    if B % batch_multiple:
      raise ConfigError(f"batch_size={B} rows must be a multiple of {batch_multiple} "
                        "(devices x grad_accum_steps)")
    sched = self.schedule(run)
    W = int(max(sched.length.max(), c.lm.bptt))
    rows = jnp.asarray(stream.pad_rows(self._rows(run), W + 1))
    offset, length, reset = (jnp.asarray(a) for a in (sched.offset, sched.length, sched.reset))

    # AWD-LSTM scales the learning rate of a random-length window by length / bptt.
    scale_lr = bool(c.lm.get("scale_lr_with_length", False))

    def generate(step):
      win = jax.lax.dynamic_slice(rows, (0, offset[step]), (B, W + 1))
      batch = {"inputs": win[:, :W], "targets": win[:, 1:],
               "lengths": jnp.full((B,), length[step], jnp.int32),
               "reset": jnp.full((B,), reset[step])}
      if scale_lr:
        batch["update_scale"] = jnp.full((B,), length[step] / c.lm.bptt, jnp.float32)
      return batch
    return tasks.GeneratedBatches(generate)

  def loss(self, run, params, batch, key, carry=None):
    cfg, c = run.model.cfg, run.config.lm
    carry = _reset(carry, batch["reset"])
    h, new_carry, aux = lm.hidden_states(cfg, params, batch["inputs"], batch["lengths"], carry,
                                         key=key, deterministic=False)
    mask = jnp.arange(batch["inputs"].shape[1])[None, :] < batch["lengths"][:, None]
    nll, count = lm.loss_sums(cfg, params, h, batch["targets"], mask)
    if c.get("loss_normalisation", "sequence") == "token":
      weight, objective = count, nll
      alpha, beta = c.get("alpha", 0.0), c.get("beta", 0.0)
      if alpha or beta:
        ar, tar = lm.activation_regularisers(h, aux["raw_TxBxH"], aux["mask_TxB"])
        objective = objective + count * (alpha * ar + beta * tar)
    else:
      weight, objective = jnp.asarray(mask.shape[0], jnp.float32), nll
    # Per-token NLL once divided by the total weight (all rows share a window length).
    metric = jax.lax.stop_gradient(nll * weight / jnp.maximum(count, 1.0))
    # "tokens" * weight = the targets counted (the throughput in the log and the bar).
    return objective, weight, {"loss": metric, "tokens": jax.lax.stop_gradient(count)}, new_carry

  def uniform_loss(self, run):
    return math.log(run.model.cfg.vocab_size)

  def train_log(self, means):
    return {"ppl": math.exp(min(means["loss"], 50.0))}

  # ---- evaluation ---------------------------------------------------------------
  def _eval_fn(self, run, split: str, rows: int):
    key = ("eval", split, rows)
    if key not in run.cache:
      cfg = run.model.cfg
      chunk = int(run.config.lm.get("eval_chunk", 0) or run.config.lm.bptt)
      inputs, targets, mask = stream.eval_rows(run.data.splits[split], rows, chunk)
      to_chunks = lambda a: jnp.asarray(a.reshape(rows, -1, chunk).transpose(1, 0, 2))
      xs = tuple(to_chunks(a) for a in (inputs, targets, mask))  # [C, B, chunk]

      def nll_sum(params, xs):
        def body(carry, x):
          inp, tgt, m = x
          h, carry, _ = lm.hidden_states(cfg, params, inp, m.sum(1), carry)
          logp = lm.log_probs(cfg, params, h.reshape(-1, h.shape[-1]))
          nll = -jnp.take_along_axis(logp, tgt.T.reshape(-1, 1), axis=1)[:, 0]
          return carry, (nll * m.T.reshape(-1)).sum()
        _, sums = jax.lax.scan(body, lm.init_carry(cfg, rows), xs)
        return sums.sum()
      # The split is an argument, not a constant folded into the program.
      fn = jax.jit(jax.vmap(nll_sum, in_axes=(0, None)))
      run.cache[key] = (lambda params_N: fn(params_N, xs), int(mask.sum()))
    return run.cache[key]

  def evaluate(self, run, params, split, *, step, final=False):
    if split not in run.data.splits:
      return None
    c = run.config.lm
    rows = int(c.get("final_eval_batch_size", 1) if final else c.get("eval_batch_size", 10))
    fn, count = self._eval_fn(run, split, rows)
    params_N = params if run.multi else jax.tree.map(lambda x: x[None], params)
    nll = np.asarray(fn(params_N), np.float64)
    out = [{"ppl": float(np.exp(n / count)), "loss": float(n / count), "targets": count}
           for n in nll]
    if not final:
      print(f"step {step}: {split} perplexity "
            f"{[round(r['ppl'], 2) for r in out]}", flush=True)
    return out

  def final_metrics(self, run, evals, *, step, checkpoint, history, init_params,
                    final_params):
    c, cfg, d = run.config, run.model.cfg, run.data
    rows = stream.batchify(d.splits["train"], int(c.batch_size)).shape[1]
    out = {"dataset": c.lm.dataset, "level": d.extra["vocab"].level,
           "vocab_size": cfg.vocab_size, "cell": cfg.cell, "num_layers": cfg.num_layers,
           "hidden_dim": cfg.hidden_dim, "tie_embeddings": cfg.tie_embeddings,
           "num_params": int(sum(np.prod(x.shape[1 if run.multi else 0:])
                                 for x in jax.tree.leaves(final_params))),
           "seeds": list(run.seeds), "steps": step, "checkpoint": checkpoint,
           "epochs": step / max(stream.steps_per_epoch(rows, c.lm.bptt), 1),
           "tokens": {s: int(len(d.splits[s])) for s in SPLITS},
           "oov": d.extra["oov"],
           "final_eval_batch_size": int(c.lm.get("final_eval_batch_size", 1)),
           # The validation curve (the paper's Figure / overfitting without dropout).
           "val_steps": [h["step"] for h in history],
           "val_ppl_by_epoch": [[r["ppl"] for r in h["per_seed"]] for h in history]}
    for split, per_seed in evals.items():
      if per_seed is None:
        continue
      name = {"validation": "val", "test": "test"}.get(split, split)
      ppl = np.array([r["ppl"] for r in per_seed])
      out[f"{name}_ppl"] = ppl.tolist()
      out[f"{name}_ppl_mean"] = float(ppl.mean())
      out[f"{name}_ppl_std"] = float(ppl.std())
    if int(c.lm.get("generation_prompts", 0)):
      out["generation"] = self._generation_report(run, run.seed_params(final_params, 0))
    return out

  def _generation_report(self, run, params) -> dict:
    """Repetition of continuations of the first words of test lines, per decoder."""
    from seq2seq_jax import repetition  # pylint: disable=g-import-not-at-top
    from seq2seq_jax.inference import lm_generator  # pylint: disable=g-import-not-at-top
    c, vocab = run.config.lm, run.data.extra["vocab"]
    n, words = int(c.generation_prompts), int(c.get("generation_prompt_words", 3))
    lines = corpus.load_lines(c.dataset, "test", run.config.get("data_dir") or None,
                              c.get("text_feature", "text"))
    prompts = [" ".join(l.split()[:words]) for l in lines if len(l.split()) > words][:n]
    gen = lm_generator.LanguageModelPredictor(run.model.cfg, params, vocab)
    max_len = int(c.get("generation_max_len", 30))
    report = {"prompts": len(prompts), "max_len": max_len}
    for name, kw in (("greedy", dict(method="greedy")), ("beam5", dict(method="beam", beam=5)),
                     ("sample", dict(method="sample", seed=0)),
                     ("sample_top_p0.9", dict(method="sample", top_p=0.9, seed=0))):
      texts = [row[0] for row in gen.generate(prompts, max_len=max_len, **kw)]
      report[name] = dict(repetition.report(texts),
                          examples=[f"{p} | {t}" for p, t in zip(prompts[:3], texts[:3])])
    return report

  def predictor(self, meta, members, asset_paths):
    from seq2seq_jax.inference import lm_generator  # pylint: disable=g-import-not-at-top
    vocab = Vocab.load(next(p for p in asset_paths if os.path.basename(p) == "vocab.json"))
    cfg = lm.LanguageModelConfig.from_dict(meta["model"])
    return lm_generator.LanguageModelPredictor(cfg, members[0], vocab)

  def summary_lines(self, final):
    return [f"{name} perplexity {final[f'{name}_ppl_mean']:.2f} (per seed "
            f"{[round(p, 2) for p in final[f'{name}_ppl']]})"
            for name in ("val", "test") if f"{name}_ppl" in final]

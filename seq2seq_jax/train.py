"""Training and evaluation: ``train_and_evaluate(config, workdir)``.

The path of data: dataset (TFDS builder / TFDS name / text files) ->
tokenizers trained on the training split (stored in the workdir) -> bucketed
grain batches -> one jitted, state-donating ``train_step`` over a device mesh
-> orbax checkpoints (last N and best by validation BLEU) -> greedy decoding ->
detokenized sacreBLEU.

PRNG: ``jax.random.key(config.seed)`` is split once into an init key and a
dropout key; step ``s`` uses ``fold_in(dropout_key, s)`` (and micro-batch ``i``
of gradient accumulation ``fold_in`` of that). With the data iterator's
position restored from the checkpoint, a resumed run repeats bit for bit what
the uninterrupted run would have done.

Multi-seed runs (``num_seeds`` N > 1): seeds ``seed, ..., seed + N - 1`` train
at once. Each seed's init and dropout keys are those of a single run with that
seed; params and optimizer states are stacked on a leading seed axis N (the
step is shared) and the step is ``jax.vmap(train_step)`` over (state, dropout
key) with the batch broadcast, so every seed sees the same batches, in the
order set by ``data_seed`` (default ``seed``). Seed ``s + i`` thus reproduces a
single run with ``seed = s + i, data_seed = s`` up to float rounding.
Validation and final scores are per seed, and their mean over seeds selects
the best checkpoint and is what ``final_metrics.json`` reports (with the
population std and the per-seed scores).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
import tqdm
from absl import logging

from seq2seq_jax import beam_search as beam_lib
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax import decoding
from seq2seq_jax import evaluation
from seq2seq_jax import model as model_lib
from seq2seq_jax import parallel
from seq2seq_jax.data import input_pipeline, sources, tokenizer as tok_lib
from seq2seq_jax.nn import output_loss


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


class NonFiniteLossError(FloatingPointError):
  pass


# -----------------------------------------------------------------------------
# Optimizer
# -----------------------------------------------------------------------------
def make_schedule(oc: ml_collections.ConfigDict, num_train_steps: int):
  """Linear warm-up then 'constant', 'rsqrt', 'cosine', 'linear' or 'step' decay."""
  lr, warmup = oc.learning_rate, oc.get("warmup_steps", 0)
  kind = oc.get("schedule", "constant")
  warm = optax.linear_schedule(0.0, lr, warmup) if warmup else None
  decay_steps = max(1, num_train_steps - warmup)
  if kind == "constant":
    after = optax.constant_schedule(lr)
  elif kind == "rsqrt":
    after = lambda s: lr * jnp.sqrt(max(warmup, 1) / jnp.maximum(s + max(warmup, 1), 1.0))
  elif kind == "cosine":
    after = optax.cosine_decay_schedule(lr, decay_steps, alpha=oc.get("final_lr_fraction", 0.0))
  elif kind == "linear":
    after = optax.linear_schedule(lr, lr * oc.get("final_lr_fraction", 0.0), decay_steps)
  elif kind == "step":  # Luong 2015 / Sutskever 2014: halve every `decay_every` after `decay_start`
    after = optax.exponential_decay(lr, oc.decay_every, oc.get("decay_factor", 0.5),
                                    transition_begin=oc.decay_start - warmup, staircase=True)
  else:
    raise ValueError(f"optimizer.schedule must be constant/rsqrt/cosine/linear/step, got {kind!r}")
  return optax.join_schedules([warm, after], [warmup]) if warm else after


def make_optimizer(oc: ml_collections.ConfigDict, num_train_steps: int):
  sched = make_schedule(oc, num_train_steps)
  name = oc.name.lower()
  if name == "adam":
    opt = optax.adam(sched, b1=oc.get("b1", 0.9), b2=oc.get("b2", 0.999), eps=oc.get("eps", 1e-8))
  elif name == "adamw":
    opt = optax.adamw(sched, b1=oc.get("b1", 0.9), b2=oc.get("b2", 0.999),
                      eps=oc.get("eps", 1e-8), weight_decay=oc.get("weight_decay", 1e-4))
  elif name == "rmsprop":
    opt = optax.rmsprop(sched, decay=oc.get("decay", 0.9), eps=oc.get("eps", 1e-8),
                        momentum=oc.get("momentum", 0.0) or None)
  elif name == "sgd":
    opt = optax.sgd(sched, momentum=oc.get("momentum", 0.0) or None,
                    nesterov=oc.get("nesterov", False))
  else:
    raise ValueError(f"optimizer.name must be adam/adamw/rmsprop/sgd, got {oc.name!r}")
  clip = oc.get("clip_norm", 0.0)
  return optax.chain(optax.clip_by_global_norm(clip), opt) if clip else opt, sched


# -----------------------------------------------------------------------------
# Loss and steps
# -----------------------------------------------------------------------------
def token_losses(logits_BxTxV, targets_BxT, weights_BxT, label_smoothing: float = 0.0):
  """(sum of training loss, sum of NLL, sum of weights) over real tokens.

  Label smoothing mixes the one-hot target with the uniform distribution
  (Szegedy et al. 2016): loss = (1-e) NLL + e * mean_v(-log p_v).
  """
  logp = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32))
  nll = -jnp.take_along_axis(logp, targets_BxT[..., None], axis=-1)[..., 0]
  loss = nll
  if label_smoothing:
    loss = (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)
  w = weights_BxT.astype(jnp.float32)
  return (loss * w).sum(), (nll * w).sum(), w.sum()


def train_step(state: TrainState, batch: dict, *, model: model_lib.Seq2Seq, tx,
               dropout_key, label_smoothing: float, fused_loss: bool = True,
               loss_chunk: int = 0):
  """One optimizer update from a batch [A, B, ...] of A accumulated micro-batches.

  `fused_loss` computes the output layer and the loss by `nn.output_loss.fused_losses`
  (the logits' gradient in closed form, no BxTxV array kept for the backward pass);
  `loss_chunk` > 0 (implies fused) makes the logits that many target steps (x B rows)
  at a time. The same update as autodiff of `token_losses`, up to rounding (tested).
  """
  step_key = jax.random.fold_in(dropout_key, state.step)

  def micro_loss(params, mb, key):
    if fused_loss or loss_chunk:
      h, _ = model.features(params, mb["src"], mb["src_len"], mb["tgt_in"], key=key,
                            deterministic=False)
      B, T, H = h.shape
      w_out, b_out = model.output_weights(params)
      loss, nll, w = output_loss.fused_losses(
          h.reshape(B * T, H), w_out, b_out, mb["tgt_out"].reshape(B * T),
          mb["tgt_weights"].reshape(B * T), label_smoothing, loss_chunk * B)
    else:
      logits, _ = model(params, mb["src"], mb["src_len"], mb["tgt_in"], key=key,
                        deterministic=False)
      loss, nll, w = token_losses(logits, mb["tgt_out"], mb["tgt_weights"], label_smoothing)
    return loss, (nll, w)

  grad_fn = jax.grad(micro_loss, has_aux=True)

  def accumulate(acc, xs):
    i, mb = xs
    grads, (nll, w) = grad_fn(state.params, mb, jax.random.fold_in(step_key, i))
    return jax.tree.map(jnp.add, acc, (grads, nll, w)), None

  num_micro = batch["src"].shape[0]
  zeros = (jax.tree.map(jnp.zeros_like, state.params), jnp.float32(0), jnp.float32(0))
  (grads, nll, weights), _ = jax.lax.scan(accumulate, zeros, (jnp.arange(num_micro), batch))
  denom = jnp.maximum(weights, 1.0)
  grads = jax.tree.map(lambda g: g / denom, grads)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {"nll": nll / denom, "tokens": weights, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params)}
  return TrainState(state.step + 1, params, opt_state), metrics


# Params and optimizer state carry the seed axis; the step is shared by all seeds.
_SEED_AXES = TrainState(step=None, params=0, opt_state=0)


def multi_seed_train_step(state: TrainState, batch: dict, *, dropout_keys_N, **kwargs):
  """`train_step` of N seeds at once: params, opt_state and dropout keys have a leading
  axis N, the batch is shared; metrics come back per seed, [N]."""
  def one_seed(st, key):
    return train_step(st, batch, dropout_key=key, **kwargs)
  return jax.vmap(one_seed, in_axes=(_SEED_AXES, 0), out_axes=(_SEED_AXES, 0))(
      state, dropout_keys_N)


def eval_step(params, batch, *, model):
  logits, _ = model(params, batch["src"], batch["src_len"], batch["tgt_in"])
  _, nll, w = token_losses(logits, batch["tgt_out"], batch["tgt_weights"])
  return nll, w


# -----------------------------------------------------------------------------
# Building blocks
# -----------------------------------------------------------------------------
def model_config_from(config, src_vocab: int, tgt_vocab: int) -> model_lib.ModelConfig:
  d = config.model.to_dict()
  d.update(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab)
  return model_lib.ModelConfig.from_dict(d)


def seeds_of(config) -> list[int]:
  """The seeds a run trains: config.seed, ..., config.seed + num_seeds - 1."""
  n = int(config.get("num_seeds", 1))
  if n < 1:
    raise ValueError(f"num_seeds must be >= 1, got {n}")
  return [int(config.seed) + i for i in range(n)]


def data_seed_of(config) -> int:
  """The seed of the batch order: data_seed when set, else seed."""
  seed = config.get("data_seed")
  return int(config.seed if seed is None else seed)


def init_state(model, tx, seed: int):
  """(TrainState, dropout key) of a single run with `seed`."""
  init_key, dropout_key = jax.random.split(jax.random.key(seed))
  params = model.init(init_key)
  return TrainState(jnp.asarray(0, jnp.int32), params, tx.init(params)), dropout_key


def stack_states(states: list[TrainState]) -> TrainState:
  """Per-seed states (at one step) -> params and opt_state stacked on a leading axis N.

  Stacking the single-seed inits (rather than vmapping init) makes each seed start from
  exactly the values its single run starts from.
  """
  stack = lambda *xs: jnp.stack(xs)
  return TrainState(states[0].step, jax.tree.map(stack, *[s.params for s in states]),
                    jax.tree.map(stack, *[s.opt_state for s in states]))


def check_finite(nll_N, param_norm_N, seeds: list[int], step: int, workdir: str):
  """Raises NonFiniteLossError naming the first seed whose loss or parameters are not finite."""
  bad_N = ~(np.isfinite(nll_N) & np.isfinite(param_norm_N))
  if not bad_N.any():
    return
  i = int(np.argmax(bad_N))
  nll, pnorm = float(nll_N[i]), float(param_norm_N[i])
  of_seed = f" of seed {seeds[i]}" if len(seeds) > 1 else ""
  raise NonFiniteLossError(
      f"non-finite {'loss' if not math.isfinite(nll) else 'parameters'}{of_seed} (loss {nll}, "
      f"parameter norm {pnorm}) at step {step}; stopping without saving. The last "
      f"good checkpoint in {workdir}/checkpoints is intact. Lower the learning rate, "
      f"enable optimizer.clip_norm, or use float32 compute.")


def score_summary(res: dict) -> dict:
  """The final_metrics.json entry of one evaluation."""
  return {"bleu": res["bleu"].score, "chrf": res["chrf"].score, "ppl": res["ppl"],
          "bleu_signature": res["bleu"].signature, "chrf_signature": res["chrf"].signature}


def mean_over_seeds(summaries: list[dict]) -> dict:
  """Mean of per-seed score summaries, with the population std (ddof=0) of each score."""
  out = dict(summaries[0])  # the signatures are the same for every seed
  for k in ("bleu", "chrf", "ppl"):
    values = np.array([s[k] for s in summaries], np.float64)
    out[k], out[f"{k}_std"] = float(values.mean()), float(values.std())
  out["num_seeds"] = len(summaries)
  return out


def write_hypotheses(path: str, hyps: list[str]):
  """One line per sentence, in corpus order."""
  with open(path, "w") as f:
    f.writelines(h.replace("\n", " ") + "\n" for h in hyps)


def load_data(config, workdir: str):
  """(train, validation, test sources, src_tok, tgt_tok)."""
  if config.dataset.startswith("software_l10n/"):
    sources.prepare_tfds(config.dataset, config.data_dir)
  load = functools.partial(sources.load_parallel, config.dataset, src_lang=config.src_lang,
                           tgt_lang=config.tgt_lang, data_dir=config.data_dir)
  train_src = load(split="train")
  splits = {}
  for name in ("validation", "test"):
    try:
      splits[name] = load(split=name)
    except (KeyError, ValueError, FileNotFoundError) as e:
      logging.warning("No %s split (%s)", name, e)
      splits[name] = None
  train_src = _head(train_src, config.get("max_train_examples"))
  src_tok, tgt_tok = tok_lib.build_tokenizers(config, train_src, workdir)
  return train_src, splits["validation"], splits["test"], src_tok, tgt_tok


def _head(source, n):
  """The first `n` pairs of `source` (all of it when n is falsy or larger)."""
  if not n or source is None or len(source) <= n:
    return source
  pairs = [source[i] for i in range(n)]
  return sources.from_lists([p[0] for p in pairs], [p[1] for p in pairs], source.src_lang,
                            source.tgt_lang, name=f"{source.name}[:{n}]", split=source.split)


def eval_length_limits(config, model_cfg) -> tuple[tuple[int, ...], int]:
  """(buckets, max_len) of evaluation: `config.eval_max_len` (0: the training max_len;
  see input_pipeline.eval_buckets), no longer than the model can read."""
  return input_pipeline.eval_buckets(config.buckets, config.max_len,
                                     config.get("eval_max_len"), model_cfg.longest_source)


def translate_batches(model, params, batches, src_tok, tgt_tok, *, max_len: int, bos: int,
                      eos: int, beam: int = 1, alpha: float = 0.6):
  """Translations (greedy, or beam search when beam > 1) of eval batches, in source order.
  Outputs have at most min(max_len, 2 * source length + 10) tokens."""
  outs = []
  for batch in batches:
    src, src_len = jnp.asarray(batch["src"]), jnp.asarray(batch["src_len"])
    T = decoding.static_output_len(src.shape[1], max_len=max_len)
    if beam > 1:
      tokens = beam_lib.beam_search(model, params, src, src_len, beam=beam, max_len=T,
                                    bos_id=bos, eos_id=eos, alpha_B=jnp.full(src.shape[:1], alpha)
                                    )["tokens"][:, 0]
    else:
      tokens = decoding.greedy(model, params, src, src_len, max_len=T, bos_id=bos,
                               eos_id=eos)[0]
    tokens = np.asarray(tokens)
    outs.append([tgt_tok.decode(decoding.strip(row, eos)) for row in tokens])
  return input_pipeline.restore_order(batches, outs, batches.num_examples)


def evaluate(model, params, source, src_tok, tgt_tok, config, *, limit=None, eval_fn=None,
             beam: int = 1):
  """Loss, perplexity, sacreBLEU and chrF of translations of `source`."""
  source = _head(source, limit)
  buckets, max_len = eval_length_limits(config, model.cfg)
  batches = input_pipeline.make_eval_batches(
      source, src_tok, tgt_tok, batch_size=config.eval_batch_size, buckets=buckets,
      max_len=max_len, reverse_source=config.reverse_source,
      batch_multiple=1)
  nll = w = 0.0
  for batch in batches:
    n, ww = eval_fn(params, {k: jnp.asarray(v) for k, v in batch.items()})
    nll, w = nll + float(n), w + float(ww)
  hyps = translate_batches(model, params, batches, src_tok, tgt_tok, max_len=max_len,
                           bos=tgt_tok.bos_id, eos=tgt_tok.eos_id, beam=beam,
                           alpha=config.get("eval_alpha", 0.6))
  refs = [source[i][1] for i in range(len(source))]
  srcs = [source[i][0] for i in range(len(source))]
  result = {"nll": nll / max(w, 1.0), "ppl": math.exp(min(nll / max(w, 1.0), 50.0))}
  result["bleu"] = evaluation.bleu(hyps, refs)
  result["chrf"] = evaluation.chrf(hyps, refs)
  return result, srcs, hyps, refs


class MetricsWriter:
  """TensorBoard events + one JSON line per record in workdir/metrics.jsonl.

  A list value (``<name>_per_seed`` of a multi-seed run) is one TensorBoard
  scalar per seed, ``<split>/<name>/seed<seed>``, and a list in the JSON line.
  """

  def __init__(self, workdir: str, seeds: list[int] = (0,)):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self.tb = SummaryWriter(os.path.join(workdir, "tb"))
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.seeds = list(seeds)

  def write(self, step: int, split: str, metrics: dict):
    for k, v in metrics.items():
      if isinstance(v, (list, tuple)):
        for seed, x in zip(self.seeds, v):
          self.tb.add_scalar(f"{split}/{k.removesuffix('_per_seed')}/seed{seed}", x, step)
      else:
        self.tb.add_scalar(f"{split}/{k}", v, step)
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": step, "split": split, **metrics}) + "\n")
    self.tb.flush()

  def close(self):
    self.tb.close()


# -----------------------------------------------------------------------------
# The main loop
# -----------------------------------------------------------------------------
def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains `config` in `workdir`, resuming from its newest checkpoint.

  Returns the final metrics (validation and test BLEU, chrF, loss; with
  num_seeds > 1 their mean and std over seeds, and per seed under "seeds").
  """
  loss_chunk = config.get("loss_chunk", 0)
  if not isinstance(loss_chunk, int) or loss_chunk < 0:  # before anything is written
    raise ValueError(f"loss_chunk must be 0 (off) or a positive number of target steps, "
                     f"got {loss_chunk!r}")
  final_checkpoint = config.get("final_checkpoint", "best")
  if final_checkpoint not in ("best", "last"):  # before anything is written
    raise ValueError(f"final_checkpoint must be 'best' or 'last', got {final_checkpoint!r}")
  eval_max_len = config.get("eval_max_len", 0)
  if not isinstance(eval_max_len, int) or (eval_max_len and eval_max_len < config.max_len):
    raise ValueError(f"eval_max_len must be 0 (the training max_len={config.max_len}) or at "
                     f"least max_len, got {eval_max_len!r}")  # before anything is written
  os.makedirs(workdir, exist_ok=True)
  parallel.initialize_distributed()
  mesh = parallel.make_mesh()
  num_local = jax.local_device_count()
  accum = int(config.get("grad_accum_steps", 1))

  seeds = seeds_of(config)
  multi = len(seeds) > 1  # N == 1 keeps the unstacked state and checkpoint layout

  train_src, valid_src, test_src, src_tok, tgt_tok = load_data(config, workdir)
  model_cfg = model_config_from(config, src_tok.vocab_size, tgt_tok.vocab_size)
  model = model_lib.Seq2Seq(model_cfg)
  tok_files = sorted(os.path.join(workdir, "tokenizer", f)
                     for f in os.listdir(os.path.join(workdir, "tokenizer"))
                     if not f.startswith("."))
  meta = {"model": ckpt_lib.to_json(dataclasses.asdict(model_cfg)),
          "tokenizer_sha256": ckpt_lib.file_digests(tok_files),
          "config": ckpt_lib.to_json(config.to_dict()), "num_seeds": len(seeds)}

  tx, schedule = make_optimizer(config.optimizer, config.num_train_steps)
  states, dropout_keys = zip(*(init_state(model, tx, s) for s in seeds))
  if multi:
    state, dropout_key = stack_states(states), jnp.stack(dropout_keys)
  else:
    (state,), (dropout_key,) = states, dropout_keys
  params = states[0].params
  state = jax.device_put(state, parallel.replicated(mesh))

  train_iter = input_pipeline.make_train_iterator(
      train_src, src_tok, tgt_tok, batch_size=config.get("batch_size") or None,
      tokens_per_batch=config.get("tokens_per_batch") or None, batch_multiple=num_local * accum,
      buckets=config.buckets, max_len=config.max_len, reverse_source=config.reverse_source,
      seed=data_seed_of(config), shard_index=jax.process_index(), shard_count=jax.process_count())

  checkpointer = ckpt_lib.Checkpointer(workdir, keep=config.get("keep_checkpoints", 3))
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
  restored, start = checkpointer.restore_latest(abstract, train_iter, meta)
  if restored is not None:
    state = jax.device_put(restored, parallel.replicated(mesh))
    logging.info("Resumed from step %d", start)
    print(f"Resumed from checkpoint at step {start}", flush=True)
  n_params = sum(x.size for x in jax.tree.leaves(params))
  print(f"Model: {n_params / 1e6:.2f}M parameters, {model_cfg.cell} "
        f"{model_cfg.encoder_layers}x{model_cfg.hidden_dim}, attention={model_cfg.attention}; "
        f"vocab {src_tok.vocab_size}/{tgt_tok.vocab_size}; {jax.device_count()} device(s)"
        + (f"; {len(seeds)} seeds {seeds[0]}..{seeds[-1]} vmapped" if multi else ""),
        flush=True)

  step_kwargs = dict(model=model, tx=tx, label_smoothing=config.get("label_smoothing", 0.0),
                     fused_loss=bool(config.get("fused_loss", True)), loss_chunk=loss_chunk)
  if multi:
    step_fn = functools.partial(multi_seed_train_step, dropout_keys_N=dropout_key, **step_kwargs)
  else:
    step_fn = functools.partial(train_step, dropout_key=dropout_key, **step_kwargs)
  p_train = jax.jit(step_fn, donate_argnums=(0,))
  p_eval = jax.jit(functools.partial(eval_step, model=model))
  writer = MetricsWriter(workdir, seeds)

  def run_eval(step, split, source, limit, params=None, beam=1):
    """[(result, hypotheses)] per seed (None without `source`); logs the mean over seeds,
    and with N > 1 each seed's scores."""
    if source is None:
      return None
    params = state.params if params is None else params
    outs = []
    for i, seed in enumerate(seeds):
      seed_params = jax.tree.map(lambda x: x[i], params) if multi else params
      res, srcs, hyps, refs = evaluate(model, seed_params, source, src_tok, tgt_tok, config,
                                       limit=limit, eval_fn=p_eval, beam=beam)
      outs.append((res, hyps))
      tqdm.tqdm.write(f"[{split} @ step {step}, {'beam ' + str(beam) if beam > 1 else 'greedy'}"
                      f"{f', seed {seed}' if multi else ''}]"
                      f" ppl {res['ppl']:.2f}  {res['bleu']}  chrF2 {res['chrf'].score:.2f}")
      for j in range(min(config.get("num_examples_to_print", 3), len(hyps)) if i == 0 else 0):
        tqdm.tqdm.write(f"  SRC: {srcs[j]}\n  REF: {refs[j]}\n  HYP: {hyps[j]}")
    per_seed = {"nll": [r["nll"] for r, _ in outs], "ppl": [r["ppl"] for r, _ in outs],
                "bleu": [r["bleu"].score for r, _ in outs],
                "chrf": [r["chrf"].score for r, _ in outs]}
    rec = {k: float(np.mean(v)) for k, v in per_seed.items()}
    if multi:
      rec.update({f"{k}_per_seed": v for k, v in per_seed.items()})
      tqdm.tqdm.write(f"[{split} @ step {step}] mean over {len(seeds)} seeds: BLEU "
                      f"{rec['bleu']:.2f} (std {np.std(per_seed['bleu']):.2f})  chrF2 "
                      f"{rec['chrf']:.2f}")
    writer.write(step, split, rec)
    return outs

  step = int(state.step)
  total = config.num_train_steps
  bar = tqdm.tqdm(total=total, initial=step, desc="train", dynamic_ncols=True,
                  disable=not config.get("progress_bar", True))
  t_last, tok_since, nll_acc_N, n_acc = time.time(), 0.0, np.zeros(len(seeds)), 0
  best_patience = 0
  best_bleu = -1.0
  budget_s = 60.0 * config.get("train_time_budget_minutes", 0)
  t_start = time.time()
  try:
    while step < total:
      local = next(train_iter)
      local = {k: v.reshape((accum, -1) + v.shape[1:]) for k, v in local.items()
               if k != "index"}
      batch = parallel.global_batch(mesh, local, batch_axis=1)
      state, metrics = p_train(state, batch)
      step += 1
      # Per seed, [N] (a single run's scalars as [1]), so one bookkeeping serves both.
      nll_N = np.atleast_1d(np.asarray(metrics["nll"]))
      check_finite(nll_N, np.atleast_1d(np.asarray(metrics["param_norm"])), seeds, step,
                   workdir)
      # Every seed sees the same batch: tokens/s is the pace through the data, per seed.
      tok_since += float(np.atleast_1d(np.asarray(metrics["tokens"]))[0])
      nll_acc_N, n_acc = nll_acc_N + nll_N, n_acc + 1
      bar.update(1)
      if step % config.log_every_steps == 0 or step == total:
        dt = time.time() - t_last
        grad_norm_N = np.atleast_1d(np.asarray(metrics["grad_norm"]))
        nll = float(nll_acc_N.mean() / n_acc)
        rec = {"nll": nll, "ppl": math.exp(min(nll, 50.0)),
               "tokens_per_sec": tok_since / max(dt, 1e-9),
               "learning_rate": float(schedule(step - 1)),
               "grad_norm": float(grad_norm_N.mean())}
        if multi:
          rec.update(nll_per_seed=[float(x) for x in nll_acc_N / n_acc],
                     grad_norm_per_seed=[float(x) for x in grad_norm_N])
        writer.write(step, "train", rec)
        postfix = dict(loss=f"{rec['nll']:.3f}", tok_s=f"{rec['tokens_per_sec']:.0f}")
        if budget_s > 0:  # the step-based ETA is meaningless under a time budget
          left = max(0.0, budget_s - (time.time() - t_start))
          postfix["budget_left"] = f"{int(left // 60)}:{int(left % 60):02d}"
        bar.set_postfix(**postfix)
        t_last, tok_since, nll_acc_N, n_acc = time.time(), 0.0, np.zeros(len(seeds)), 0
      out_of_time = budget_s > 0 and time.time() - t_start > budget_s
      if out_of_time:
        tqdm.tqdm.write(f"Time budget of {budget_s / 60:.1f} min reached at step {step}.")
      is_eval = step % config.eval_every_steps == 0 or step == total or out_of_time
      is_ckpt = step % config.checkpoint_every_steps == 0 or step == total or out_of_time
      bleu = None
      if is_eval:  # the mean over seeds picks the best checkpoint and drives early stopping
        outs = run_eval(step, "validation", valid_src, config.get("max_eval_sentences"))
        bleu = None if outs is None else float(np.mean([r["bleu"].score for r, _ in outs]))
      if is_ckpt or is_eval:
        checkpointer.save(step, state, train_iter, meta, tok_files, bleu=bleu)
      if out_of_time:
        break
      if bleu is not None and config.get("early_stopping_patience"):
        if bleu > best_bleu:
          best_bleu, best_patience = bleu, 0
        else:
          best_patience += 1
          if best_patience >= config.early_stopping_patience:
            tqdm.tqdm.write(f"Early stopping at step {step}: validation BLEU has not "
                            f"improved for {best_patience} evaluations.")
            break
  finally:
    bar.close()
    writer.close()

  # Final scores: the best checkpoint by (mean) validation BLEU (else the last state;
  # always the last with final_checkpoint="last", for comparing runs after equal steps),
  # with the final beam size. The translations go to final_<split>[.seed<s>].hyp.txt.
  final = {"step": step}
  final_params, final["checkpoint"] = state.params, f"last (step {step})"
  best_step = checkpointer.best.best_step() if final_checkpoint == "best" else None
  if best_step is not None and best_step != step:
    best = checkpointer.best.restore(best_step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract)))["state"]
    final_params, final["checkpoint"] = best.params, f"best (step {best_step})"
  final["beam"] = config.get("final_beam", 5)
  per_seed = [{"seed": s} for s in seeds]
  for split, source in (("validation", valid_src), ("test", test_src)):
    outs = run_eval(step, f"final_{split}", source, None if split == "test"
                    else config.get("max_eval_sentences"), params=final_params,
                    beam=final["beam"])
    if outs is None:
      continue
    for entry, (res, hyps) in zip(per_seed, outs):
      entry[split] = score_summary(res)
      name = f"final_{split}.seed{entry['seed']}.hyp.txt" if multi else f"final_{split}.hyp.txt"
      write_hypotheses(os.path.join(workdir, name), hyps)
    final[split] = mean_over_seeds([e[split] for e in per_seed]) if multi else per_seed[0][split]
  if multi:
    final["seeds"] = per_seed
  with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
    json.dump(final, f, indent=2)
  checkpointer.close()
  return final

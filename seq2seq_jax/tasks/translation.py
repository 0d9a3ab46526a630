"""Translation (and any text-to-text pairs): the encoder-decoder trained with teacher
forcing, scored by sacreBLEU / chrF on detokenized greedy or beam-search output.

Data: a parallel source by name (``data.sources.load_parallel``: TFDS builders such as
``software_l10n/en-de``, TFDS names, ``text:DIR``, ``synthetic/copy``), tokenizers
trained once on the training split and saved as the run's assets, bucketed grain batches
(checkpointable). Loss: token cross-entropy (optionally label-smoothed), by default
through the fused output layer (``nn/output_loss.py``: no BxTxV array kept for the
backward pass). Predictions: ``inference.translator.Translator``, the same object the
``translate`` and ``evaluate`` commands load from a run directory. Selection: BLEU.

Shapes: B batch, S source and T target length, H hidden, V vocabulary.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from absl import logging

from seq2seq_jax.config_base import ConfigError
from seq2seq_jax import checkpoints as ckpt_lib
from seq2seq_jax.decoding import ensemble as ens_lib
from seq2seq_jax import evaluation
from seq2seq_jax import losses
from seq2seq_jax.models import seq2seq as model_lib
from seq2seq_jax import tasks
from seq2seq_jax.data import pipeline, sources, tokenizer as tok_lib
from seq2seq_jax.inference import translator as translator_lib
from seq2seq_jax.nn import output_loss


def head(source, n):
  """The first `n` pairs of `source` (all of it when n is falsy or larger)."""
  if not n or source is None or len(source) <= n:
    return source
  pairs = [source[i] for i in range(n)]
  return sources.from_lists([p[0] for p in pairs], [p[1] for p in pairs], source.src_lang,
                            source.tgt_lang, name=f"{source.name}[:{n}]", split=source.split)


def load_data(config, workdir: str) -> tasks.Data:
  """Train/validation/test sources and the tokenizers fitted on the training split."""
  if config.dataset.startswith("software_l10n/"):
    sources.prepare_tfds(config.dataset, config.data_dir)
  load = functools.partial(sources.load_parallel, config.dataset, src_lang=config.src_lang,
                           tgt_lang=config.tgt_lang, data_dir=config.data_dir)
  splits = {"train": load(split="train")}
  for name in ("validation", "test"):
    try:
      splits[name] = load(split=name)
    except (KeyError, ValueError, FileNotFoundError) as e:
      logging.warning("No %s split (%s)", name, e)
      splits[name] = None
  splits["train"] = head(splits["train"], config.get("max_train_examples"))
  src_tok, tgt_tok = tok_lib.build_tokenizers(config, splits["train"], workdir)
  tok_dir = os.path.join(workdir, "tokenizer")
  assets = sorted(os.path.join(tok_dir, f) for f in os.listdir(tok_dir)
                  if not f.startswith("."))
  return tasks.Data(splits, assets, {"src_tok": src_tok, "tgt_tok": tgt_tok})


def model_config_from(config, src_vocab: int, tgt_vocab: int) -> model_lib.ModelConfig:
  d = config.model.to_dict()
  d.update(src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab)
  return model_lib.ModelConfig.from_dict(d)


def sequence_loss(model, params, mb, key, *, label_smoothing: float, fused: bool,
                  loss_chunk: int):
  """(sum of the training loss, number of target tokens, {"nll": sum of NLL}).

  `fused` computes the output layer and the loss by `nn.output_loss.fused_losses` (the
  logits' gradient in closed form); `loss_chunk` > 0 (implies fused) makes the logits
  that many target steps (x B rows) at a time. The same update as autodiff of
  `losses.token_losses`, up to rounding (tested).
  """
  if fused or loss_chunk:
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
    loss, nll, w = losses.token_losses(logits, mb["tgt_out"], mb["tgt_weights"],
                                       label_smoothing)
  return loss, w, {"nll": nll}


def eval_nll(model, params, batch):
  """Teacher-forced (sum of NLL, number of tokens) of an eval batch."""
  logits, _ = model(params, batch["src"], batch["src_len"], batch["tgt_in"])
  _, nll, w = losses.token_losses(logits, batch["tgt_out"], batch["tgt_weights"])
  return nll, w


def score_summary(res: dict) -> dict:
  """The final_metrics.json entry of one evaluation."""
  return {"bleu": res["bleu"], "chrf": res["chrf"], "ppl": res["ppl"],
          "bleu_signature": res["bleu_signature"], "chrf_signature": res["chrf_signature"]}


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


@tasks.register("translation")
class Translation(tasks.Task):
  """See the module docstring."""
  select_by = "bleu"
  select_mode = "max"
  weight_name = "tokens"

  def check_config(self, config):
    loss_chunk = config.get("loss_chunk", 0)
    if not isinstance(loss_chunk, int) or loss_chunk < 0:
      raise ConfigError(f"loss_chunk must be 0 (off) or a positive number of target steps, "
                       f"got {loss_chunk!r}")
    eval_max_len = config.get("eval_max_len", 0)
    if not isinstance(eval_max_len, int) or (eval_max_len and eval_max_len < config.max_len):
      raise ConfigError(f"eval_max_len must be 0 (the training max_len={config.max_len}) or "
                       f"at least max_len, got {eval_max_len!r}")

  def build_data(self, config, workdir):
    return load_data(config, workdir)

  def build_model(self, config, data):
    src_tok, tgt_tok = data.extra["src_tok"], data.extra["tgt_tok"]
    model = model_lib.Seq2Seq(model_config_from(config, src_tok.vocab_size,
                                                 tgt_tok.vocab_size))
    c = model.cfg
    print(f"Model: {c.cell} {c.encoder_layers}x{c.hidden_dim}, attention={c.attention}; "
          f"vocab {src_tok.vocab_size}/{tgt_tok.vocab_size}", flush=True)
    return model

  def model_meta(self, model):
    return ckpt_lib.to_json(dataclasses.asdict(model.cfg))

  def train_batches(self, run, *, batch_multiple, shard_index, shard_count):
    from seq2seq_jax import trainer  # pylint: disable=g-import-not-at-top
    c, d = run.config, run.data
    it = pipeline.make_train_iterator(
        d.splits["train"], d.extra["src_tok"], d.extra["tgt_tok"],
        batch_size=c.get("batch_size") or None,
        tokens_per_batch=c.get("tokens_per_batch") or None, batch_multiple=batch_multiple,
        buckets=c.buckets, max_len=c.max_len, reverse_source=c.reverse_source,
        seed=trainer.data_seed_of(c), shard_index=shard_index, shard_count=shard_count)
    return tasks.HostBatches(it, checkpointable=it)

  def loss(self, run, params, batch, key):
    c = run.config
    return sequence_loss(run.model, params, batch, key,
                         label_smoothing=c.get("label_smoothing", 0.0),
                         fused=bool(c.get("fused_loss", True)),
                         loss_chunk=c.get("loss_chunk", 0))

  def uniform_loss(self, run):
    return math.log(run.data.extra["tgt_tok"].vocab_size)  # NLL per target token

  def train_log(self, means):
    return {"ppl": math.exp(min(means["nll"], 50.0))}

  # ---- evaluation -----------------------------------------------------------
  def _translator(self, run, params):
    d = run.data
    return translator_lib.Translator(run.model, params, d.extra["src_tok"],
                                     d.extra["tgt_tok"], run.config.to_dict())

  def evaluate(self, run, params, split, *, step, final=False):
    source = run.data.splits.get(split)
    if source is None:
      return None
    c = run.config
    limit = None if (final and split == "test") else c.get("max_eval_sentences")
    source = head(source, limit)
    beam = c.get("final_beam", 5) if final else 1
    srcs = [source[i][0] for i in range(len(source))]
    refs = [source[i][1] for i in range(len(source))]
    name = f"final_{split}" if final else split
    out = []
    for i, seed in enumerate(run.seeds):
      p = run.seed_params(params, i)
      tr = self._translator(run, p)
      nll, w = self._nll(run, tr, p, source)
      hyps = [h[0].text for h in tr.translate(srcs, beam=beam, alpha=c.get("eval_alpha", 0.6),
                                              batch_size=c.eval_batch_size)]
      bleu, chrf = evaluation.bleu(hyps, refs), evaluation.chrf(hyps, refs)
      res = {"nll": nll / max(w, 1.0), "ppl": math.exp(min(nll / max(w, 1.0), 50.0)),
             "bleu": bleu.score, "chrf": chrf.score, "bleu_signature": bleu.signature,
             "chrf_signature": chrf.signature}
      tqdm.tqdm.write(f"[{name} @ step {step}, {'beam ' + str(beam) if beam > 1 else 'greedy'}"
                      f"{f', seed {seed}' if run.multi else ''}]"
                      f" ppl {res['ppl']:.2f}  {bleu}  chrF2 {chrf.score:.2f}")
      for j in range(min(c.get("num_examples_to_print", 3), len(hyps)) if i == 0 else 0):
        tqdm.tqdm.write(f"  SRC: {srcs[j]}\n  REF: {refs[j]}\n  HYP: {hyps[j]}")
      if final:
        suffix = f".seed{seed}" if run.multi else ""
        write_hypotheses(os.path.join(run.workdir, f"final_{split}{suffix}.hyp.txt"), hyps)
      out.append(res)
    if run.multi:
      bleus = [r["bleu"] for r in out]
      tqdm.tqdm.write(f"[{name} @ step {step}] mean over {len(run.seeds)} seeds: BLEU "
                      f"{np.mean(bleus):.2f} (std {np.std(bleus):.2f})  chrF2 "
                      f"{np.mean([r['chrf'] for r in out]):.2f}")
    return out

  def _nll(self, run, tr, params, source):
    """Teacher-forced NLL over `source`, in the translator's length buckets."""
    if "eval_nll" not in run.cache:
      run.cache["eval_nll"] = jax.jit(functools.partial(eval_nll, run.model))
    c = run.config
    batches = pipeline.make_eval_batches(
        source, tr.src_tok, tr.tgt_tok, batch_size=c.eval_batch_size, buckets=tr.buckets,
        max_len=tr.max_len, reverse_source=tr.reverse_source, batch_multiple=1)
    nll = w = 0.0
    for batch in batches:
      n, ww = run.cache["eval_nll"](params, {k: jnp.asarray(v) for k, v in batch.items()})
      nll, w = nll + float(n), w + float(ww)
    return nll, w

  def final_metrics(self, run, evals, *, step, checkpoint, history, init_params,
                    final_params):
    final = {"step": step, "checkpoint": checkpoint,
             "beam": run.config.get("final_beam", 5)}
    per_seed = [{"seed": s} for s in run.seeds]
    for split, outs in evals.items():
      if outs is None:
        continue
      for entry, res in zip(per_seed, outs):
        entry[split] = score_summary(res)
      final[split] = (mean_over_seeds([e[split] for e in per_seed]) if run.multi
                      else per_seed[0][split])
    if run.multi:
      final["seeds"] = per_seed
    return final

  def predictor(self, meta, members, asset_paths):
    model = model_lib.Seq2Seq(model_lib.ModelConfig.from_dict(meta["model"]))
    src_tok, tgt_tok = translator_lib.load_tokenizers(asset_paths)
    if len(members) == 1:
      return translator_lib.Translator(model, members[0], src_tok, tgt_tok,
                                       meta.get("config", {}))
    return translator_lib.Translator(ens_lib.Ensemble(model), ens_lib.stack_params(members),
                                     src_tok, tgt_tok, meta.get("config", {}))

  def summary_lines(self, final):
    lines = []
    for split in ("validation", "test"):
      if isinstance(final.get(split), dict):
        r = final[split]
        lines += [f"{split}: BLEU {r['bleu']:.2f}  chrF2 {r['chrf']:.2f}  ppl {r['ppl']:.2f}",
                  f"  {r['bleu_signature']}\n  {r['chrf_signature']}"]
    return lines

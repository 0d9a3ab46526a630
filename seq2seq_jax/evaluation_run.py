"""Evaluating a saved run on a dataset split (used by the evaluate CLI and notebooks)."""
from __future__ import annotations

import collections
import json
import os

import jax.numpy as jnp
import numpy as np

from seq2seq_jax import analysis
from seq2seq_jax.decoding import ensemble as ens_lib
from seq2seq_jax.inference import predictor
from seq2seq_jax.data import sources


def _target_word_counts(name, data_dir, src_lang, tgt_lang, max_lines=200_000):
  try:
    train = sources.load_parallel(name, "train", src_lang, tgt_lang, data_dir=data_dir)
  except Exception:  # pylint: disable=broad-except  (rare-word stats are optional)
    return None
  counts = collections.Counter()
  for i in range(min(len(train), max_lines)):
    counts.update(train[i][1].split())
  return counts


def evaluate_run(workdirs, split: str, out_dir: str, *, checkpoint="best", beam=5, alpha=0.6,
                 beta=0.0, limit=0, heatmaps=3) -> dict:
  tr = predictor.load_predictor(workdirs, checkpoint)
  first = workdirs if isinstance(workdirs, str) else workdirs[0]
  run_cfg = predictor.run_config(first, checkpoint)
  data = sources.load_parallel(run_cfg["dataset"], split, run_cfg["src_lang"],
                               run_cfg["tgt_lang"], data_dir=run_cfg.get("data_dir"))
  n = len(data) if not limit else min(limit, len(data))
  srcs = [data[i][0] for i in range(n)]
  refs = [data[i][1] for i in range(n)]
  results = tr.translate(srcs, beam=beam, alpha=alpha, beta=beta)
  hyps = [r[0].text for r in results]
  counts = _target_word_counts(run_cfg["dataset"], run_cfg.get("data_dir"),
                               run_cfg["src_lang"], run_cfg["tgt_lang"])
  report = analysis.full_report(srcs, hyps, refs, out_dir, train_counts=counts,
                                src_tokenizer=tr.src_tok)
  report.update(split=split, num_sentences=n, beam=beam, alpha=alpha, beta=beta,
                checkpoint=checkpoint)
  if not isinstance(tr.model, ens_lib.Ensemble) and tr.model.cfg.has_attention:
    for i in range(min(heatmaps, n)):
      src_ids = tr.encode_sources([srcs[i]])[0]
      tgt_ids = results[i][0].tokens + [tr.tgt_tok.eos_id]
      _, attn = tr.model(tr.params, jnp.asarray([src_ids]), jnp.asarray([len(src_ids)]),
                         jnp.asarray([[tr.tgt_tok.bos_id] + tgt_ids[:-1]]))
      analysis.plot_attention([tr.src_tok.id_to_piece(t) for t in src_ids],
                              [tr.tgt_tok.id_to_piece(t) for t in tgt_ids], np.asarray(attn[0]),
                              os.path.join(out_dir, f"attention_{i}.png"))
  with open(os.path.join(out_dir, "metrics.json"), "w") as f:
    json.dump(report, f, indent=1)
  return report

r"""Quality per wall-clock: seq2seq_jax's default config vs a JoeyNMT RNN, same budget, same data.

Each side trains for `--minutes` (25 in the performance issue) on this machine, one after the
other (never concurrently), on the en-de software-l10n corpus, then translates the test set
with beam 5 and greedily. Both outputs are scored here by the same sacreBLEU call on
detokenized text against the same references. The peer runs in its own interpreter
(`.venv-bench`, torch 2.13.0 + JoeyNMT 2.3) through benchmarks/joeynmt_peer.py, which trains
its own sentencepiece BPE model and uses a bidirectional LSTM encoder with attention and
JoeyNMT's defaults (its docstring gives the config and why).

  .venv/bin/python benchmarks/quality_per_time.py [--minutes 25] [--write]
  # smoke run of the whole pipeline (both sides, about 10 min):
  .venv/bin/python benchmarks/quality_per_time.py --minutes 1 --dataset software_l10n/en-de-small
  # after a decoding change: both sides translate and score again with the models trained
  .venv/bin/python benchmarks/quality_per_time.py --retranslate [--write]

Budgets. Ours: `train_time_budget_minutes` of configs/default.py, counted from the first
training step (compilation and periodic greedy validation included; building the corpus and
training the tokenizer excluded). JoeyNMT: the same minutes counted from the start of its
training loop (its data loading excluded; its periodic validation included). Each side then
scores the checkpoint it would ship: ours the one its own final scores used (best by
validation BLEU, or last), JoeyNMT its latest.ckpt, the weights at the end of the budget
(benchmarks/joeynmt_peer.py says why). Translation time: ours is reported cold (a fresh process's first pass,
compilation included) and warm (a second pass); JoeyNMT's is its prediction call after the
model is loaded.

Targets (performance issue): test sacreBLEU >= 20 and beam-5 translation >= 5x JoeyNMT's
sentences per second.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
_BENCH_PY = os.path.join(ROOT, ".venv-bench", "bin", "python")


def export_text(dataset: str, data_dir: str, out_dir: str) -> dict:
  """Writes train/dev/test .en/.de files from the project's loader; returns line counts."""
  from seq2seq_jax.data import sources  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  counts = {}
  for split, name in (("train", "train"), ("validation", "dev"), ("test", "test")):
    src = sources.load_parallel(dataset, split, "en", "de", data_dir=data_dir)
    if len(src) == 0:
      raise ValueError(f"{dataset} split {split!r} is empty")
    tmp = {lang: os.path.join(out_dir, f"{name}.{lang}.tmp") for lang in ("en", "de")}
    with open(tmp["en"], "w") as fe, open(tmp["de"], "w") as fd:
      for en, de in src:
        # One sentence per line is the plain-text contract of both toolkits.
        fe.write(" ".join(en.split()) + "\n")
        fd.write(" ".join(de.split()) + "\n")
    for lang, path in tmp.items():
      os.replace(path, path[:-len(".tmp")])
    counts[name] = len(src)
  return counts


def _last_json(stdout: str) -> dict:
  lines = [l for l in stdout.splitlines() if l.startswith("{")]
  if not lines:
    raise RuntimeError(f"no JSON result in the output:\n{stdout[-2000:]}")
  return json.loads(lines[-1])


def _run(cmd: list[str], log_path: str) -> tuple[str, float]:
  """Runs `cmd`, teeing its output to `log_path`; (stdout, seconds). Fails loudly."""
  t0 = time.perf_counter()
  with open(log_path, "w") as log:
    # Our CLI's persistent compilation cache would let an earlier run's compiled
    # programs shorten this one's: every side compiles from scratch here.
    env = dict(os.environ, SEQ2SEQ_JAX_COMPILATION_CACHE="off")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT,
                          env=env)
    log.write(proc.stdout)
  if proc.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log_path}")
  return proc.stdout, time.perf_counter() - t0


def train_ours(args, work: str) -> dict:
  wd = os.path.join(work, "ours")
  cmd = [sys.executable, "-m", "seq2seq_jax.main", "--config=configs/default.py",
         f"--workdir={wd}", f"--config.dataset={args.dataset}",
         f"--config.train_time_budget_minutes={args.minutes}",
         "--config.progress_bar=False"]
  if args.data_dir:
    cmd.append(f"--config.data_dir={args.data_dir}")
  _, seconds = _run(cmd, os.path.join(work, "ours_train.log"))
  rates = []
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    for line in f:
      rec = json.loads(line)
      if rec.get("split") == "train":
        rates.append(rec["tokens_per_sec"])  # target tokens/s over each logging interval
  with open(os.path.join(wd, "final_metrics.json")) as f:
    final = json.load(f)
  steps = final["step"]
  return {"workdir": wd, "steps": steps, "wall_seconds": seconds,
          "scored_checkpoint": final.get("checkpoint"),
          "target_tokens_per_sec": sorted(rates)[len(rates) // 2] if rates else float("nan")}


def translate_ours(wd: str, src_path: str, out_path: str, beam: int, checkpoint: str) -> dict:
  """Translates in a fresh process twice: cold (compiles) and warm. Writes the warm output."""
  code = r"""
import json, sys, time
t0 = time.perf_counter()
from seq2seq_jax.inference import predictor
tr = predictor.load_predictor(sys.argv[1], sys.argv[5])
load_s = time.perf_counter() - t0
lines = [l.rstrip("\n") for l in open(sys.argv[2])]
beam = int(sys.argv[4])
times = []
for _ in range(2):
  t0 = time.perf_counter()
  hyps = tr.translate(lines, beam=beam, alpha=0.6)
  times.append(time.perf_counter() - t0)
with open(sys.argv[3], "w") as f:
  f.writelines(h[0].text + "\n" for h in hyps)
print(json.dumps({"load_seconds": load_s, "cold_seconds": times[0], "seconds": times[1],
                  "sentences": len(lines)}))
"""
  out, _ = _run([sys.executable, "-c", code, wd, src_path, out_path, str(beam), checkpoint],
                out_path + ".log")
  r = _last_json(out)
  r["sentences_per_sec"] = r["sentences"] / r["seconds"]
  r["cold_sentences_per_sec"] = r["sentences"] / r["cold_seconds"]
  return r


def peer(args, work: str, text_dir: str) -> dict:
  py = [args.peer_python, os.path.join(HERE, "joeynmt_peer.py")]
  wd = os.path.join(work, "joeynmt")
  out = {}
  o, _ = _run(py + ["prepare", "--text-dir", text_dir, "--workdir", wd,
                    "--batch-tokens", str(args.peer_batch_tokens)],
              os.path.join(work, "joey_prepare.log"))
  out["prepare"] = _last_json(o)
  o, _ = _run(py + ["train", "--workdir", wd, "--minutes", str(args.minutes),
                    *_peer_threads(args)],
              os.path.join(work, "joey_train.log"))
  out["train"] = _last_json(o)
  return out | peer_translate(args, work, text_dir)


def _peer_threads(args) -> list[str]:
  return ["--threads", str(args.peer_threads)] if args.peer_threads else []


def peer_translate(args, work: str, text_dir: str) -> dict:
  """JoeyNMT's test-set translations (beam 5, greedy) with its trained checkpoint."""
  py = [args.peer_python, os.path.join(HERE, "joeynmt_peer.py")]
  wd = os.path.join(work, "joeynmt")
  out = {}
  for beam in (5, 1):
    hyp = os.path.join(work, f"joeynmt_test_beam{beam}.de")
    o, _ = _run(py + ["translate", "--workdir", wd, "--input", os.path.join(text_dir, "test.en"),
                      "--output", hyp, "--beam", str(beam), *_peer_threads(args)],
                os.path.join(work, f"joey_translate{beam}.log"))
    out[f"beam{beam}"] = _last_json(o) | {"hyp": hyp}
  return out


def score(hyp_path: str, ref_path: str) -> dict:
  import sacrebleu  # pylint: disable=g-import-not-at-top
  hyps = [l.rstrip("\n") for l in open(hyp_path)]
  refs = [l.rstrip("\n") for l in open(ref_path)]
  if len(hyps) != len(refs):
    raise ValueError(f"{hyp_path} has {len(hyps)} lines but {ref_path} has {len(refs)}")
  bleu = sacrebleu.metrics.BLEU()
  chrf = sacrebleu.metrics.CHRF()
  b = bleu.corpus_score(hyps, [refs])
  c = chrf.corpus_score(hyps, [refs])
  return {"bleu": b.score, "chrf": c.score, "signature": str(bleu.get_signature())}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--minutes", type=float, default=25.0)
  ap.add_argument("--dataset", default="software_l10n/en-de")
  ap.add_argument("--data-dir", default=os.path.join(ROOT, "data", "tfds"))
  ap.add_argument("--workdir", default=os.path.join(ROOT, "workdir", "quality_per_time"))
  ap.add_argument("--peer-python", default=_BENCH_PY)
  ap.add_argument("--peer-batch-tokens", type=int, default=2048,
                  help="JoeyNMT's batch size in (padded) tokens")
  ap.add_argument("--peer-threads", type=int, default=0,
                  help="torch threads for JoeyNMT (0: torch's default, one per core)")
  ap.add_argument("--retranslate", action="store_true",
                  help="keep the models an earlier run in --workdir trained (its result.json) and "
                       "only translate and score the test set again, both sides in this run "
                       "(e.g. after a decoding change)")
  ap.add_argument("--write", action="store_true")
  args = ap.parse_args()
  if args.minutes <= 0:
    raise SystemExit("--minutes must be > 0")
  if not os.path.exists(args.peer_python):
    raise SystemExit(f"peer interpreter {args.peer_python} not found: python3 -m venv .venv-bench "
                     "&& .venv-bench/bin/pip install torch==2.13.0 joeynmt==2.3.0 sacrebleu")
  work = os.path.join(args.workdir, f"{args.minutes:g}min")
  text_dir = os.path.join(work, "text")
  test_src, test_ref = os.path.join(text_dir, "test.en"), os.path.join(text_dir, "test.de")
  if args.retranslate:
    result = os.path.join(work, "result.json")
    if not os.path.exists(result):
      raise SystemExit(f"--retranslate needs an earlier run's {result}")
    with open(result) as f:
      prev = json.load(f)
    ours, joey, counts = prev["ours"], prev["joeynmt"], prev["counts"]
    trained_on = prev.get("trained_on", "an earlier run")
  else:
    if os.path.exists(work):
      raise SystemExit(f"{work} exists: remove it or choose another --workdir (a benchmark "
                       "must start both sides from scratch)")
    os.makedirs(work)
    counts = export_text(args.dataset, args.data_dir, text_dir)
    trained_on = str(datetime.date.today())
  load_before = os.getloadavg()

  if not args.retranslate:
    ours = train_ours(args, work)
  for beam in (5, 1):
    hyp = os.path.join(work, f"ours_test_beam{beam}.de")
    # The parameters the run's own final scores used ("best (step s)" or "last (step s)").
    kind = "best" if ours["scored_checkpoint"].startswith("best") else "last"
    ours[f"beam{beam}"] = translate_ours(ours["workdir"], test_src, hyp, beam, kind) | {"hyp": hyp}
  if args.retranslate:
    joey |= peer_translate(args, work, text_dir)
  else:
    joey = peer(args, work, text_dir)
  load_after = os.getloadavg()
  for side in (ours, joey):
    for beam in (5, 1):
      side[f"beam{beam}"] |= score(side[f"beam{beam}"]["hyp"], test_ref)
  with open(os.path.join(work, "result.json"), "w") as f:
    json.dump({"ours": ours, "joeynmt": joey, "counts": counts, "trained_on": trained_on},
              f, indent=1)

  o5, j5, o1, j1 = ours["beam5"], joey["beam5"], ours["beam1"], joey["beam1"]
  rows = [
      ("test sacreBLEU, beam 5", f"{o5['bleu']:.2f}", f"{j5['bleu']:.2f}",
       f"{o5['bleu'] - j5['bleu']:+.2f}"),
      ("test chrF2, beam 5", f"{o5['chrf']:.2f}", f"{j5['chrf']:.2f}",
       f"{o5['chrf'] - j5['chrf']:+.2f}"),
      ("test sacreBLEU, greedy", f"{o1['bleu']:.2f}", f"{j1['bleu']:.2f}",
       f"{o1['bleu'] - j1['bleu']:+.2f}"),
      ("training steps in the budget", str(ours["steps"]), str(joey["train"].get("steps")), ""),
      ("target tokens/s in training (median)", f"{ours['target_tokens_per_sec']:.0f}",
       f"{joey['train'].get('target_tokens_per_sec', float('nan')):.0f}",
       f"{ours['target_tokens_per_sec'] / joey['train'].get('target_tokens_per_sec', float('nan')):.2f}x"),
  ]
  for beam, o, j in ((5, o5, j5), (1, o1, j1)):
    name = "beam 5" if beam == 5 else "greedy"
    rows.append((f"test set sentences/s, {name} (warm)", f"{o['sentences_per_sec']:.1f}",
                 f"{j['sentences_per_sec']:.1f}",
                 f"{o['sentences_per_sec'] / j['sentences_per_sec']:.2f}x"))
    rows.append((f"test set sentences/s, {name} (ours cold: incl. compile)",
                 f"{o['cold_sentences_per_sec']:.1f}", f"{j['sentences_per_sec']:.1f}",
                 f"{o['cold_sentences_per_sec'] / j['sentences_per_sec']:.2f}x"))
  machine = f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'})"
  lines = [
      f"### Quality per wall-clock vs JoeyNMT ({datetime.date.today()}, {machine})",
      "",
      f"Command: `python benchmarks/quality_per_time.py --minutes {args.minutes:g} "
      f"--dataset {args.dataset}{' --retranslate' if args.retranslate else ''}`"
      f"{f' (models trained on {trained_on}; translations and scores from this run)' if args.retranslate else ''}"
      f". {counts['train']} training pairs, {counts['test']} test "
      f"lines. Ours: configs/default.py ({args.minutes:g}-min training budget). JoeyNMT "
      f"2.3.0 (benchmarks/joeynmt_peer.py): bidirectional LSTM 256 encoder, LSTM 256 decoder, "
      f"Luong attention, input feeding, joint sentencepiece BPE 8k, Adam 1e-3, "
      f"{args.peer_batch_tokens}-token batches, torch threads: "
      f"{joey['train'].get('threads')}; "
      f"scored checkpoint: {joey['train'].get('checkpoint_kind', '?')}; ours: "
      f"{ours['scored_checkpoint']}. sacreBLEU "
      f"{o5['signature']}. Load average before/after: {load_before[0]:.2f}/{load_after[0]:.2f}.",
      "",
      "| metric | seq2seq_jax | JoeyNMT | ours - theirs / ratio |",
      "|---|---|---|---|",
      *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
      "",
  ]
  import report  # pylint: disable=g-import-not-at-top  (benchmarks/report.py, beside this file)
  report.publish(lines, args.write)


if __name__ == "__main__":
  main()

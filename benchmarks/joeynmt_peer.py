r"""JoeyNMT 2.3 peer for the "quality per wall-clock" benchmark (en->de software l10n).

A JoeyNMT recurrent model of about our size, with its own joint sentencepiece BPE,
trained for a fixed wall-clock budget, then used to translate the test set with
beam 5 and greedy search. Run with the peer interpreter (JoeyNMT 2.3.0, torch CPU,
sentencepiece, sacrebleu); every subcommand prints one JSON line, last on stdout:

  P=.venv-bench/bin/python; S=benchmarks/joeynmt_peer.py
  $P $S prepare --text-dir D --workdir W [--vocab-size 8000 --batch-tokens 2048]
  $P $S train --workdir W --minutes 25
  $P $S translate --workdir W --input D/test.en --output W/test.beam5.de --beam 5
  $P $S translate --workdir W --input D/test.en --output W/test.greedy.de --beam 1
  $P $S score --hyp W/test.beam5.de --ref D/test.de

D holds aligned plain-text files train|dev|test.{en,de}, one sentence per line.

prepare: one joint sentencepiece BPE model (8k) on train.en + train.de, trained as
JoeyNMT's scripts/build_vocab.py does (its special ids unk=0 pad=1 bos=2 eos=3,
character_coverage 1.0, up to 1M shuffled input sentences); its .vocab file (every
piece, specials first) is the voc_file of both sides, so JoeyNMT's vocabulary is
exactly the spm pieces (shared, not tied). W/config.yaml, the choices:
  * encoder: 1-layer bidirectional LSTM, 256 units per direction (memory 512),
    embeddings 256. "Bidirectional LSTM 256" is JoeyNMT's own RNN example
    (configs/iwslt_deen_bahdanau.yaml: 1 layer, emb 256, Adam 1e-3); its encoder
    default num_layers is 1 too. Decoder: 1-layer LSTM 256, input feeding (default).
  * attention "luong" (bilinear), as in that example and as our model's "general"
    attention; JoeyNMT's default is "bahdanau" (--attention bahdanau to switch).
  * init_hidden "bridge", initializers, normalization "batch", no gradient clipping,
    no label smoothing: JoeyNMT's defaults. Adam lr 1e-3. JoeyNMT 2.3 rejects a
    config without `scheduling` (builders.build_scheduler has no constant case) and
    its "plateau" (the RNN examples') passes `verbose`, which torch 2.13's
    ReduceLROnPlateau no longer takes; so "exponential" with decrease_factor 1.0,
    a per-epoch decay by 1: a constant 1e-3, as the issue's peer had.
  * dropout 0.2 on RNN inputs (encoder and decoder) and hidden_dropout 0.2 on the
    attention vector, as JoeyNMT's RNN examples (rnn_small, iwslt_deen) use.
  * batches by tokens (--batch-tokens, default 2048): JoeyNMT counts padded tokens,
    max(src, trg length + 1) x sentences, with no bucketing (random order), so 2048
    is about 50-60 sentences here, near the examples' sentence batches of 64. The
    issue's peer took the best of four sizes: run prepare+train once per size.
  * max_length 100 pieces (longer training pairs are dropped); decoding keeps
    JoeyNMT's max_output_length default (1.5 x source length) and beam_alpha -1
    (no length penalty).
  * validation (greedy, dev BLEU, early_stopping_metric bleu) every 1000 updates
    (--validation-freq), logging every 100: at ~1 update/s on this CPU that is one
    or two dev passes in 25 minutes, a few % of the budget.
  * use_cuda False, fp16 False, random_seed 42, overwrite True (model_dir W/model).

--threads N (train, translate) sets torch's intra-op threads (OMP_NUM_THREADS for the
training process); the default is torch's own, one per core. Give it when the
machine is shared: on 2 cores next to another busy process, torch's 2 OpenMP
threads took ~25 s per update against ~1.2 s with 1 thread.

train: JoeyNMT's CLI, `joeynmt train W/config.yaml --skip-test`, in a subprocess,
started as `joeynmt_peer.py joeynmt ...`: JoeyNMT's __main__ after a shim for
sentencepiece 0.2.3, which dropped SetVocabulary (JoeyNMT calls it to restrict
encoding to its vocab; ours holds every spm piece, so the shim checks that and does
nothing). After --minutes of wall-clock since its training loop began ("EPOCH 1" in
its log: start-up and data loading do not count, validations do) it gets SIGINT. JoeyNMT 2.3's training loop catches
KeyboardInterrupt ("Interrupt at epoch e, step s") and its `finally` always saves
the current weights as <step>.ckpt and points latest.ckpt at it (training.py,
train_and_validate); --skip-test stops it from then testing best.ckpt, which exists
only after a validation. We wait up to 5 minutes for that, then SIGKILL and fail.
The checkpoint tested is latest.ckpt, the weights at the end of the budget: with a
constant rate and one or two validations, the best by dev BLEU would be the latest
or one far earlier (a wasted share of the budget); best.ckpt (by dev BLEU) stays in
W/model for comparison. JSON: steps and target tokens from the checkpoint's
statistics, target_tokens_per_sec = tokens / budget (validation included), joeynmt_logged_tokens_per_sec = mean of JoeyNMT's "Tokens per Sec" log
(training only), dev BLEU of each validation.

translate: JoeyNMT's own translate path (prediction.translate minus its stdin
handling, which drops empty lines): prepare(mode="translate") loads the model, every
input line goes into its StreamDataset, then prediction.predict (sentencepiece
encoding, sentence batches of --batch-size, default 64 as JoeyNMT's test default,
search, detokenization). Timed: predict alone; model loading is reported apart.
Empty input lines give empty output lines and are not sent to JoeyNMT.

score: sacreBLEU corpus BLEU and chrF (defaults: 13a tokenization) on detokenized
text, with their signatures.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

THREADS_HELP = "torch intra-op threads (default: torch's own, one per core)"
LANGS = ("en", "de")
SPLITS = ("train", "dev", "test")


def patch_sentencepiece() -> None:
  """JoeyNMT 2.3's SentencePieceTokenizer.set_vocab calls SetVocabulary(vocab), which
  sentencepiece 0.2.3 no longer has. It only restricts encoding to the given pieces;
  our vocab is every piece of the model, so it is a no-op: check that, do nothing."""
  import sentencepiece as spm
  if hasattr(spm.SentencePieceProcessor, "SetVocabulary"):
    return

  def set_vocabulary(self, valid_vocab):
    pieces = {self.id_to_piece(i) for i in range(self.get_piece_size())}
    missing = pieces - set(valid_vocab)
    if missing:
      raise RuntimeError(f"vocab lacks {len(missing)} spm pieces, e.g. {sorted(missing)[:5]}")

  spm.SentencePieceProcessor.SetVocabulary = set_vocabulary


def read_lines(path: Path) -> list[str]:
  if not path.is_file():
    raise SystemExit(f"error: {path} not found")
  text = path.read_text(encoding="utf-8")
  lines = text.split("\n")
  if lines and lines[-1] == "":
    lines.pop()
  return lines


def check_text_dir(d: Path) -> None:
  """JoeyNMT's plain dataset reads with str.splitlines() and drops empty lines, so
  lines must be non-empty, free of other line separators, and aligned."""
  for split in SPLITS:
    counts = []
    for lang in LANGS:
      path = d / f"{split}.{lang}"
      lines = read_lines(path)
      for i, line in enumerate(lines):
        if not line.strip():
          raise SystemExit(f"error: {path} line {i + 1} is empty (JoeyNMT would drop it)")
      if len(path.read_text(encoding="utf-8").splitlines()) != len(lines):
        raise SystemExit(f"error: {path} has line separators other than \\n")
      counts.append(len(lines))
    if counts[0] != counts[1]:
      raise SystemExit(f"error: {d}/{split}.en and .de differ in length: {counts}")


def prepare(a) -> dict:
  import sentencepiece as spm
  d, w = Path(a.text_dir).absolute(), Path(a.workdir).absolute()
  if not d.is_dir():
    raise SystemExit(f"error: text dir {d} not found")
  check_text_dir(d)
  w.mkdir(parents=True, exist_ok=True)
  prefix = w / f"spm{a.vocab_size}"
  spm.SentencePieceTrainer.train(
      input=f"{d / 'train.en'},{d / 'train.de'}", model_prefix=str(prefix),
      model_type="bpe", vocab_size=a.vocab_size, character_coverage=1.0,
      input_sentence_size=1_000_000, shuffle_input_sentence=True,
      unk_id=0, pad_id=1, bos_id=2, eos_id=3, unk_piece="<unk>", pad_piece="<pad>",
      bos_piece="<s>", eos_piece="</s>", vocabulary_output_piece_score=False,
      minloglevel=2)
  model_file, vocab_file = f"{prefix}.model", f"{prefix}.vocab"

  def side(lang):
    return {"lang": lang, "level": "bpe", "max_length": 100, "min_length": 1,
            "lowercase": False, "normalize": False, "voc_file": vocab_file,
            "tokenizer_type": "sentencepiece",
            "tokenizer_cfg": {"model_file": model_file, "model_type": "bpe",
                              "character_coverage": 1.0, "pretokenizer": "none"}}

  def rnn(**extra):
    return {"type": "recurrent", "rnn_type": "lstm", "hidden_size": a.hidden,
            "embeddings": {"embedding_dim": a.embed, "scale": False}, "num_layers": 1,
            "dropout": 0.2, **extra}

  cfg = {
      "name": "joeynmt_peer", "joeynmt_version": "2.3.0", "model_dir": str(w / "model"),
      "use_cuda": False, "fp16": False, "random_seed": 42,
      "data": {"train": str(d / "train"), "dev": str(d / "dev"), "test": str(d / "test"),
               "dataset_type": "plain", "src": side("en"), "trg": side("de")},
      "testing": {"beam_size": 5, "beam_alpha": -1, "batch_size": 64,
                  "batch_type": "sentence", "max_output_length": -1,
                  "eval_metrics": ["bleu"], "sacrebleu_cfg": {"tokenize": "13a"}},
      "training": {"optimizer": "adam", "adam_betas": [0.9, 0.999],
                   "learning_rate": 1e-3, "scheduling": "exponential",
                   "decrease_factor": 1.0, "loss": "crossentropy",
                   "batch_size": a.batch_tokens, "batch_type": "token",
                   "early_stopping_metric": "bleu", "epochs": 1000,
                   "validation_freq": a.validation_freq, "logging_freq": 100,
                   "keep_best_ckpts": 3, "overwrite": True, "shuffle": True,
                   "print_valid_sents": [0, 1, 2]},
      "model": {"tied_embeddings": False,
                "encoder": rnn(bidirectional=True),
                "decoder": rnn(hidden_dropout=0.2, input_feeding=True,
                               init_hidden="bridge", attention=a.attention)},
  }
  (w / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
  n_vocab = len(read_lines(Path(vocab_file)))
  return {"config": str(w / "config.yaml"), "spm_model": model_file, "vocab_size": n_vocab}


def train(a) -> dict:
  w = Path(a.workdir).absolute()
  config = w / "config.yaml"
  if not config.is_file():
    raise SystemExit(f"error: {config} not found (run prepare first)")
  model_dir = w / "model"
  log_path = w / "train.stdout"
  if model_dir.exists():  # an earlier run's train.log would end the wait below at once
    shutil.rmtree(model_dir)
  with log_path.open("w") as log:
    t0 = time.time()
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(a.threads)} if a.threads else {}))
    proc = subprocess.Popen([sys.executable, __file__, "joeynmt", "train", str(config),
                             "--skip-test"], stdout=log, stderr=subprocess.STDOUT, env=env,
                            # A shell starts background jobs with SIGINT ignored, and Python
                            # then installs no KeyboardInterrupt handler: restore the default
                            # so that the SIGINT below reaches JoeyNMT's handler.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # The budget starts with JoeyNMT's training loop ("EPOCH 1" in its log), as ours starts
    # with the first training step: loading and tokenizing the corpus is not training.
    train_log = model_dir / "train.log"
    while not (train_log.is_file() and "EPOCH 1" in train_log.read_text(encoding="utf-8")):
      if proc.poll() is not None:
        raise SystemExit(f"error: JoeyNMT exited before training (rc {proc.returncode}); "
                         f"see {log_path}")
      if time.time() - t0 > 900:
        proc.kill()
        raise SystemExit(f"error: JoeyNMT did not start training within 15 min; see {log_path}")
      time.sleep(0.5)
    t_train = time.time()
    try:
      rc = proc.wait(timeout=a.minutes * 60)
      raise SystemExit(f"error: JoeyNMT exited early (rc {rc}); see {log_path}")
    except subprocess.TimeoutExpired:
      pass
    t_stop = time.time()
    proc.send_signal(signal.SIGINT)
    try:
      rc = proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()
      raise SystemExit(f"error: JoeyNMT did not stop within 5 min of SIGINT; see {log_path}")
    t_exit = time.time()
  if rc != 0:
    raise SystemExit(f"error: JoeyNMT exited with rc {rc} after SIGINT; see {log_path}")
  latest = model_dir / "latest.ckpt"
  if not latest.is_file():
    raise SystemExit(f"error: {latest} not found; see {log_path}")
  import torch
  stats = torch.load(latest, map_location="cpu")["stats_state"]
  log_text = (model_dir / "train.log").read_text(encoding="utf-8")
  logged = [float(x) for x in re.findall(r"Tokens per Sec:\s*([0-9.]+)", log_text)]
  vals = []
  vfile = model_dir / "validations.txt"
  if vfile.is_file():
    for line in read_lines(vfile):
      m = re.search(r"Steps: (\d+).*?bleu: ([0-9.]+)", line)
      vals.append({"steps": int(m.group(1)), "dev_bleu": float(m.group(2))})
  train_seconds = t_stop - t_train
  return {"steps": stats["steps"], "train_seconds": round(train_seconds, 1),
          "startup_seconds": round(t_train - t0, 1),
          "exit_seconds": round(t_exit - t_stop, 1),
          "target_tokens": stats["total_tokens"],
          "target_tokens_per_sec": round(stats["total_tokens"] / train_seconds, 1),
          "joeynmt_logged_tokens_per_sec": round(sum(logged) / len(logged), 1)
          if logged else None,
          "threads": a.threads or "torch default",
          "validations": vals, "checkpoint": str(latest.resolve()),
          "checkpoint_kind": "latest"}


def translate(a) -> dict:
  w = Path(a.workdir).absolute()
  config, latest = w / "model" / "config.yaml", w / "model" / "latest.ckpt"
  for p in (config, latest):
    if not p.is_file():
      raise SystemExit(f"error: {p} not found (run prepare and train first)")
  lines = read_lines(Path(a.input))
  if a.limit:
    lines = lines[:a.limit]
  t0 = time.time()
  import torch
  if a.threads:
    torch.set_num_threads(a.threads)
  patch_sentencepiece()
  from joeynmt.config import load_config, parse_global_args
  from joeynmt.prediction import predict, prepare as joey_prepare
  cfg = load_config(config)
  cfg["testing"]["load_model"] = str(latest)
  args = parse_global_args(cfg, rank=0, mode="translate")
  test_args = args.test._replace(beam_size=a.beam, n_best=1, batch_size=a.batch_size,
                                 batch_type="sentence")
  model, _, _, stream = joey_prepare(args, rank=0, mode="translate")
  load_seconds = time.time() - t0
  keep = [i for i, line in enumerate(lines) if line.strip()]
  t1 = time.time()
  for i in keep:
    stream.set_item(lines[i].rstrip())
  _, _, hyps, _, _, _ = predict(model=model, data=stream, device=args.device,
                                n_gpu=args.n_gpu, rank=0, compute_loss=False,
                                normalization="none", num_workers=args.num_workers,
                                args=test_args, autocast=args.autocast)
  seconds = time.time() - t1
  out = [""] * len(lines)
  for i, hyp in zip(keep, hyps, strict=True):
    out[i] = hyp
  Path(a.output).write_text("".join(h + "\n" for h in out), encoding="utf-8")
  return {"seconds": round(seconds, 2), "sentences": len(lines),
          "sentences_per_sec": round(len(lines) / seconds, 2), "beam": a.beam,
          "batch_size": a.batch_size, "load_seconds": round(load_seconds, 2),
          "torch_threads": torch.get_num_threads(),
          "checkpoint": str(latest.resolve())}


def score(a) -> dict:
  import sacrebleu
  hyps, refs = read_lines(Path(a.hyp)), read_lines(Path(a.ref))
  if a.limit:
    refs = refs[:a.limit]
  if len(hyps) != len(refs):
    raise SystemExit(f"error: {a.hyp} has {len(hyps)} lines, {a.ref} {len(refs)}")
  bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
  b, c = bleu.corpus_score(hyps, [refs]), chrf.corpus_score(hyps, [refs])
  return {"bleu": round(b.score, 2), "chrf": round(c.score, 2), "sentences": len(hyps),
          "signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


def main() -> None:
  if sys.argv[1:2] == ["joeynmt"]:  # JoeyNMT's own CLI, with the sentencepiece shim
    patch_sentencepiece()
    from joeynmt.__main__ import main as joeynmt_main
    sys.argv = sys.argv[1:]
    joeynmt_main()
    return
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  sub = ap.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("prepare")
  p.add_argument("--text-dir", required=True)
  p.add_argument("--workdir", required=True)
  p.add_argument("--vocab-size", type=int, default=8000)
  p.add_argument("--batch-tokens", type=int, default=2048)
  p.add_argument("--hidden", type=int, default=256)
  p.add_argument("--embed", type=int, default=256)
  p.add_argument("--attention", choices=["luong", "bahdanau"], default="luong")
  p.add_argument("--validation-freq", type=int, default=1000)
  p = sub.add_parser("train")
  p.add_argument("--workdir", required=True)
  p.add_argument("--minutes", type=float, required=True)
  p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
  p = sub.add_parser("translate")
  p.add_argument("--workdir", required=True)
  p.add_argument("--input", required=True)
  p.add_argument("--output", required=True)
  p.add_argument("--beam", type=int, required=True)
  p.add_argument("--batch-size", type=int, default=64)
  p.add_argument("--threads", type=int, default=0, help=THREADS_HELP)
  p.add_argument("--limit", type=int, default=0, help="translate only the first N lines")
  p = sub.add_parser("score")
  p.add_argument("--hyp", required=True)
  p.add_argument("--ref", required=True)
  p.add_argument("--limit", type=int, default=0, help="score against the first N refs")
  a = ap.parse_args()
  if getattr(a, "validation_freq", 100) % 100:
    raise SystemExit("error: --validation-freq must be a multiple of 100 (logging_freq)")
  result = {"prepare": prepare, "train": train, "translate": translate, "score": score}[a.cmd](a)
  sys.stdout.flush()
  print(json.dumps(result))


if __name__ == "__main__":
  main()

r"""Decoding speed on workload R: seq2seq_jax vs JoeyNMT 2.3.0 (PyTorch), side by side.

The model (workload R's shape, float32): a 2-layer bidirectional LSTM encoder
(256 units per direction, so the memory is H = 512 wide), a 2-layer LSTM decoder
with H = 512, Luong "general" attention ("luong" in JoeyNMT), input feeding and
Luong's attentional layer h~ = tanh(W_c [c; h]), E = 256, V = 8000 (source and
target).  Measured: greedy decoding at batch 1 and batch 64, and beam search
(beam 5, no length penalty) at batch 64; source length 30 (the batch-64 lengths
are drawn from 15..30, sorted longest first as JoeyNMT's encoder requires; the
batch-1 sentence is the longest, 30 tokens), a fixed maximum output length T
(default 30). With random weights EOS (almost) never wins, so both sides run all
T decoder steps; the script prints how many outputs ended early.

The peer is JoeyNMT's own decoder, as its `translate`/`test` path calls it:
`joeynmt.search.search(model, batch, max_output_length=T, beam_size=1 | 5,
beam_alpha=-1)` (encoder + `recurrent_greedy` / `beam_search`) on a
`joeynmt.model.build_model` model in `eval()` mode. Ours: `decoding.greedy` and
`decoding.beam_search.beam_search` (each one jit-compiled program: encoder + while_loop).
Each call's time includes the encoder and the copy of the result to NumPy.

Identical weights: JoeyNMT builds and initialises its model (its defaults:
xavier-uniform weights, zero biases except the LSTM forget gates, embeddings
with a zero PAD row, seed 0); the weights are copied into ours
(`nn.cells.from_torch` for the LSTMs, `w_a = key_layer.weight.T`,
`w_c` = att_vector_layer's weight with its [h; c] column blocks swapped to our
[c; h] order, `w_out = output_layer.weight.T`). Before timing the script checks
that teacher-forced logits agree (max |diff| <= 1e-4) and that the batch-64 and
batch-1 greedy tokens are identical; it stops if not.

How the two models were made to match exactly (ModelConfig: bidirectional="all",
attention="general", input_feeding=True, bridge="zeros"):
  * Encoder: JoeyNMT's RecurrentEncoder only works bidirectionally (its forward
    indexes the backward final state), so both sides use a bidirectional
    encoder; layer 2 reads [fwd; bwd] of layer 1 on both sides, and both reverse
    each sentence within its length (packed sequences / our masked scan).
  * Bridge: JoeyNMT's default init_hidden="bridge" makes h0 = c0 =
    tanh(W [h_fwd; h_bwd] + b) of the TOP encoder layer, the same for every
    decoder layer; our "linear" bridge maps each encoder layer's (h, c) to the
    matching decoder layer with separate weights for h and c, and "copy" copies
    (h, c) layer by layer. Neither equals JoeyNMT's, so both sides start the
    decoder from zeros (JoeyNMT init_hidden="zeros", ours bridge="zeros"). The
    bridge is one BxHxH matmul per sentence: immaterial for speed.
  * Attentional layer: JoeyNMT's att_vector_layer has a bias, ours has none;
    JoeyNMT initialises it to zero (checked), so the two compute the same.
    JoeyNMT's output layer has no bias: our b_out is zero.
  * Greedy and beam conventions that differ (by design, not fixable by weights):
    ours forces EOS at the last allowed step (every output ends with EOS), so
    only the first T-1 tokens are compared; JoeyNMT forbids EOS at step 0
    (min_output_length=1), ours does not (it never wins there on this batch:
    the token check would show it). Beam search: JoeyNMT's is OpenNMT-style
    (top K of K*V per step, a beam that emits EOS is finished but keeps its
    slot), ours is fairseq-style (top 2K, K live non-EOS beams, finished ones
    kept apart). Without EOS the live beams are the same, but at the last step
    JoeyNMT picks the beam with the best log-probability including a free last
    token while ours picks the best one that ends with EOS, so the chosen beam
    may differ: for beam search the script reports the token agreement rate
    (first T-1 tokens of the best hypothesis) instead of requiring identity.
  * JoeyNMT recomputes the attention key projection (B*K x S x 512 x 512) at
    every decoder step (RecurrentDecoder.forward calls compute_proj_keys on
    each call, and its search calls it once per step); ours computes the keys
    once per sentence. That is part of what is measured.

Each side runs in its own process with its default threading; the parent
alternates between them (interleaved repetitions) so that both see the same
machine conditions, after warm-up calls (JAX's first call per shape compiles; its
time is reported, not counted), and reports medians and minima per call, the
ratio JoeyNMT time / ours, and the load average before and after. Read the
ratios with the load: PyTorch's default is one OpenMP thread per core, and when
other processes keep a core busy its parallel regions wait for descheduled
threads, which costs it far more than it costs XLA's thread pool.

  python3 -m venv .venv-bench
  .venv-bench/bin/pip install torch==2.13.0                  # CPU build
  .venv-bench/bin/pip install --no-deps joeynmt==2.3.0
  .venv-bench/bin/pip install numpy packaging importlib_metadata pyyaml matplotlib \
      sentencepiece subword-nmt tensorboard                   # what its imports need
  # (pip then warns about JoeyNMT's other declared requirements: not needed here)
  .venv/bin/python benchmarks/decode_speed.py [--reps 5] [--quick] [--write]

`--write` appends the result table to BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

E, H, V, B, S, L, K = 256, 512, 8000, 64, 30, 2, 5
UNK, PAD, BOS, EOS = 0, 1, 2, 3  # JoeyNMT's default special ids; ours take them as arguments
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CASES = ("greedy_b1", "greedy_b64", "beam5_b64")
LABELS = {"greedy_b1": "greedy, batch 1", "greedy_b64": "greedy, batch 64",
          "beam5_b64": "beam 5, batch 64"}
CALLS = {"greedy_b1": 10, "greedy_b64": 3, "beam5_b64": 1}  # calls per case per repetition


def _reply(out, obj):
  out.write(json.dumps(obj) + "\n")
  out.flush()


def _serve(out, run_case, check, info):
  """Reads 'check PATH' / 'run CASE N' / 'quit' lines on stdin, answers JSON lines."""
  for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
      break
    if cmd[0] == "check":
      check(cmd[1])
      _reply(out, {"ok": True, **info})
    else:
      case, n = cmd[1], int(cmd[2])
      times = []
      for _ in range(n):
        t0 = time.perf_counter()
        run_case(case)
        times.append(time.perf_counter() - t0)
      _reply(out, {"times": times})


# ---------------------------------------------------------------------------------
# The JoeyNMT worker (runs under the .venv-bench interpreter).
# ---------------------------------------------------------------------------------
def torch_worker(batch_path: str, weights_path: str, T: int):
  out, sys.stdout = sys.stdout, sys.stderr  # JSON answers only on the real stdout
  from types import SimpleNamespace

  import importlib.metadata

  import torch
  from joeynmt.batch import Batch
  from joeynmt.model import build_model
  from joeynmt.search import search
  from joeynmt.vocabulary import Vocabulary

  torch.manual_seed(0)
  specials = SimpleNamespace(unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                             eos_token="</s>", sep_token=None, lang_tags=[],
                             unk_id=UNK, pad_id=PAD, bos_id=BOS, eos_id=EOS)
  vocab = Vocabulary([f"w{i}" for i in range(V - 4)], specials)
  assert len(vocab) == V
  cfg = {
      "encoder": {"type": "recurrent", "rnn_type": "lstm", "embeddings": {"embedding_dim": E},
                  "hidden_size": H // 2, "bidirectional": True, "num_layers": L,
                  "dropout": 0.0},
      "decoder": {"type": "recurrent", "rnn_type": "lstm", "embeddings": {"embedding_dim": E},
                  "hidden_size": H, "attention": "luong", "num_layers": L,
                  "input_feeding": True, "init_hidden": "zeros", "dropout": 0.0,
                  "hidden_dropout": 0.0},
  }
  model = build_model(cfg, src_vocab=vocab, trg_vocab=vocab)
  model.eval()
  assert float(model.decoder.att_vector_layer.bias.detach().abs().max()) == 0.0
  np.savez(weights_path, **{k: v.detach().numpy() for k, v in model.state_dict().items()})

  data = np.load(batch_path)
  src = torch.from_numpy(data["src"]).long()
  src_len = torch.from_numpy(data["src_len"]).long()
  dev = torch.device("cpu")

  def make_batch(n):
    return Batch(src=src[:n], src_length=src_len[:n], src_prompt_mask=None, trg=None,
                 trg_prompt_mask=None, indices=torch.arange(n), device=dev,
                 pad_index=PAD, eos_index=EOS, is_train=False)

  batches = {"greedy_b1": make_batch(1), "greedy_b64": make_batch(B), "beam5_b64": make_batch(B)}
  beams = {"greedy_b1": 1, "greedy_b64": 1, "beam5_b64": K}

  def run_case(case):
    return search(model, batches[case], max_output_length=T, beam_size=beams[case],
                  beam_alpha=-1)[0]

  def check(path):
    b = batches["greedy_b64"]
    with torch.no_grad():
      enc_out, enc_hidden, _, _ = model(return_type="encode", src=b.src,
                                        src_length=b.src_length, src_mask=b.src_mask)
      tgt_in = torch.from_numpy(data["tgt_in"]).long()
      logits = model(return_type="decode", trg_input=tgt_in, encoder_output=enc_out,
                     encoder_hidden=enc_hidden, src_mask=b.src_mask,
                     unroll_steps=tgt_in.shape[1])[0]
    np.savez(path, logits=logits.numpy(), **{case: run_case(case) for case in CASES})

  _serve(out, run_case, check, {"torch": torch.__version__,
                                "joeynmt": importlib.metadata.version("joeynmt"),
                                "threads": torch.get_num_threads()})


# ---------------------------------------------------------------------------------
# The seq2seq_jax worker (runs under the parent's interpreter, .venv).
# ---------------------------------------------------------------------------------
def jax_config():
  sys.path.insert(0, REPO)
  from seq2seq_jax.models import seq2seq as model_lib
  return model_lib, model_lib.ModelConfig(
      src_vocab_size=V, tgt_vocab_size=V, embed_dim=E, hidden_dim=H, encoder_layers=L,
      decoder_layers=L, bidirectional="all", attention="general", input_feeding=True,
      bridge="zeros", dropout=0.0)


def jax_params_from_joey(w: dict, template):
  """Our parameter tree from JoeyNMT's state_dict (PyTorch layout)."""
  import jax
  import jax.numpy as jnp
  from seq2seq_jax.nn import cells

  def lstm(prefix, l, suffix=""):
    g = lambda n: w[f"{prefix}.{n}_l{l}{suffix}"]
    return cells.from_torch("lstm", g("weight_ih"), g("weight_hh"), g("bias_ih"), g("bias_hh"))

  att = w["decoder.att_vector_layer.weight"]  # [H, H + H]: columns [query h; context c]
  p = {
      "embed": {"src": w["src_embed.lut.weight"], "tgt": w["trg_embed.lut.weight"]},
      "encoder": {f"layer_{l}": {"fwd": lstm("encoder.rnn", l),
                                 "bwd": lstm("encoder.rnn", l, "_reverse")} for l in range(L)},
      "decoder": {f"layer_{l}": lstm("decoder.rnn", l) for l in range(L)},
      "attention": {"w_a": w["decoder.attention.key_layer.weight"].T},
      "output": {"w_c": np.concatenate([att[:, H:].T, att[:, :H].T], 0),  # ours: [c; h]
                 "w_out": w["decoder.output_layer.weight"].T,
                 "b_out": np.zeros((V,), np.float32)},
  }
  p = jax.tree.map(lambda x: jnp.asarray(np.ascontiguousarray(x), jnp.float32), p)
  want = jax.tree.map(lambda x: x.shape, template)
  got = jax.tree.map(lambda x: x.shape, p)
  if want != got:
    raise SystemExit(f"parameter trees differ:\n ours {want}\n copied {got}")
  return p


def jax_worker(batch_path: str, weights_path: str, T: int):
  out, sys.stdout = sys.stdout, sys.stderr
  import jax
  import jax.numpy as jnp
  model_lib, cfg = jax_config()
  from seq2seq_jax import decoding
  from seq2seq_jax.decoding import beam_search as beam_lib

  m = model_lib.Seq2Seq(cfg)
  params = jax_params_from_joey(dict(np.load(weights_path)), m.init(jax.random.key(0)))
  data = np.load(batch_path)
  src, src_len = jnp.asarray(data["src"]), jnp.asarray(data["src_len"])
  inputs = {"greedy_b1": (src[:1], src_len[:1]), "greedy_b64": (src, src_len),
            "beam5_b64": (src, src_len)}
  alpha0 = jnp.zeros((B,), jnp.float32)  # no length penalty, as JoeyNMT's beam_alpha=-1

  def run_case(case):
    s, sl = inputs[case]
    if case.startswith("greedy"):
      tokens = decoding.greedy(m, params, s, sl, max_len=T, bos_id=BOS, eos_id=EOS,
                               pad_id=PAD)[0]
    else:
      tokens = beam_lib.beam_search(m, params, s, sl, beam=K, max_len=T, bos_id=BOS,
                                    eos_id=EOS, pad_id=PAD, alpha_B=alpha0)["tokens"][:, 0]
    return np.asarray(tokens)

  compile_s = {}
  for case in CASES:  # the first call per shape compiles
    t0 = time.perf_counter()
    run_case(case)
    compile_s[case] = time.perf_counter() - t0

  def check(path):
    forward = jax.jit(lambda p, s, sl, t: m(p, s, sl, t)[0])
    logits = forward(params, src, src_len, jnp.asarray(data["tgt_in"]))
    np.savez(path, logits=np.asarray(logits), **{case: run_case(case) for case in CASES})

  _serve(out, run_case, check, {"jax": jax.__version__, "compile_s": compile_s,
                                "backend": jax.default_backend()})


# ---------------------------------------------------------------------------------
# The parent.
# ---------------------------------------------------------------------------------
def make_batch(path: str, T: int):
  rng = np.random.RandomState(0)
  src_len = np.sort(rng.randint(S // 2, S + 1, B))[::-1].astype(np.int32)
  src_len[0] = S  # the batch-1 case decodes the first sentence: full length
  src = rng.randint(4, V, (B, S)).astype(np.int32)
  src = np.where(np.arange(S)[None] < src_len[:, None], src, PAD).astype(np.int32)
  tgt_in = np.concatenate([np.full((B, 1), BOS), rng.randint(4, V, (B, T - 1))], 1)
  np.savez(path, src=src, src_len=src_len, tgt_in=tgt_in.astype(np.int32))


def _cut_after_eos(tok):
  """Copy of tok [N, T] with every position after the first EOS set to -1."""
  tok = np.array(tok, np.int64)
  after = np.cumsum(np.cumsum(tok == EOS, 1), 1) > 1
  tok[after] = -1
  return tok


def compare(ours: dict, joey: dict, T: int) -> dict:
  """Equivalence numbers: max |logit diff|, token agreement over the first T-1 tokens."""
  res = {"logit_maxdiff": float(np.max(np.abs(ours["logits"] - joey["logits"]))),
         "logit_scale": float(np.max(np.abs(joey["logits"])))}
  for case in CASES:
    a, b = ours[case][:, :T - 1], joey[case][:, :T - 1]
    b = np.pad(b, ((0, 0), (0, T - 1 - b.shape[1])), constant_values=-1)  # JoeyNMT may stop early
    a, b = _cut_after_eos(a), _cut_after_eos(b)
    res[case] = {"token_agreement": float(np.mean(a == b)),
                 "identical_rows": int(np.sum(np.all(a == b, 1))), "rows": int(a.shape[0]),
                 "early_eos_rows": int(np.sum(np.any(ours[case][:, :T - 1] == EOS, 1)))}
  return res


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
  ap.add_argument("--max-len", type=int, default=30, help="decoder steps T")
  ap.add_argument("--quick", action="store_true", help="1 repetition, 1 call per case")
  ap.add_argument("--write", action="store_true", help="append the table to BENCHMARKS.md")
  ap.add_argument("--peer-python", default=os.path.join(REPO, ".venv-bench", "bin", "python"),
                  help="interpreter with torch 2.13.0 + joeynmt 2.3.0")
  ap.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
  ap.add_argument("--batch", help=argparse.SUPPRESS)
  ap.add_argument("--weights", help=argparse.SUPPRESS)
  args = ap.parse_args()
  T = args.max_len
  if args.worker:
    (jax_worker if args.worker == "jax" else torch_worker)(args.batch, args.weights, T)
    return
  if not os.path.exists(args.peer_python):
    raise SystemExit(
        f"JoeyNMT interpreter {args.peer_python} not found. Create it (from the repository root):\n"
        "  python3 -m venv .venv-bench\n"
        "  .venv-bench/bin/pip install torch==2.13.0\n"
        "  .venv-bench/bin/pip install --no-deps joeynmt==2.3.0\n"
        "  .venv-bench/bin/pip install numpy packaging importlib_metadata pyyaml matplotlib "
        "sentencepiece subword-nmt tensorboard\n"
        "or pass --peer-python PATH.")
  reps, calls = (1, {c: 1 for c in CASES}) if args.quick else (args.reps, CALLS)
  tmp = tempfile.mkdtemp()
  batch_path, weights_path = os.path.join(tmp, "batch.npz"), os.path.join(tmp, "joey.npz")
  make_batch(batch_path, T)
  load_before = os.getloadavg()
  me = os.path.abspath(__file__)
  common = ["--batch", batch_path, "--weights", weights_path, "--max-len", str(T)]
  procs = {"torch": subprocess.Popen([args.peer_python, me, "--worker", "torch", *common],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)}

  def ask(name, line):
    procs[name].stdin.write(line + "\n")
    procs[name].stdin.flush()
    reply = procs[name].stdout.readline()
    if not reply:
      raise SystemExit(f"the {name} worker died (see its messages above)")
    return json.loads(reply)

  # JoeyNMT builds the model and writes its weights; then ours loads them.
  info = {"torch": ask("torch", f"check {os.path.join(tmp, 'torch_check.npz')}")}
  procs["jax"] = subprocess.Popen([sys.executable, me, "--worker", "jax", *common],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
  info["jax"] = ask("jax", f"check {os.path.join(tmp, 'jax_check.npz')}")
  eq = compare(dict(np.load(os.path.join(tmp, "jax_check.npz"))),
               dict(np.load(os.path.join(tmp, "torch_check.npz"))), T)
  print(f"teacher-forced logits: max |diff| {eq['logit_maxdiff']:.2e} "
        f"(max |logit| {eq['logit_scale']:.2f})")
  for case in CASES:
    r = eq[case]
    print(f"{LABELS[case]}: token agreement {100 * r['token_agreement']:.2f}% "
          f"(first {T - 1} tokens), identical outputs {r['identical_rows']}/{r['rows']}, "
          f"outputs with EOS before step {T}: {r['early_eos_rows']}")
  if eq["logit_maxdiff"] > 1e-4:
    raise SystemExit("teacher-forced logits disagree: the two sides do not compute the same model")
  for case in ("greedy_b1", "greedy_b64"):
    if eq[case]["identical_rows"] != eq[case]["rows"]:
      raise SystemExit(f"{LABELS[case]}: greedy outputs differ between the two sides")

  for name in procs:  # warm-up (JAX compiled each case at start-up and ran it in check)
    for case in CASES:
      ask(name, f"run {case} 1")
  times = {name: {c: [] for c in CASES} for name in procs}
  for rep in range(reps):
    order = ("jax", "torch") if rep % 2 == 0 else ("torch", "jax")
    for case in CASES:
      for name in order:  # interleaved
        times[name][case] += ask(name, f"run {case} {calls[case]}")["times"]
  for p in procs.values():
    p.stdin.write("quit\n")
    p.stdin.flush()
    p.wait()
  load_after = os.getloadavg()

  med = {n: {c: statistics.median(v) for c, v in t.items()} for n, t in times.items()}
  mn = {n: {c: min(v) for c, v in t.items()} for n, t in times.items()}
  ms = lambda x: f"{1000 * x:.1f}"
  rows = [(LABELS[c], ms(med["jax"][c]), ms(med["torch"][c]),
           f"{med['torch'][c] / med['jax'][c]:.2f}x", ms(mn["jax"][c]), ms(mn["torch"][c]),
           f"{mn['torch'][c] / mn['jax'][c]:.2f}x", str(len(times["jax"][c])))
          for c in CASES]
  machine = (f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'}), "
             f"{platform.system()} {platform.release()}")
  cmd = "python benchmarks/decode_speed.py" + (" --quick" if args.quick else f" --reps {reps}")
  cmd += f" --max-len {T}" if T != 30 else ""
  agree = ", ".join(f"{LABELS[c]} {100 * eq[c]['token_agreement']:.1f}% "
                    f"({eq[c]['identical_rows']}/{eq[c]['rows']} identical)" for c in CASES)
  compile_s = ", ".join(f"{LABELS[c]} {info['jax']['compile_s'][c]:.1f} s" for c in CASES)
  lines = [
      f"### Decoding speed on R vs JoeyNMT ({datetime.date.today()}, {machine})",
      "",
      f"Command: `{cmd}`. Bidirectional 2-layer LSTM encoder (2x256), 2-layer LSTM decoder "
      f"H={H}, Luong general attention with input feeding, E={E}, V={V}, fp32, zero decoder "
      f"initial state on both sides; source length {S} (batch 64: lengths 15-30), {T} decoder "
      f"steps (random weights: no EOS, full length), beam search without length penalty. "
      f"JoeyNMT {info['torch']['joeynmt']} `search.search` on torch {info['torch']['torch']} "
      f"({info['torch']['threads']} threads) vs seq2seq_jax `decoding.greedy` / "
      f"`decoding.beam_search.beam_search` on jax {info['jax']['jax']} ({info['jax']['backend']}). "
      f"Identical weights: teacher-forced logits max |diff| {eq['logit_maxdiff']:.1e}; "
      f"token agreement (first {T - 1} tokens): {agree}. JAX first call (compile + run): "
      f"{compile_s}, not timed. Load average before/after: "
      f"{load_before[0]:.2f}/{load_after[0]:.2f}.",
      "",
      "| case | seq2seq_jax median ms | JoeyNMT median ms | ratio (JoeyNMT time / ours) "
      "| seq2seq_jax min ms | JoeyNMT min ms | ratio (min) | calls |",
      "|---|---|---|---|---|---|---|---|",
      *["| " + " | ".join(r) + " |" for r in rows],
      "",
  ]
  import report  # pylint: disable=g-import-not-at-top  (benchmarks/report.py, beside this file)
  report.publish(lines, args.write)


if __name__ == "__main__":
  main()

r"""Training throughput on workload R: seq2seq_jax vs PyTorch nn.LSTM, side by side.

Workload R (the performance issue): 2-layer LSTM encoder and decoder, E=256, H=512,
V=8000, B=64, S=T=30, Luong "general" attention without input feeding (so the
PyTorch peer can use the fused nn.LSTM for the whole decoder), bridge = copy of
the encoder's final states, Adam, float32.

Both sides get identical weights and the identical batch; the script checks that
their losses agree before timing. Each side runs in its own process with its
default threading; the parent alternates between them (interleaved repetitions
of `--steps` steps each) so that both see the same machine conditions, and
reports medians and minima, the measured fp32 GEMM peak of each framework
(2048^3 matmul), and the load average before and after.

  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 numpy
  .venv/bin/python benchmarks/train_throughput.py [--reps 5 --steps 5] [--write]

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

E, H, V, B, S, T, L = 256, 512, 8000, 64, 30, 30, 2
HERE = os.path.dirname(os.path.abspath(__file__))
_BENCH_PY = os.path.join(os.path.dirname(HERE), ".venv-bench", "bin", "python")
PEER_PYTHON = _BENCH_PY if os.path.exists(_BENCH_PY) else sys.executable


def flops_per_step() -> float:
  """Matmul FLOPs of one training step (forward + backward = 3x forward)."""
  lstm = lambda n_in: 2 * 4 * H * (n_in + H)  # per token per layer
  enc = S * (lstm(E) + (L - 1) * lstm(H))
  dec = T * (lstm(E) + (L - 1) * lstm(H))
  attn = 2 * S * H * H + 2 * T * S * H * 2 + T * 2 * (2 * H) * H  # keys, scores+ctx, W_c
  out = T * 2 * H * V
  return 3.0 * B * (enc + dec + attn + out)


# ---------------------------------------------------------------------------------
# Workers: each reads "warmup" / "run N" / "quit" lines on stdin, answers JSON lines.
# ---------------------------------------------------------------------------------
def set_shape(batch: int, src_len: int, tgt_len: int) -> None:
  """Workload R at another batch size / length (the memory benchmark uses 1000 steps)."""
  global B, S, T
  B, S, T = batch, src_len, tgt_len


def jax_setup(weights_path: str, remat_chunk: int = 0, loss_chunk: int = 0,
              fused_loss: bool = True, dtype: str = "float32"):
  """(compiled train step, state, batch, compile seconds) of R with the saved weights."""
  import functools

  import jax
  import jax.numpy as jnp
  import ml_collections
  sys.path.insert(0, os.path.dirname(HERE))
  from seq2seq_jax.models import seq2seq as model_lib
  from seq2seq_jax import optimizer, steps
  from seq2seq_jax.tasks import translation

  cfg = model_lib.ModelConfig(src_vocab_size=V, tgt_vocab_size=V, embed_dim=E, hidden_dim=H,
                              encoder_layers=L, decoder_layers=L, attention="general",
                              input_feeding=False, bridge="copy", remat_chunk=remat_chunk,
                              compute_dtype=dtype)
  m = model_lib.Seq2Seq(cfg)
  data = np.load(weights_path)
  params = jax.tree.map(jnp.asarray, _jax_params_from_flat(data, m.init(jax.random.key(0))))
  tx, _ = optimizer.make_optimizer(
      ml_collections.ConfigDict(dict(name="adam", learning_rate=1e-3)), 10)
  batch = {k: jnp.asarray(data[f"batch/{k}"])[None] for k in
           ("src", "src_len", "tgt_in", "tgt_out", "tgt_weights")}
  # The translation task's training loss, as the trainer uses it.
  loss_fn = functools.partial(translation.sequence_loss, m, label_smoothing=0.0,
                              fused=fused_loss, loss_chunk=loss_chunk)
  step = jax.jit(lambda s, b: steps.train_step(s, b, loss_fn=loss_fn, tx=tx,
                                               dropout_key=jax.random.key(0)),
                 donate_argnums=(0,))
  state = steps.TrainState(jnp.int32(0), params, tx.init(params))
  t0 = time.perf_counter()
  compiled = step.lower(state, batch).compile()
  return compiled, state, batch, time.perf_counter() - t0


def _gemm_rate(matmul, reps: int = 5) -> float:
  """FLOP/s of the fastest of `reps` 2048^3 fp32 matmuls (the peak a step can hope for)."""
  best = float("inf")
  for _ in range(reps):
    t0 = time.perf_counter()
    matmul()
    best = min(best, time.perf_counter() - t0)
  return 2 * 2048 ** 3 / best


def jax_worker(weights_path: str, dtype: str = "float32"):
  import jax
  import jax.numpy as jnp
  compiled, state, batch, compile_s = jax_setup(weights_path, dtype=dtype)
  a = jnp.ones((2048, 2048), jnp.dtype(dtype))
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  gemm = lambda: mm(a).block_until_ready()
  print(json.dumps({"ready": True}), flush=True)

  def run(n):
    nonlocal state
    times, loss = [], None
    for _ in range(n):
      t0 = time.perf_counter()
      state, metrics = compiled(state, batch)
      loss = float(metrics["nll"])
      times.append(time.perf_counter() - t0)
    return times, loss

  first_loss = None
  for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "quit":
      break
    if cmd[0] == "gemm":
      print(json.dumps({"gemm": _gemm_rate(gemm)}), flush=True)
      continue
    times, loss = run(int(cmd[1]))
    first_loss = loss if first_loss is None else first_loss
    print(json.dumps({"times": times, "loss": loss, "first_loss": first_loss,
                      "compile_s": compile_s, "device": str(jax.devices()[0].device_kind)}),
          flush=True)


def torch_setup(weights_path: str, device: str = "cpu", dtype: str = "float32"):
  """step() -> loss: one Adam step of the PyTorch nn.LSTM peer with the saved weights.

  device "cuda" runs nn.LSTM on cuDNN; dtype "bfloat16" runs the step under autocast
  (bf16 matmuls and LSTM, fp32 master weights and Adam), as our compute_dtype does.
  """
  import torch
  data = np.load(weights_path)

  class Peer(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.src_emb = torch.nn.Embedding(V, E)
      self.tgt_emb = torch.nn.Embedding(V, E)
      self.enc = torch.nn.LSTM(E, H, L, batch_first=True)
      self.dec = torch.nn.LSTM(E, H, L, batch_first=True)
      self.w_a = torch.nn.Parameter(torch.empty(H, H))
      self.w_c = torch.nn.Parameter(torch.empty(2 * H, H))
      self.out = torch.nn.Linear(H, V)

    def forward(self, src, src_len, tgt_in):
      packed = torch.nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_len.cpu(),
                                                       batch_first=True, enforce_sorted=False)
      mem, (h, c) = self.enc(packed)
      mem, _ = torch.nn.utils.rnn.pad_packed_sequence(mem, batch_first=True, total_length=S)
      dec, _ = self.dec(self.tgt_emb(tgt_in), (h, c))
      scores = dec @ (mem @ self.w_a).transpose(1, 2)
      mask = torch.arange(S, device=src.device)[None, None, :] < src_len[:, None, None]
      attn = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
      ctx = attn @ mem
      return self.out(torch.tanh(torch.cat([ctx, dec], -1) @ self.w_c))

  peer = Peer()
  with torch.no_grad():
    t = lambda k: torch.from_numpy(np.ascontiguousarray(data[k]))
    peer.src_emb.weight.copy_(t("embed/src"))
    peer.tgt_emb.weight.copy_(t("embed/tgt"))
    for name, lstm in (("encoder", peer.enc), ("decoder", peer.dec)):
      for l in range(L):
        getattr(lstm, f"weight_ih_l{l}").copy_(t(f"{name}/layer_{l}/w_ih").T)
        getattr(lstm, f"weight_hh_l{l}").copy_(t(f"{name}/layer_{l}/w_hh").T)
        getattr(lstm, f"bias_ih_l{l}").copy_(t(f"{name}/layer_{l}/b"))
        getattr(lstm, f"bias_hh_l{l}").zero_()
    peer.w_a.copy_(t("attention/w_a"))  # ours: keys = mem @ w_a, scores = q . keys
    peer.w_c.copy_(t("output/w_c"))
    peer.out.weight.copy_(t("output/w_out").T)
    peer.out.bias.copy_(t("output/b_out"))
  peer.to(device)
  opt = torch.optim.Adam(peer.parameters(), lr=1e-3)
  on = lambda k: torch.from_numpy(data[k]).to(device)
  src, src_len = on("batch/src").long(), on("batch/src_len").long()
  tgt_in, tgt_out = on("batch/tgt_in").long(), on("batch/tgt_out").long()
  w = on("batch/tgt_weights")
  autocast = torch.autocast(device_type=device, dtype=torch.bfloat16,
                            enabled=dtype == "bfloat16")

  def step():
    opt.zero_grad(set_to_none=True)
    with autocast:
      logits = peer(src, src_len, tgt_in)
    nll = torch.nn.functional.cross_entropy(logits.float().reshape(-1, V), tgt_out.reshape(-1),
                                            reduction="none")
    loss = (nll * w.reshape(-1)).sum() / w.sum()
    loss.backward()
    opt.step()
    return float(loss.detach())

  step.optimizer = opt  # the memory benchmark frees the gradients between steps
  return step


def torch_worker(weights_path: str, dtype: str = "float32"):
  import torch
  device = "cuda" if torch.cuda.is_available() else "cpu"
  step = torch_setup(weights_path, device, dtype)
  a = torch.ones(2048, 2048, device=device, dtype=getattr(torch, dtype))
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
  a @ a
  sync()
  print(json.dumps({"ready": True}), flush=True)
  first_loss = None
  for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "quit":
      break
    if cmd[0] == "gemm":
      print(json.dumps({"gemm": _gemm_rate(lambda: (a @ a, sync()))}), flush=True)
      continue
    times, loss = [], None
    for _ in range(int(cmd[1])):
      t0 = time.perf_counter()
      loss = step()
      times.append(time.perf_counter() - t0)
    first_loss = loss if first_loss is None else first_loss
    print(json.dumps({"times": times, "loss": loss, "first_loss": first_loss,
                      "threads": torch.get_num_threads(),
                      "device": torch.cuda.get_device_name() if device == "cuda" else "cpu"}),
          flush=True)


def _jax_params_from_flat(data, template):
  import jax
  flat = jax.tree_util.tree_flatten_with_path(template)[0]
  leaves = []
  for path, _ in flat:
    key = "/".join(str(getattr(p, "key", p)) for p in path)
    leaves.append(data[key])
  return jax.tree.unflatten(jax.tree.structure(template), leaves)


def make_inputs(path: str):
  """Random initial weights (our initialiser) and one batch, saved for both workers."""
  import jax
  sys.path.insert(0, os.path.dirname(HERE))
  from seq2seq_jax.models import seq2seq as model_lib
  cfg = model_lib.ModelConfig(src_vocab_size=V, tgt_vocab_size=V, embed_dim=E, hidden_dim=H,
                              encoder_layers=L, decoder_layers=L, attention="general",
                              input_feeding=False, bridge="copy")
  params = model_lib.Seq2Seq(cfg).init(jax.random.key(0))
  out = {}
  for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    out["/".join(str(getattr(k, "key", k)) for k in p)] = np.asarray(leaf)
  rng = np.random.RandomState(0)
  src_len = rng.randint(S // 2, S + 1, B).astype(np.int32)
  src = rng.randint(4, V, (B, S)).astype(np.int32) * (np.arange(S)[None] < src_len[:, None])
  tgt_len = rng.randint(T // 2, T + 1, B)
  weights = (np.arange(T)[None] < tgt_len[:, None]).astype(np.float32)
  out.update({"batch/src": src, "batch/src_len": src_len,
              "batch/tgt_in": rng.randint(4, V, (B, T)).astype(np.int32),
              "batch/tgt_out": rng.randint(4, V, (B, T)).astype(np.int32),
              "batch/tgt_weights": weights})
  np.savez(path, **out)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--reps", type=int, default=5)
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                  help="compute dtype of both sides (bf16: GPU runs)")
  ap.add_argument("--write", action="store_true")
  ap.add_argument("--worker", choices=["jax", "torch"])
  ap.add_argument("--weights")
  ap.add_argument("--peer-python", default=PEER_PYTHON,
                  help="interpreter with torch (default .venv-bench's, else this one)")
  args = ap.parse_args()
  if args.worker:
    (jax_worker if args.worker == "jax" else torch_worker)(args.weights, args.dtype)
    return
  if args.dtype == "bfloat16":
    import jax  # pylint: disable=g-import-not-at-top
    if jax.default_backend() == "cpu":
      raise SystemExit("--dtype bfloat16 is for GPU runs: PyTorch's oneDNN nn.LSTM has no "
                       "bf16 kernel on CPU ('could not create a primitive descriptor')")
  weights = os.path.join(tempfile.mkdtemp(), "r.npz")
  make_inputs(weights)
  load_before = os.getloadavg()
  python = {"jax": sys.executable, "torch": args.peer_python}
  # Workers start one after the other, so that JAX's compile time and each GEMM peak are
  # measured with the other side idle (started together, one side's compile ran during the
  # other's peak measurement and halved it).
  procs = {}
  for name in ("jax", "torch"):
    procs[name] = subprocess.Popen([python[name], __file__, "--worker", name, "--weights", weights,
                                    "--dtype", args.dtype],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    json.loads(procs[name].stdout.readline())  # {"ready": true}

  def ask(name, n, cmd="run"):
    procs[name].stdin.write(f"{cmd} {n}\n")
    procs[name].stdin.flush()
    return json.loads(procs[name].stdout.readline())

  # Warm-up (and the loss check on the first step from identical weights).
  first = {name: ask(name, 1) for name in procs}
  diff = abs(first["jax"]["loss"] - first["torch"]["loss"])
  print(f"first-step loss: jax {first['jax']['loss']:.6f}  torch {first['torch']['loss']:.6f}"
        f"  |diff| {diff:.2e}")
  # bf16 rounds differently on each side (XLA vs cuDNN/autocast); fp32 must agree closely.
  if diff > (1e-3 if args.dtype == "float32" else 5e-2):
    raise SystemExit("losses disagree: the two sides do not compute the same model")
  for name in procs:
    ask(name, 2)
  times = {name: [] for name in procs}
  last = {}
  for _ in range(args.reps):
    for name in procs:  # interleaved
      r = ask(name, args.steps)
      times[name] += r["times"]
      last[name] = r
  gemm = {name: max(ask(name, 0, "gemm")["gemm"] for _ in range(2)) for name in procs}
  for p in procs.values():
    p.stdin.write("quit\n")
    p.stdin.flush()
    p.wait()
  load_after = os.getloadavg()
  fl = flops_per_step()
  med = {k: statistics.median(v) for k, v in times.items()}
  mn = {k: min(v) for k, v in times.items()}
  peak = max(gemm.values())
  rows = [
      ("median s/step", f"{med['jax']:.3f}", f"{med['torch']:.3f}", f"{med['torch'] / med['jax']:.2f}x"),
      ("min s/step", f"{mn['jax']:.3f}", f"{mn['torch']:.3f}", f"{mn['torch'] / mn['jax']:.2f}x"),
      ("% of GEMM peak (median)", f"{100 * fl / med['jax'] / peak:.0f}%",
       f"{100 * fl / med['torch'] / peak:.0f}%", ""),
  ]
  machine = f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'})"
  devices = {last["jax"]["device"], last["torch"]["device"]}
  if devices != {"cpu"}:
    machine += f"; devices: jax {last['jax']['device']}, torch {last['torch']['device']}"
  dtype_flag = "" if args.dtype == "float32" else f" --dtype {args.dtype}"
  lines = [
      f"### Training throughput on R ({datetime.date.today()}, {machine}, {args.dtype})",
      "",
      f"Command: `python benchmarks/train_throughput.py --reps {args.reps} --steps {args.steps}"
      f"{dtype_flag}`. "
      f"{fl / 1e9:.0f} GFLOP/step (matmuls, fwd+bwd). GEMM peak (2048^3 {args.dtype}): "
      f"jax {gemm['jax'] / 1e9:.0f}, torch {gemm['torch'] / 1e9:.0f} GFLOP/s (best of 10; "
      f"percentages below use the higher). "
      f"PyTorch threads: {last['torch']['threads']}. JAX train-step compile: "
      f"{last['jax']['compile_s']:.1f} s. Load average before/after: "
      f"{load_before[0]:.2f}/{load_after[0]:.2f}. First-step loss |diff| {diff:.1e}.",
      "",
      "| metric | seq2seq_jax | PyTorch nn.LSTM | ratio (torch time / ours) |",
      "|---|---|---|---|",
      *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
      "",
  ]
  import report  # pylint: disable=g-import-not-at-top  (benchmarks/report.py, beside this file)
  report.publish(lines, args.write)


if __name__ == "__main__":
  main()

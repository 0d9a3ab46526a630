r"""Peak memory of one training step on 1,000-step sequences, with and without
rematerialisation, side by side with PyTorch nn.LSTM.

Workload R's model (2-layer LSTM encoder and decoder, E=256, H=512, V=8000, Luong
"general" attention without input feeding, Adam, float32: see train_throughput.py)
at source and target length 1000 and batch 16 (default). Five processes, one after
the other, each given the same weights and batch:

* seq2seq_jax with the loss by autodiff (`fused_loss=False`): reverse-mode autodiff
  keeps the BxTxV logits, their log-softmax and gradient, and every step's residuals;
* seq2seq_jax as configured by default (`fused_loss=True`: the logits' gradient in
  closed form, `nn/output_loss.py`), plain scans;
* seq2seq_jax, `remat_chunk=C` (default 32 ~ sqrt(1000)): every scan is checkpointed
  in chunks of C steps (`nn.recurrent.remat_scan`) and recomputed in the backward pass;
* the same plus `loss_chunk=C`: the fused output layer and loss run C target steps
  at a time, so the BxTxV logits (0.5 GB here) never exist at once;
* PyTorch nn.LSTM (oneDNN), which keeps its own workspace for the backward pass.

Each process builds (and, for JAX, compiles) its step; PyTorch runs one warm-up step
(it allocates Adam's moments there; JAX's exist before the first step) and frees its
gradients. Then the process resets the kernel's peak-RSS counter
(`/proc/self/clear_refs`), runs one training step and reports peak RSS minus the RSS
before that step: the memory the step itself needs, gradients included. glibc is told to map
large blocks directly, so freed buffers leave the RSS in both frameworks. For JAX
it also reports XLA's own accounting of the compiled step (temporary buffers). The
first-step losses of all runs must agree. Step times are compared within seq2seq_jax
only (remat costs one more forward pass of the recurrences).

  .venv/bin/python benchmarks/remat_memory.py [--batch 16 --length 1000 --chunk 32] [--write]

Needs the PyTorch peer interpreter of train_throughput.py (`--peer-python`, default
.venv-bench/bin/python). Linux only (reads /proc). `--write` appends to BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_throughput as r  # noqa: E402  workload R, its weights and both models


def _rss_kib(field: str) -> int:
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1])
  raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak():
  with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM (peak RSS) to the current RSS


def worker(kind: str, weights: str, chunk: int, loss_chunk: int, fused: bool) -> dict:
  if kind == "torch":
    step = r.torch_setup(weights)
    run = step
    extra = {}
  else:
    compiled, state, batch, compile_s = r.jax_setup(weights, remat_chunk=chunk,
                                                    loss_chunk=loss_chunk, fused_loss=fused)
    mem = compiled.memory_analysis()
    extra = {"compile_s": compile_s, "xla_temp_bytes": mem.temp_size_in_bytes,
             "xla_argument_bytes": mem.argument_size_in_bytes}

    def run():
      nonlocal state
      state, metrics = compiled(state, batch)  # the state is donated: keep the new one
      return float(metrics["nll"])
  first_loss = None
  if kind == "torch":  # warm-up: PyTorch allocates Adam's moments here (JAX did in setup)
    first_loss = run()
    step.optimizer.zero_grad(set_to_none=True)  # its gradients count in the step, as JAX's
  _reset_peak()
  before = _rss_kib("VmRSS")
  t0 = time.perf_counter()
  loss = run()
  first_loss = loss if first_loss is None else first_loss
  seconds = time.perf_counter() - t0
  peak = _rss_kib("VmHWM")
  return {"kind": kind, "loss": first_loss, "seconds": seconds,
          "step_peak_bytes": (peak - before) * 1024, "rss_before_bytes": before * 1024, **extra}


def _gib(x):
  return f"{x / 2 ** 30:.2f}"


def section(runs: dict, batch: int, length: int, chunk: int, load_before: float,
            load_after: float) -> list[str]:
  """The BENCHMARKS.md section of one run of this script (`runs`: each worker's answer).

  Memory is compared across frameworks. Time only within seq2seq_jax (the cost of
  recomputation): a step on 1,000-step sequences takes minutes for PyTorch here while
  other processes hold the cores, so its time is not a fair figure; train_throughput.py
  compares speed on an idle machine.
  """
  losses = [v["loss"] for v in runs.values()]
  diff = max(losses) - min(losses)
  if diff > 1e-3:
    raise SystemExit(f"first-step losses disagree ({losses}): not the same model")
  torch_peak = runs["PyTorch nn.LSTM"]["step_peak_bytes"]
  plain_s = runs["seq2seq_jax"]["seconds"]
  rows = []
  for name, v in runs.items():
    xla = _gib(v["xla_temp_bytes"]) if "xla_temp_bytes" in v else "-"
    cost = f"{v['seconds'] / plain_s:.2f}x" if v["kind"] == "jax" else "-"
    rows.append(f"| {name} | {_gib(v['step_peak_bytes'])} | {xla} | "
                f"{torch_peak / v['step_peak_bytes']:.2f}x | {cost} |")
  machine = f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'})"
  return [
      f"### Peak memory of a training step on {length}-step sequences "
      f"({datetime.date.today()}, {machine})",
      "",
      f"Command: `python benchmarks/remat_memory.py --batch {batch} --length "
      f"{length} --chunk {chunk}`. Workload R's model (2x512 LSTM encoder and "
      f"decoder, V=8000, general attention, Adam, fp32), batch {batch}, source and "
      f"target length {length}; one process per row, one step after a reset of the "
      f"peak-RSS counter. First-step losses agree to {diff:.1e}. Load average "
      f"before/after: {load_before:.2f}/{load_after:.2f}.",
      "",
      "| run | step peak RSS GiB | XLA temp buffers GiB | ratio (PyTorch peak / ours) | "
      "step time vs seq2seq_jax (default) |",
      "|---|---|---|---|---|",
      *rows,
      "",
  ]


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=16)
  ap.add_argument("--length", type=int, default=1000, help="source and target length")
  ap.add_argument("--chunk", type=int, default=32, help="remat and loss chunk (steps)")
  ap.add_argument("--loss-chunk", type=int, default=0, help=argparse.SUPPRESS)  # workers
  ap.add_argument("--fused", type=int, default=1, help=argparse.SUPPRESS)
  ap.add_argument("--write", action="store_true")
  ap.add_argument("--peer-python", default=r.PEER_PYTHON)
  ap.add_argument("--worker", choices=["jax", "torch"])
  ap.add_argument("--weights")
  args = ap.parse_args()
  r.set_shape(args.batch, args.length, args.length)
  if args.worker:
    print(json.dumps(worker(args.worker, args.weights, args.chunk, args.loss_chunk,
                            bool(args.fused))), flush=True)
    return
  if args.chunk < 1:
    raise SystemExit("--chunk must be >= 1")
  weights = os.path.join(tempfile.mkdtemp(), "r.npz")
  r.make_inputs(weights)
  load_before = os.getloadavg()
  # Large blocks go straight to mmap and back to the kernel when freed (glibc's dynamic
  # threshold would otherwise keep the warm-up step's buffers resident), so the RSS
  # before the measured step is what is live, for both frameworks alike.
  env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
  runs = {}
  c = args.chunk
  for name, kind, fused, chunk, loss_chunk, python in (
      ("seq2seq_jax, autodiff loss (fused_loss=False)", "jax", 0, 0, 0, sys.executable),
      ("seq2seq_jax", "jax", 1, 0, 0, sys.executable),
      (f"seq2seq_jax, remat_chunk={c}", "jax", 1, c, 0, sys.executable),
      (f"seq2seq_jax, remat_chunk={c}, loss_chunk={c}", "jax", 1, c, c, sys.executable),
      ("PyTorch nn.LSTM", "torch", 0, 0, 0, args.peer_python)):
    cmd = [python, __file__, "--worker", kind, "--weights", weights, "--chunk", str(chunk),
           "--loss-chunk", str(loss_chunk), "--fused", str(fused), "--batch", str(args.batch),
           "--length", str(args.length)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    runs[name] = json.loads(out.strip().splitlines()[-1])
    print(name, runs[name], flush=True)
  load_after = os.getloadavg()
  lines = section(runs, args.batch, args.length, args.chunk, load_before[0], load_after[0])
  import report  # pylint: disable=g-import-not-at-top  (benchmarks/report.py, beside this file)
  report.publish(lines, args.write)


if __name__ == "__main__":
  main()

r"""Language-model training: seq2seq_jax vs PyTorch's word_language_model, side by side.

The peer is an ``nn.LSTM`` language model written as PyTorch's own example
(pytorch/examples word_language_model: ``RNNModel`` = Embedding -> Dropout -> nn.LSTM
(dropout between layers) -> Dropout -> Linear, log-softmax + NLLLoss; the hidden state
detached between batches; ``clip_grad_norm_`` then ``p.data.add_(p.grad, alpha=-lr)``).
Ours is the ``language_model`` task's compiled training call as the trainer runs it.
Workload: Zaremba's medium configuration on the Penn Treebank (2 x 650, V = 10,000, 20
rows, BPTT 35, dropout 0.5, U(-0.05, 0.05) init, the NLL summed over the window and
averaged over rows, SGD lr 1, clip 5; the peer multiplies the example's mean loss by T). Both sides start from identical weights (ours, copied) and read identical
windows of the PTB training stream with the state carried.

Two phases: with dropout 0 both sides compute the same function, so their per-step
losses must agree (checked) and the perplexity after the same steps is compared; then
with dropout 0.5 the step times are measured, the two workers alternating
(`--reps` x `--steps` each) so both see the same machine. Prints tokens/s, the ratio, the
fp32 GEMM peak of each framework and the load average.

  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 numpy
  .venv/bin/python benchmarks/lm_throughput.py [--reps 3 --steps 5 --check-steps 20] [--write]
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
_BENCH_PY = os.path.join(REPO, ".venv-bench", "bin", "python")
PEER_PYTHON = _BENCH_PY if os.path.exists(_BENCH_PY) else sys.executable
sys.path.insert(0, HERE)
from train_throughput import _gemm_rate  # noqa: E402  (the same GEMM peak measurement)

H, L, B, T, V, LR, CLIP, INIT = 650, 2, 20, 35, 10_000, 1.0, 5.0, 0.05


def jax_config(dropout: float, dataset: str):
  sys.path.insert(0, REPO)
  import ml_collections
  from seq2seq_jax import config_base
  c = ml_collections.ConfigDict()
  c.task, c.data_dir, c.seed, c.batch_size, c.num_train_steps = (
      "language_model", config_base.DATA_DIR, 0, B, 100_000)
  c.lm = ml_collections.ConfigDict(dict(dataset=dataset, bptt=T,
                                        loss_normalisation="sequence"))
  c.model = ml_collections.ConfigDict(dict(cell="lstm", embed_dim=H, hidden_dim=H,
                                           num_layers=L, init_scale=INIT, dropout=dropout))
  c.optimizer = ml_collections.ConfigDict(dict(name="sgd", learning_rate=LR, clip_norm=CLIP))
  return c


def make_inputs(path: str, dataset: str):
  """Our initial weights and the first windows of the training stream, for both sides."""
  import jax
  from seq2seq_jax import tasks
  task = tasks.get("language_model")
  c = jax_config(0.0, dataset)
  data = task.build_data(c, tempfile.mkdtemp())
  model = task.build_model(c, data)
  params = model.init(jax.random.split(jax.random.key(0))[0])  # as steps.init_state
  out = {"rows": task._rows(tasks.Run(c, "", data, model, [0]))}  # pylint: disable=protected-access
  for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    out["/".join(str(getattr(k, "key", k)) for k in p)] = np.asarray(leaf)
  np.savez(path, **out)


# ---- workers: "run N" -> {"times", "losses"}; "gemm" -> {"gemm"} -----------------------
def jax_worker(inputs: str, dropout: float, dataset: str):
  import jax
  import jax.numpy as jnp
  from seq2seq_jax import optimizer, steps, tasks
  data = np.load(inputs)
  c = jax_config(dropout, dataset)
  task = tasks.get("language_model")
  d = task.build_data(c, tempfile.mkdtemp())
  model = task.build_model(c, d)
  run = tasks.Run(c, "", d, model, [0])
  tx, _ = optimizer.make_optimizer(c.optimizer, c.num_train_steps)
  state, dropout_key = steps.init_state(model.init, tx, 0)
  flat = jax.tree_util.tree_flatten_with_path(state.params)[0]
  params = jax.tree.unflatten(jax.tree.structure(state.params), [
      jnp.asarray(data["/".join(str(getattr(k, "key", k)) for k in p)]) for p, _ in flat])
  state = steps.TrainState(state.step, params, tx.init(params), task.init_carry(run))
  batches = task.train_batches(run, batch_multiple=1, shard_index=0, shard_count=1)
  step_fn = steps.make_step(loss_fn=lambda p, mb, k, cr: task.loss(run, p, mb, k, cr), tx=tx,
                            dropout_key=dropout_key, num_seeds=1)
  call = steps.make_call(step_fn, num_steps=1, generate=batches.generate)
  t0 = time.perf_counter()
  state, m = call(state)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t0
  losses, norms = [float(m["loss"][0])], [float(m["grad_norm"][0])]
  a = jnp.ones((2048, 2048))
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  print(json.dumps({"ready": True, "compile_s": compile_s}), flush=True)
  for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "quit":
      break
    if cmd[0] == "gemm":
      print(json.dumps({"gemm": _gemm_rate(lambda: mm(a).block_until_ready())}), flush=True)
      continue
    times = []
    for _ in range(int(cmd[1])):
      t0 = time.perf_counter()
      state, m = call(state)
      losses.append(float(m["loss"][0]))  # waits for the step
      times.append(time.perf_counter() - t0)
      norms.append(float(m["grad_norm"][0]))
    print(json.dumps({"times": times, "losses": losses, "grad_norms": norms}), flush=True)


def torch_worker(inputs: str, dropout: float, dataset: str):
  del dataset
  import torch
  from torch import nn
  data = np.load(inputs)

  class RNNModel(nn.Module):  # pytorch/examples word_language_model/model.py, LSTM
    def __init__(self):
      super().__init__()
      self.drop = nn.Dropout(dropout)
      self.encoder = nn.Embedding(V, H)
      self.rnn = nn.LSTM(H, H, L, dropout=dropout)
      self.decoder = nn.Linear(H, V)

    def forward(self, x, hidden):
      emb = self.drop(self.encoder(x))
      output, hidden = self.rnn(emb, hidden)
      output = self.drop(output)
      return torch.log_softmax(self.decoder(output).view(-1, V), dim=1), hidden

  model = RNNModel()
  t = lambda k: torch.from_numpy(np.ascontiguousarray(data[k]))
  with torch.no_grad():
    model.encoder.weight.copy_(t("embed/w"))
    for l in range(L):
      getattr(model.rnn, f"weight_ih_l{l}").copy_(t(f"layers/layer_{l}/w_ih").T)
      getattr(model.rnn, f"weight_hh_l{l}").copy_(t(f"layers/layer_{l}/w_hh").T)
      getattr(model.rnn, f"bias_ih_l{l}").copy_(t(f"layers/layer_{l}/b"))
      # PyTorch's LSTM adds two biases; ours has one (their sum). Training both would
      # count the bias gradient twice (in the clipping norm and the update), so the
      # second stays at zero, untrained: the same model and the same updates as ours.
      getattr(model.rnn, f"bias_hh_l{l}").zero_()
      getattr(model.rnn, f"bias_hh_l{l}").requires_grad_(False)
    model.decoder.weight.copy_(t("output/w").T)
    model.decoder.bias.copy_(t("output/b"))
  rows = torch.from_numpy(data["rows"].astype(np.int64)).t().contiguous()  # [R, B] time-major
  spe = (rows.shape[0] - 1) // T
  criterion = nn.NLLLoss()
  hidden = (torch.zeros(L, B, H), torch.zeros(L, B, H))
  state = {"i": 0, "hidden": hidden, "norms": []}

  def step():
    i = state["i"] % spe
    if i == 0:
      state["hidden"] = (torch.zeros(L, B, H), torch.zeros(L, B, H))
    x, y = rows[i * T:(i + 1) * T], rows[i * T + 1:(i + 1) * T + 1].reshape(-1)
    model.train()
    hidden = tuple(h.detach() for h in state["hidden"])  # repackage_hidden
    model.zero_grad()
    output, state["hidden"] = model(x, hidden)
    loss = criterion(output, y)
    (loss * T).backward()  # Zaremba: summed over the window, averaged over rows
    state["norms"].append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
    for p in model.parameters():
      if p.grad is not None:
        p.data.add_(p.grad, alpha=-LR)
    state["i"] += 1
    return float(loss.detach())

  losses = [step()]
  a = torch.ones(2048, 2048)
  a @ a
  print(json.dumps({"ready": True, "threads": torch.get_num_threads(),
                    "version": torch.__version__}), flush=True)
  for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "quit":
      break
    if cmd[0] == "gemm":
      print(json.dumps({"gemm": _gemm_rate(lambda: a @ a)}), flush=True)
      continue
    times = []
    for _ in range(int(cmd[1])):
      t0 = time.perf_counter()
      losses.append(step())
      times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "losses": losses, "grad_norms": state["norms"]}),
          flush=True)


class Workers:
  def __init__(self, inputs, dropout, dataset, peer_python):
    self.procs, self.ready = {}, {}
    for name, py in (("jax", sys.executable), ("torch", peer_python)):
      p = subprocess.Popen([py, __file__, "--worker", name, "--inputs", inputs, "--dropout",
                            str(dropout), "--dataset", dataset],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
      self.procs[name] = p
      self.ready[name] = self._reply(name)  # one after the other: the peer idle

  def _reply(self, name):
    while True:  # skipping what the task prints (corpus and model lines)
      line = self.procs[name].stdout.readline()
      if not line:
        raise SystemExit(f"the {name} worker died")
      if line.startswith("{"):
        return json.loads(line)

  def ask(self, name, cmd):
    self.procs[name].stdin.write(cmd + "\n")
    self.procs[name].stdin.flush()
    return self._reply(name)

  def close(self):
    for p in self.procs.values():
      p.stdin.write("quit\n")
      p.stdin.flush()
      p.wait()


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--reps", type=int, default=3)
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--check-steps", type=int, default=20)
  ap.add_argument("--dataset", default="penn_treebank")
  ap.add_argument("--write", action="store_true")
  ap.add_argument("--worker", choices=["jax", "torch"])
  ap.add_argument("--inputs")
  ap.add_argument("--dropout", type=float, default=0.5)
  ap.add_argument("--peer-python", default=PEER_PYTHON)
  args = ap.parse_args()
  if args.worker:
    (jax_worker if args.worker == "jax" else torch_worker)(args.inputs, args.dropout,
                                                           args.dataset)
    return
  sys.path.insert(0, REPO)
  inputs = os.path.join(tempfile.mkdtemp(), "lm.npz")
  make_inputs(inputs, args.dataset)
  load_before = os.getloadavg()

  # Phase 1: dropout 0, the same function on both sides.
  w = Workers(inputs, 0.0, args.dataset, args.peer_python)
  replies = {n: w.ask(n, f"run {args.check_steps - 1}") for n in w.procs}
  check = {n: r["losses"] for n, r in replies.items()}
  print("grad norms:", [(round(a, 4), round(b, 4)) for a, b in
                        zip(replies["jax"]["grad_norms"], replies["torch"]["grad_norms"])])
  w.close()
  diffs = np.abs(np.array(check["jax"]) - np.array(check["torch"]))
  print("per-step losses:", [(round(a, 5), round(b, 5)) for a, b in zip(check["jax"], check["torch"])])
  print(f"dropout 0, {args.check_steps} steps: max |loss diff| {diffs.max():.2e}; "
        f"perplexity of the last step jax {np.exp(check['jax'][-1]):.2f} torch "
        f"{np.exp(check['torch'][-1]):.2f}")
  if diffs[0] > 1e-4 or abs(replies["jax"]["grad_norms"][0] / replies["torch"]["grad_norms"][0]
                            - 1) > 1e-3:
    raise SystemExit("first-step losses disagree: the two sides do not compute the same model")

  # Phase 2: dropout 0.5, timed.
  w = Workers(inputs, args.dropout, args.dataset, args.peer_python)
  for n in w.procs:
    w.ask(n, "run 2")  # warm-up
  times = {n: [] for n in w.procs}
  for _ in range(args.reps):
    for n in w.procs:
      times[n] += w.ask(n, f"run {args.steps}")["times"]
  gemm = {n: w.ask(n, "gemm")["gemm"] for n in w.procs}
  ready = w.ready
  w.close()
  load_after = os.getloadavg()
  tok = {n: B * T / statistics.median(times[n]) for n in times}
  ratio = tok["jax"] / tok["torch"]
  lines = [
      f"## Language-model training vs PyTorch word_language_model ({datetime.date.today()})",
      "",
      f"`benchmarks/lm_throughput.py --reps {args.reps} --steps {args.steps}`: Zaremba "
      f"medium ({L}x{H}, V={V:,}, {B} rows x BPTT {T}, dropout {args.dropout}), SGD lr "
      f"{LR:g}, clip {CLIP}, {args.dataset}; {platform.node()}, {os.cpu_count()} cores; "
      f"fp32 GEMM peak jax {gemm['jax'] / 1e9:.0f} / torch {gemm['torch'] / 1e9:.0f} "
      f"GFLOP/s; load {load_before[0]:.1f} -> {load_after[0]:.1f}; torch "
      f"{ready['torch']['version']} ({ready['torch']['threads']} threads).",
      "",
      "| | seq2seq_jax | PyTorch | ratio |",
      "|---|---|---|---|",
      f"| training tokens/s (median step) | {tok['jax']:,.0f} | {tok['torch']:,.0f} | "
      f"**{ratio:.2f}x** |",
      f"| step time, median / min (ms) | {1e3 * statistics.median(times['jax']):.0f} / "
      f"{1e3 * min(times['jax']):.0f} | {1e3 * statistics.median(times['torch']):.0f} / "
      f"{1e3 * min(times['torch']):.0f} | |",
      f"| dropout 0: perplexity after {args.check_steps} identical steps | "
      f"{np.exp(check['jax'][-1]):.2f} | {np.exp(check['torch'][-1]):.2f} | max per-step "
      f"loss diff {diffs.max():.1e} |",
      f"| first compiled call (compile + step), s | {ready['jax']['compile_s']:.1f} | - | |",
      ""]
  sys.path.insert(0, HERE)
  import report  # pylint: disable=g-import-not-at-top
  report.publish(lines, args.write)


if __name__ == "__main__":
  main()

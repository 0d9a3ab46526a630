"""How tests/data/trainer_golden.json was recorded, with the two pre-task trainers (train.py,
synthetic_train.py, commit 0b49f4a): per-step losses, final metrics and a parameter hash.
Kept for the record; it imports the old API and is not run by the tests."""
import hashlib, json, os, sys
sys.path.insert(0, "/work/main/tests")
import numpy as np
import jax
import orbax.checkpoint as ocp
from conftest import REPO, write_toy_corpus, tiny_config
from seq2seq_jax import experiment

def params_digest(workdir):
  d = os.path.join(workdir, "checkpoints")
  step = max(int(s) for s in os.listdir(d) if s.isdigit())
  st = ocp.StandardCheckpointer().restore(os.path.join(os.path.abspath(d), str(step), "state") if os.path.isdir(os.path.join(d, str(step), "state")) else os.path.join(os.path.abspath(d), str(step), "default"))
  leaves = jax.tree.leaves(st["params"])
  h = hashlib.sha256()
  for x in leaves:
    h.update(np.ascontiguousarray(np.asarray(x)).tobytes())
  return step, h.hexdigest(), float(sum(np.abs(np.asarray(x, np.float64)).sum() for x in leaves))

def train_losses(workdir, key_single, key_multi):
  out = []
  for line in open(os.path.join(workdir, "metrics.jsonl")):
    r = json.loads(line)
    if r["split"] == "train":
      out.append(r.get(key_multi) or r[key_single])
  return out

def main(out_path, base):
  res = {}
  corpus = write_toy_corpus(os.path.join(base, "corpus"))
  cases = {}
  c = tiny_config(corpus); cases["translation_tiny"] = c
  c = tiny_config(corpus); c.num_seeds = 2; c.grad_accum_steps = 2; c.num_train_steps = 6
  c.eval_every_steps = 3; cases["translation_2seeds_accum2"] = c
  cr = experiment.load_experiment(os.path.join(REPO, "experiments", "copy_reverse"))
  c = cr.get_config("size=tiny,variant=copy_attention"); c.log_every_steps = 1
  c.data_dir = os.path.join(base, "tfds"); cases["copy_attention_tiny"] = c
  h = experiment.load_experiment(os.path.join(REPO, "experiments", "hochreiter1997"))
  for v in ("adding_T100_lstm", "temporal_T100_rnn"):
    c = h.get_config(f"size=tiny,variant={v}"); c.log_every_steps = 1
    cases[f"{v}_tiny"] = c
  for name, c in cases.items():
    wd = os.path.join(base, name)
    final = experiment.train_any(c, wd)
    step, digest, abssum = params_digest(wd)
    if c.get("task") == "synthetic":
      losses = train_losses(wd, "loss", "loss")
      fm = {k: final[k] for k in ("error_rate", "test_loss", "solved_step", "grad_norms")}
    else:
      losses = train_losses(wd, "nll", "nll_per_seed")
      fm = {s: {k: final[s][k] for k in ("bleu", "chrf", "ppl")} for s in ("validation", "test")}
    res[name] = {"config": c.to_dict(), "losses": losses, "final_step": step,
                 "params_sha256": digest, "params_abs_sum": abssum, "final": fm}
    print(name, losses[:3], digest, fm, flush=True)
  json.dump(res, open(out_path, "w"), indent=1, default=str)

if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2])

"""Translate CLI and Translator: line count, empty, over-long and non-UTF-8 lines, n-best,
ensembles; the user errors of the commands that need a trained run."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, tiny_config
from seq2seq_jax import checkpoints, decoding, trainer
from seq2seq_jax.inference import predictor, translator


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  from conftest import write_toy_corpus
  root = tmp_path_factory.mktemp("translate")
  corpus = write_toy_corpus(str(root / "corpus"))
  c = tiny_config(corpus)
  c.num_train_steps = 6
  wd = str(root / "run")
  trainer.train_and_evaluate(c, wd)
  checkpoints.average_checkpoints(os.path.join(wd, "checkpoints"), os.path.join(wd, "averaged"))
  return wd


def test_cli_keeps_line_count_with_empty_and_overlong_lines(trained, tmp_path):
  lines = ["open the file", "", "save the window", " ".join(["print"] * 50), ""]
  inp = tmp_path / "in.txt"
  inp.write_text("\n".join(lines) + "\n")
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-m", "seq2seq_jax.translate", f"--workdir={trained}",
                        "--beam=3", "--checkpoint=last"], stdin=open(inp), cwd=REPO, env=env,
                       capture_output=True, text=True, check=True)
  hyps = out.stdout.split("\n")[:-1]
  assert len(hyps) == len(lines)
  assert hyps[1] == "" and hyps[4] == ""
  assert "line 4 has" in out.stderr and "truncated" in out.stderr
  nb = subprocess.run([sys.executable, "-m", "seq2seq_jax.translate", f"--workdir={trained}",
                       "--beam=3", "--nbest=2", "--checkpoint=avg"], stdin=open(inp), cwd=REPO,
                      env=env, capture_output=True, text=True, check=True)
  rows = [r.split("\t") for r in nb.stdout.rstrip("\n").split("\n")]
  assert [int(r[0]) for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
  assert float(rows[0][1]) >= float(rows[1][1])


def _env(tmp_path):
  """The test environment with a private temp directory, to see what a command leaves."""
  tmp = tmp_path / "tmp"
  tmp.mkdir()
  return dict(os.environ, JAX_PLATFORMS="cpu",
              TMPDIR=str(tmp)), tmp


def _left_in(tmp):
  return [e for e in os.listdir(tmp) if e.startswith("seq2seq")]


def test_cli_replaces_undecodable_bytes_and_translates_every_other_line(trained, tmp_path):
  env, tmp = _env(tmp_path)
  # PYTHONIOENCODING makes stdin strict UTF-8, as under a locale such as en_US.UTF-8
  # (under C.UTF-8 Python would smuggle the bytes through as surrogates).
  out = subprocess.run([sys.executable, "-m", "seq2seq_jax.translate", f"--workdir={trained}",
                        "--beam=1"], input=b"open the file\n\xff\xfe abc\nsave\n", cwd=REPO,
                       env=dict(env, PYTHONIOENCODING="utf-8"), capture_output=True)
  assert out.returncode == 0, out.stderr
  assert out.stderr.decode().splitlines() == [
      "warning: line 2 is not valid UTF-8 (invalid start byte at byte 0); undecodable bytes "
      "replaced by U+FFFD"]
  hyps = out.stdout.decode("utf-8").split("\n")
  assert len(hyps) == 4 and hyps[3] == ""
  good = predictor.load_predictor(trained, "best").translate(["open the file", "save"], beam=1)
  assert [hyps[0], hyps[2]] == [h[0].text for h in good]
  assert _left_in(tmp) == []  # the tokenizer files went to a directory that is removed


def test_translator_refuses_nbest_above_beam(trained):
  tr = predictor.load_predictor(trained, "best")
  with pytest.raises(ValueError, match="nbest=3 cannot exceed beam=2"):
    tr.translate(["open the file"], beam=2, nbest=3)
  with pytest.raises(ValueError, match="nbest=2 cannot exceed beam=1"):
    tr.translate(["open the file"], beam=1, nbest=2)


def test_user_errors_of_a_trained_run_are_one_line(trained, tmp_path):
  def assert_one_line(proc, *fragments):
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and lines[0].startswith("error: "), proc.stderr
    assert len(lines) <= 2 and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
      assert fragment in lines[0], lines[0]
  env, _ = _env(tmp_path)
  evaluate = subprocess.run([sys.executable, "-m", "seq2seq_jax.evaluate",
                             f"--workdir={trained}", "--split=bogus"], cwd=REPO, env=env,
                            capture_output=True, text=True)
  assert_one_line(evaluate, "No file for split 'bogus'")
  # Resuming the run with another model: a copy, so the shared run stays as it was.
  run = str(tmp_path / "run")
  shutil.copytree(trained, run)
  corpus = os.path.join(os.path.dirname(trained), "corpus")
  resume = subprocess.run([sys.executable, "-m", "seq2seq_jax.main",
                           "--config=configs/default.py:runlocal", f"--workdir={run}",
                           f"--config.dataset=text:{corpus}", "--config.tokenizer.kind=word",
                           "--config.tokenizer.vocab_size=64", "--config.model.embed_dim=16",
                           "--config.model.hidden_dim=8"], cwd=REPO, env=env,
                          capture_output=True, text=True)
  assert_one_line(resume, "different model", "hidden_dim: checkpoint=16 vs run=8")


def test_translator_greedy_beam_and_ensemble(trained):
  tr = predictor.load_predictor(trained, "best")
  lines = ["open the file", "close", "new folder settings print"]
  greedy = tr.translate(lines, beam=1)
  # Beam search with one beam is greedy decoding: each step keeps the argmax extension.
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from seq2seq_jax.decoding import beam_search as beam_lib  # pylint: disable=g-import-not-at-top
  ids = tr.encode_sources(lines)
  S = max(len(x) for x in ids)
  src = np.zeros((len(ids), S), np.int32)
  for r, x in enumerate(ids):
    src[r, :len(x)] = x
  src_len = jnp.asarray([len(x) for x in ids])
  T = decoding.static_output_len(S, max_len=tr.max_len)
  kw = dict(max_len=T, bos_id=tr.tgt_tok.bos_id, eos_id=tr.tgt_tok.eos_id)
  one_beam = beam_lib.beam_search(tr.model, tr.params, jnp.asarray(src), src_len, beam=1,
                                  alpha_B=jnp.zeros(len(ids)), **kw)["tokens"][:, 0]
  greedy_ids = decoding.greedy(tr.model, tr.params, jnp.asarray(src), src_len, **kw)[0]
  assert [decoding.strip(r, tr.tgt_tok.eos_id) for r in np.asarray(one_beam)] == \
         [decoding.strip(r, tr.tgt_tok.eos_id) for r in np.asarray(greedy_ids)] == \
         [h[0].tokens for h in greedy]
  ens = predictor.load_predictor([trained, trained], "best")
  assert [h[0].text for h in ens.translate(lines, beam=3)] == \
         [h[0].text for h in tr.translate(lines, beam=3)]


def test_batch_size_does_not_change_translations(trained):
  tr = predictor.load_predictor(trained, "best")
  lines = ["open the file", "close", "new folder settings print", "save", "print the window"] * 3
  for beam in (1, 3):
    default = tr.translate(lines, beam=beam)
    for bs in (1, 4, 64):
      other = tr.translate(lines, beam=beam, batch_size=bs)
      assert [h[0].text for h in other] == [h[0].text for h in default]
      np.testing.assert_allclose([h[0].score for h in other], [h[0].score for h in default],
                                 rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="batch_size must be >= 1"):
    tr.translate(lines, beam=3, batch_size=0)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="no 'best' checkpoint"):
    predictor.load_predictor(str(tmp_path), "best")


def test_evaluate_cli_writes_the_analysis(trained, tmp_path):
  env, tmp = _env(tmp_path)
  out_dir = tmp_path / "eval"
  subprocess.run([sys.executable, "-m", "seq2seq_jax.evaluate", f"--workdir={trained}",
                  "--split=test", "--beam=2", "--limit=10", "--heatmaps=2",
                  f"--output_dir={out_dir}"], cwd=REPO, env=env, check=True,
                 capture_output=True, text=True)
  import json
  metrics = json.load(open(out_dir / "metrics.json"))
  for key in ("bleu", "bleu_signature", "chrf", "ter", "wer", "rouge1", "repetition_rate_hyp",
              "recall_frequent", "source_unk_rate"):
    assert key in metrics
  assert len(open(out_dir / "hypotheses.txt").read().splitlines()) == 10
  assert (out_dir / "attention_1.png").exists() and (out_dir / "bleu_by_length.png").exists()
  assert _left_in(tmp) == []


def test_average_command_writes_the_mean_of_the_last_checkpoints(trained, tmp_path):
  import jax
  import numpy as np
  from seq2seq_jax import checkpoints
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  out = tmp_path / "avg"
  subprocess.run([sys.executable, "-m", "seq2seq_jax.average", f"--workdir={trained}",
                  "--last=2", f"--output={out}"], cwd=REPO, env=env, check=True, capture_output=True)
  ckdir = os.path.join(trained, "checkpoints")
  steps = sorted(int(d) for d in os.listdir(ckdir) if d.isdigit())[-2:]
  p1, p2 = (checkpoints.restore_for_inference(ckdir, s)[0] for s in steps)
  avg, meta, _, step = checkpoints.restore_for_inference(str(out))
  assert step == steps[-1] and meta["averaged_steps"] == steps
  jax.tree.map(lambda a, b, c: np.testing.assert_allclose(a, (b + c) / 2, rtol=1e-6), avg, p1, p2)
  # Rerunning with another --last replaces the average (no StepAlreadyExistsError), and
  # --checkpoint=avg loads exactly what the command wrote.
  subprocess.run([sys.executable, "-m", "seq2seq_jax.average", f"--workdir={trained}",
                  "--last=1", f"--output={out}"], cwd=REPO, env=env, check=True, capture_output=True)
  one, meta, _, _ = checkpoints.restore_for_inference(str(out))
  assert meta["averaged_steps"] == steps[-1:]
  jax.tree.map(np.testing.assert_array_equal, one, p2)
  assert sorted(os.listdir(tmp_path)) == ["avg"]  # no staging directory left behind
  averaged = checkpoints.restore_for_inference(os.path.join(trained, "averaged"))[0]
  jax.tree.map(np.testing.assert_array_equal, predictor.load_predictor(trained, "avg").params,
               averaged)


def test_eval_max_len_translates_sentences_longer_than_training_whole(trained, capsys):
  tr = predictor.load_predictor(trained, "best")
  cfg = predictor.run_config(trained, "best")
  assert tr.max_len == cfg["max_len"] and not cfg.get("eval_max_len")  # default: unchanged
  long_tr = translator.Translator(tr.model, tr.params, tr.src_tok, tr.tgt_tok,
                                  {**cfg, "eval_max_len": 64})
  assert long_tr.max_len == 64
  assert long_tr.buckets[:len(tr.buckets)] == tr.buckets  # the training buckets come first
  long_line = " ".join(["print", "the", "file"] * 10)  # 30 words: over the training limit
  assert cfg["max_len"] < len(tr.src_tok.encode(long_line)) < 63
  short = ["open the file", "close", "new folder settings print"]
  tr.translate([long_line], beam=2)
  assert "truncated" in capsys.readouterr().err
  out = long_tr.translate(short + [long_line], beam=2)
  assert "truncated" not in capsys.readouterr().err
  # Short sentences decode exactly as before: same buckets, same per-sentence limits.
  assert [h[0].text for h in out[:3]] == [h[0].text for h in tr.translate(short, beam=2)]
  assert len(out[3][0].tokens) <= decoding.static_output_len(len(long_tr.src_tok.encode(
      long_line)) + 1, max_len=long_tr.max_len)


def test_eval_max_len_below_training_limit_is_an_error(trained):
  tr = predictor.load_predictor(trained, "best")
  cfg = predictor.run_config(trained, "best")
  with pytest.raises(ValueError, match="eval_max_len"):
    translator.Translator(tr.model, tr.params, tr.src_tok, tr.tgt_tok,
                          {**cfg, "eval_max_len": cfg["max_len"] - 1})

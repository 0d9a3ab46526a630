"""Tests for seq2seq_jax.data.tokenizer: SentencePiece, WordVocab, build_tokenizers."""
import json
import os
import pickle
import random

import ml_collections
import pytest

from seq2seq_jax.data import sources
from seq2seq_jax.data import tokenizer as tk
from seq2seq_jax.data.tokenizer import sentencepiece_model

_EN = ("the house cat window open file save close new folder settings print "
       "menu edit view help tools format insert table cell row column").split()
_DE = ("das haus katze fenster öffnen datei speichern schließen neu ordner "
       "einstellungen drucken menü bearbeiten ansicht hilfe werkzeuge format "
       "einfügen tabelle zelle zeile spalte").split()


def _corpus(n=300, seed=0):
  rng = random.Random(seed)
  src, tgt = [], []
  for _ in range(n):
    k = rng.randint(2, 9)
    idx = [rng.randrange(len(_EN)) for _ in range(k)]
    src.append(" ".join(_EN[i] for i in idx).capitalize() + rng.choice([".", "?", ""]))
    tgt.append(" ".join(_DE[i] for i in idx).capitalize() + rng.choice([".", "!", ""]))
  return sources.from_lists(src, tgt, "en", "de")


@pytest.fixture(scope="module")
def corpus():
  return _corpus()


def _cfg(**kw):
  c = ml_collections.ConfigDict()
  c.tokenizer = tk.default_tokenizer_config()
  c.tokenizer.max_train_sentences = 1000  # The one field without a default.
  c.tokenizer.update(kw)
  return c


# --------------------------------------------------------------------------- SentencePiece


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_roundtrip(tmp_path, corpus, model_type):
  texts = list(corpus.side("src")) + list(corpus.side("tgt"))
  sp = tk.train_sentencepiece(texts, str(tmp_path / "m"), vocab_size=120,
                              model_type=model_type, max_sentences=None)
  assert os.path.isfile(tmp_path / "m.model")
  assert sp.vocab_size == 120
  assert [sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
  assert (sp.pad_id, sp.bos_id, sp.eos_id, sp.unk_id) == (0, 1, 2, 3)
  assert isinstance(sp, tk.Tokenizer)
  for text in texts[:50]:
    ids = sp.encode(text)
    assert all(4 <= i < 120 for i in ids)
    assert sp.decode(ids) == text
  assert sp.encode_batch(texts[:5]) == [sp.encode(t) for t in texts[:5]]
  # Decoding model output: stops at EOS, ignores BOS/PAD.
  ids = sp.encode(texts[0])
  assert sp.decode([1] + ids + [2, 7, 8, 0, 0]) == texts[0]
  # Reloading and pickling give identical ids.
  sp2 = tk.load_sentencepiece(str(tmp_path / "m.model"))
  sp3 = pickle.loads(pickle.dumps(sp))
  for t in texts[:20]:
    assert sp2.encode(t) == sp.encode(t) == sp3.encode(t)


def test_sentencepiece_unknown_characters(tmp_path, corpus):
  sp = tk.train_sentencepiece(corpus.side("src"), str(tmp_path / "m"), vocab_size=80)
  ids = sp.encode("the 漢字 house")
  assert sp.unk_id in ids
  out = sp.decode(ids)
  assert isinstance(out, str) and "the" in out and "house" in out


def test_sentencepiece_errors(tmp_path):
  with pytest.raises(ValueError, match="model_type"):
    tk.train_sentencepiece(["a b"], str(tmp_path / "m"), 10, model_type="char")
  with pytest.raises(FileNotFoundError):
    tk.load_sentencepiece(str(tmp_path / "missing.model"))


# --------------------------------------------------------------------------- word level


def test_word_tokenize_and_detokenize():
  assert tk.word_tokenize("Don't panic, 3.5%!") == ["Don", "'", "t", "panic", ",", "3", ".",
                                                     "5", "%", "!"]
  assert tk.word_tokenize("Größe  (in  cm)") == ["Größe", "(", "in", "cm", ")"]
  for text in ["Hello, world!", "Open (the) file.", "Don't panic.", 'Say "hi" now.',
               "Datei/Ordner öffnen?", "50% off"]:
    assert tk.word_detokenize(tk.word_tokenize(text)) == text


def test_word_vocab(tmp_path, corpus):
  v = tk.WordVocab.build(corpus.side("src"), max_size=12, min_count=1)
  assert v.vocab_size == 12
  assert [v.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
  assert isinstance(v, tk.Tokenizer)
  ids = v.encode("the zyzzyva house")
  assert ids[1] == v.unk_id and ids[0] != v.unk_id
  full = tk.WordVocab.build(corpus.side("src"))
  text = corpus[0][0]
  assert full.unk_id not in full.encode(text)
  assert full.decode(full.encode(text) + [2, 9, 9]) == text
  # Unknown words decode as <unk>, and out-of-range ids do not crash.
  assert full.decode([full.unk_id, 10**6]) == "<unk> <unk>"
  # min_count drops rare words.
  rare = tk.WordVocab.build(["a a b"], min_count=2)
  assert rare.encode("a b") == [4, rare.unk_id]
  # Deterministic order: count, then alphabetical.
  assert tk.WordVocab.build(["b a c b"]).encode("a b c") == [5, 4, 6]
  # Save / load keeps ids and options.
  lv = tk.WordVocab.build(corpus.side("src"), lowercase=True)
  path = str(tmp_path / "v.txt")
  lv.save(path)
  again = tk.load_tokenizer(path)
  assert isinstance(again, tk.WordVocab) and again.lowercase
  for t in corpus.side("src", range(30)):
    assert again.encode(t) == lv.encode(t)
  assert again.encode("THE") == lv.encode("the")
  with pytest.raises(ValueError, match="header"):
    open(str(tmp_path / "bad.txt"), "w").write("a\nb\n")
    tk.WordVocab.load(str(tmp_path / "bad.txt"))


# --------------------------------------------------------------------------- build_tokenizers


def test_build_joint_sentencepiece_and_reload(tmp_path, corpus, monkeypatch):
  cfg = _cfg(vocab_size=100, model_type="bpe", joint=True)
  s, t = tk.build_tokenizers(cfg, corpus, str(tmp_path))
  assert s is t and s.vocab_size == 100
  files = sorted(os.listdir(tmp_path / "tokenizer"))
  assert files == ["spec.json", "spm_joint.model", "spm_joint.vocab"]
  spec = json.load(open(tmp_path / "tokenizer" / "spec.json"))
  assert spec["kind"] == "sentencepiece" and spec["model_type"] == "bpe"
  # German words are in the joint vocabulary.
  assert s.decode(s.encode(corpus[3][1])) == corpus[3][1]

  # A resumed run reloads instead of training.
  def fail(*a, **k):
    raise AssertionError("retrained")
  monkeypatch.setattr(sentencepiece_model, "train_sentencepiece", fail)
  s2, t2 = tk.build_tokenizers(cfg, corpus, str(tmp_path))
  for a, b in corpus.get_many(range(20)):
    assert s2.encode(a) == s.encode(a) and t2.encode(b) == t.encode(b)
  # A different config refuses to mix vocabularies.
  with pytest.raises(ValueError, match="new workdir") as err:
    tk.build_tokenizers(_cfg(vocab_size=90, model_type="bpe"), corpus, str(tmp_path))
  # Only the differing fields are named, not two whole settings dicts.
  assert "vocab_size: built with" in str(err.value)
  assert "character_coverage" not in str(err.value)


def test_build_per_side_sentencepiece(tmp_path, corpus):
  cfg = _cfg(vocab_size=100, src_vocab_size=80, tgt_vocab_size=90, joint=False,
             max_train_sentences=200)
  s, t = tk.build_tokenizers(cfg, corpus, str(tmp_path))
  assert (s.vocab_size, t.vocab_size) == (80, 90)
  assert {"spm_src_en.model", "spm_tgt_de.model"} <= set(os.listdir(tmp_path / "tokenizer"))
  assert t.decode(t.encode(corpus[0][1])) == corpus[0][1]
  # Per-side vocabularies: 'ß' only occurs on the German side.
  assert s.unk_id in s.encode("schließen") and t.unk_id not in t.encode("schließen")


def test_build_word_vocab(tmp_path, corpus):
  # A config without a `tokenizer` sub-dict also works (fields at top level).
  cfg = ml_collections.ConfigDict(dict(kind="word", vocab_size=20, joint=False,
                                       max_train_sentences=1000))
  s, t = tk.build_tokenizers(cfg, corpus, str(tmp_path))
  assert isinstance(s, tk.WordVocab) and s.vocab_size == t.vocab_size == 20
  assert s is not t
  assert sorted(os.listdir(tmp_path / "tokenizer")) == ["spec.json", "vocab_src_en.txt",
                                                        "vocab_tgt_de.txt"]
  s2, t2 = tk.build_tokenizers(cfg, corpus, str(tmp_path))
  for a, b in corpus.get_many(range(20)):
    assert s2.encode(a) == s.encode(a) and t2.encode(b) == t.encode(b)


def test_bad_kind(tmp_path, corpus):
  with pytest.raises(ValueError, match="kind"):
    tk.build_tokenizers(_cfg(kind="chars"), corpus, str(tmp_path))


def test_max_train_sentences_has_no_default(tmp_path, corpus):
  cfg = ml_collections.ConfigDict(dict(kind="word", vocab_size=20))
  with pytest.raises(ValueError, match="max_train_sentences"):
    tk.build_tokenizers(cfg, corpus, str(tmp_path))
  assert "max_train_sentences" not in tk.default_tokenizer_config()


def test_untrainable_training_split_names_it_and_leaves_no_tokenizer_dir(tmp_path, corpus):
  empty = sources.from_lists([], [], "en", "de", name="text:/corpus")
  with pytest.raises(sources.DatasetError, match="'train' split of text:/corpus has no "):
    tk.build_tokenizers(_cfg(), empty, str(tmp_path))
  blank = sources.from_lists(["", " "], ["", ""], "en", "de", name="text:/blank")
  with pytest.raises(sources.DatasetError, match="cannot train a 100-piece tokenizer on the "
                     "'train' split of text:/blank"):
    tk.build_tokenizers(_cfg(vocab_size=100), blank, str(tmp_path))
  with pytest.raises(sources.DatasetError, match="Vocabulary size too high"):
    tk.build_tokenizers(_cfg(vocab_size=5000), corpus, str(tmp_path))
  assert os.listdir(tmp_path) == []  # no tokenizer/ left behind by any of them

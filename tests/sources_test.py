"""Tests for seq2seq_jax.data.sources: text directories and TFDS by name."""
import gzip
import os
import pickle
import sys
import textwrap

import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data import sources


def _write(path, lines, gz=False):
  data = "".join(l + "\n" for l in lines).encode("utf-8")
  if gz:
    with gzip.open(path + ".gz", "wb") as f:
      f.write(data)
  else:
    with open(path, "wb") as f:
      f.write(data)


@pytest.fixture
def text_dir(tmp_path):
  d = tmp_path / "corpus"
  d.mkdir()
  _write(str(d / "train.en"), ["hello world", "good morning", "a\u2028b"])
  _write(str(d / "train.de"), ["hallo welt", "guten morgen", "a b"])
  _write(str(d / "dev.en"), ["one"], gz=True)
  _write(str(d / "dev.de"), ["eins"], gz=True)
  return str(d)


# --------------------------------------------------------------------------- text files


def test_text_dir_by_prefix_and_by_path(text_dir):
  for name in (f"text:{text_dir}", text_dir):
    s = sources.load_parallel(name, "train", "en", "de")
    assert len(s) == 3
    assert s[0] == ("hello world", "hallo welt")
    assert s[-1] == s[2]
    # U+2028 is inside a sentence, not a line break.
    assert s[2] == ("a\u2028b", "a b")
    assert list(s) == [s[0], s[1], s[2]]
    assert s.get_many([1, 0]) == [s[1], s[0]]
    assert list(s.side("tgt", [1])) == ["guten morgen"]
    assert (s.src_lang, s.tgt_lang, s.split) == ("en", "de", "train")
  with pytest.raises(IndexError):
    s[3]  # pylint: disable=pointless-statement


def test_gz_and_split_aliases(text_dir):
  for split in ("validation", "dev", "valid"):
    s = sources.load_parallel(f"text:{text_dir}", split, "en", "de")
    assert list(s) == [("one", "eins")]


def test_crlf_and_missing_final_newline(tmp_path):
  (tmp_path / "train.en").write_bytes(b"a\r\nb")
  (tmp_path / "train.de").write_bytes(b"x\r\ny\n")
  s = sources.load_parallel(str(tmp_path), "train", "en", "de")
  assert list(s) == [("a", "x"), ("b", "y")]


def test_mismatched_line_counts(tmp_path):
  _write(str(tmp_path / "train.en"), ["a", "b", "c"])
  _write(str(tmp_path / "train.de"), ["x", "y"], gz=True)
  with pytest.raises(sources.DatasetError) as e:
    sources.load_parallel(f"text:{tmp_path}", "train", "en", "de")
  msg = str(e.value)
  assert "train.en" in msg and "train.de.gz" in msg and "3" in msg and "2" in msg


def test_empty_split_names_both_files(tmp_path):
  _write(str(tmp_path / "train.en"), [])
  _write(str(tmp_path / "train.de"), [])
  with pytest.raises(sources.DatasetError, match=f"{tmp_path}/train.en and {tmp_path}/train.de "
                     "are empty: split 'train' has no sentence pairs"):
    sources.load_parallel(f"text:{tmp_path}", "train", "en", "de")


def test_text_that_is_not_utf8_names_the_file_and_line(tmp_path):
  (tmp_path / "train.en").write_bytes(b"fine\nbad \xff\n")
  _write(str(tmp_path / "train.de"), ["gut", "schlecht"])
  with pytest.raises(sources.DatasetError, match=f"{tmp_path}/train.en is not UTF-8: line 2"):
    sources.load_parallel(f"text:{tmp_path}", "train", "en", "de")


def test_missing_file_names_path(text_dir):
  with pytest.raises(FileNotFoundError, match=r"test\.en"):
    sources.load_parallel(f"text:{text_dir}", "test", "en", "de")
  with pytest.raises(FileNotFoundError, match=r"train\.fr"):
    sources.load_parallel(f"text:{text_dir}", "train", "en", "fr")
  with pytest.raises(FileNotFoundError, match="nonexistent"):
    sources.load_parallel(f"text:{text_dir}/nonexistent", "train", "en", "de")


def test_unknown_names(tmp_path):
  for name in ("no such dataset!", "/definitely/not/a/dir", "UPPER/case"):
    with pytest.raises(sources.DatasetError, match="Accepted forms") as e:
      sources.load_parallel(name, "train", "en", "de")
    assert name in str(e.value)
  # TFDS-shaped but unregistered and not on disk.
  with pytest.raises(sources.DatasetError, match="no_such_tfds_dataset_xyz"):
    sources.load_parallel("no_such_tfds_dataset_xyz/en-de", "train", "en", "de",
                          data_dir=str(tmp_path))
  with pytest.raises(sources.DatasetError, match="synthetic/copy: unknown split 'bogus'; its "
                     r"splits are \['test', 'train', 'validation'\]"):
    sources.load_parallel("synthetic/copy", "bogus", "en", "de")


def test_unknown_name_lists_the_registered_kinds():
  with pytest.raises(ValueError) as e:
    sources.load_parallel("no such dataset!", "train", "en", "de")
  for kind in ("synthetic:", "text:", "tfds:"):
    assert kind in str(e.value)
  assert str(e.value).endswith(sources.accepted_forms())


def test_kinds_match_in_registration_order(tmp_path, monkeypatch):
  # A directory named like a TFDS dataset is read as text files (text comes before tfds),
  # but a directory "synthetic/copy" does not hide the generated dataset (synthetic is first).
  corpus = tmp_path / "my_corpus"
  corpus.mkdir()
  _write(str(corpus / "train.en"), ["a"])
  _write(str(corpus / "train.de"), ["b"])
  (tmp_path / "synthetic" / "copy").mkdir(parents=True)
  monkeypatch.chdir(tmp_path)
  assert list(sources.load_parallel("my_corpus", "train", "en", "de")) == [("a", "b")]
  assert len(sources.load_parallel("synthetic/copy", "test", "en", "de")) == 500


def test_pickle_roundtrip(text_dir):
  s = sources.load_parallel(text_dir, "train", "en", "de")
  s2 = pickle.loads(pickle.dumps(s))
  assert list(s2) == list(s)


# --------------------------------------------------------------------------- TFDS

_PAIRS = [(f"sentence number {i}", f"Satz Nummer {i} ä") for i in range(7)]


class TinyParallelTest(tfds.core.GeneratorBasedBuilder):
  """A translation builder with a config, like wmt14_translate/de-en."""

  VERSION = tfds.core.Version("1.0.0")
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="en-de")]

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            "en": tfds.features.Text(), "de": tfds.features.Text(),
            "package": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples(_PAIRS[:5]),
            "validation": self._generate_examples(_PAIRS[5:])}

  def _generate_examples(self, pairs):
    for i, (en, de) in enumerate(pairs):
      yield i, {"en": en, "de": de, "package": "pkg"}


class TinyTranslationTest(tfds.core.GeneratorBasedBuilder):
  """Uses tfds.features.Translation, like ted_hrlr_translate/pt_to_en."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.Translation(languages=["pt", "en"]))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for i in range(4):
      yield i, {"pt": f"frase {i} ção", "en": f"sentence {i}"}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("tfds"))
  TinyParallelTest(data_dir=d, config="en-de").download_and_prepare(
      file_format="array_record")
  TinyTranslationTest(data_dir=d).download_and_prepare(file_format="array_record")
  return d


def test_tfds_by_name(tfds_dir):
  s = sources.load_parallel("tiny_parallel_test/en-de", "train", "en", "de", data_dir=tfds_dir)
  assert isinstance(s, sources.TfdsParallelSource)
  assert len(s) == 5
  pairs = list(s)
  assert all(isinstance(a, str) and isinstance(b, str) for a, b in pairs)
  assert sorted(pairs) == sorted(_PAIRS[:5])  # TFDS shuffles the stored order.
  assert s.get_many([3, 1]) == [pairs[3], pairs[1]]
  # Reversed direction, split alias, slicing.
  r = sources.load_parallel("tiny_parallel_test/en-de", "dev", "de", "en", data_dir=tfds_dir)
  assert sorted(r) == sorted((b, a) for a, b in _PAIRS[5:])
  head = sources.load_parallel("tiny_parallel_test/en-de", "train[:2]", "en", "de",
                               data_dir=tfds_dir)
  assert len(head) == 2
  assert pickle.loads(pickle.dumps(s))[0] == s[0]


def test_tfds_translation_feature_and_generic_decoding(tfds_dir):
  s = sources.load_parallel("tiny_translation_test", "train", "pt", "en", data_dir=tfds_dir)
  assert sorted(s) == [(f"frase {i} ção", f"sentence {i}") for i in range(4)]
  # The fast raw-proto path agrees with TFDS's own feature decoding.
  builder = tfds.builder("tiny_translation_test", data_dir=tfds_dir)
  generic = sources.TfdsParallelSource(builder.as_data_source(split="train"), name="t",
                                       split="train", src_lang="pt", tgt_lang="en")
  assert list(generic) == list(s)
  assert generic.get_many([2, 0]) == s.get_many([2, 0])


def test_tfds_bad_language_split_or_config(tfds_dir):
  with pytest.raises(sources.DatasetError, match="features"):
    sources.load_parallel("tiny_parallel_test/en-de", "train", "en", "fr", data_dir=tfds_dir)
  with pytest.raises(sources.DatasetError, match="available splits"):
    sources.load_parallel("tiny_parallel_test/en-de", "test", "en", "de", data_dir=tfds_dir)
  with pytest.raises(sources.DatasetError, match="Unknown config 'en-xx' of dataset "
                     "'tiny_parallel_test'; its configs are en-de$"):
    sources.load_parallel("tiny_parallel_test/en-xx", "train", "en", "de", data_dir=tfds_dir)
  # TFDS's own error lists the configs with close names: none for en-xx.
  with pytest.raises(sources.DatasetError, match="its configs are en-de, en-fr, en-de-small, "
                     "en-fr-small$"):
    sources.prepare_tfds("software_l10n/en-xx", tfds_dir)


def test_standard_tfds_not_prepared_is_clear_error(tmp_path):
  # A real TFDS builder with no data: must not try to download.
  with pytest.raises(sources.DatasetNotPreparedError, match="array_record") as e:
    sources.load_parallel("ted_hrlr_translate/pt_to_en", "train", "pt", "en",
                          data_dir=str(tmp_path))
  assert isinstance(e.value, FileNotFoundError)
  assert "ted_hrlr_translate/pt_to_en" in str(e.value)


_OWN_MODULE = textwrap.dedent('''
    import tensorflow_datasets as tfds

    class TinyOwnL10n(tfds.core.GeneratorBasedBuilder):
      VERSION = tfds.core.Version("1.0.0")
      BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="en-de-small")]

      def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {"en": tfds.features.Text(), "de": tfds.features.Text(),
             "package": tfds.features.Text()}))

      def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(3), "validation": self._generate_examples(2),
                "test": self._generate_examples(1)}

      def _generate_examples(self, n):
        for i in range(n):
          yield i, {"en": f"file {i}", "de": f"Datei {i}", "package": "p"}
''')


def test_own_builder_is_imported_and_prepared_on_demand(tmp_path, monkeypatch):
  mod_dir = tmp_path / "mods"
  mod_dir.mkdir()
  (mod_dir / "tiny_own_l10n_module.py").write_text(_OWN_MODULE)
  monkeypatch.syspath_prepend(str(mod_dir))
  monkeypatch.setitem(sources.OWN_TFDS_MODULES, "tiny_own_l10n", "tiny_own_l10n_module")
  data_dir = str(tmp_path / "data")
  assert "tiny_own_l10n_module" not in sys.modules  # Imported lazily...
  s = sources.load_parallel("tiny_own_l10n/en-de-small", "train", "en", "de",
                            data_dir=data_dir)
  assert "tiny_own_l10n_module" in sys.modules  # ...by load_parallel.
  assert sorted(s) == [(f"file {i}", f"Datei {i}") for i in range(3)]
  assert os.path.isdir(os.path.join(data_dir, "tiny_own_l10n", "en-de-small"))
  # Second call finds the prepared data.
  builder = sources.prepare_tfds("tiny_own_l10n/en-de-small", data_dir)
  assert builder.is_prepared()
  assert len(sources.load_parallel("tiny_own_l10n/en-de-small", "test", "en", "de",
                                   data_dir=data_dir)) == 1


def test_own_builder_module_missing(monkeypatch, tmp_path):
  monkeypatch.setitem(sources.OWN_TFDS_MODULES, "ghost_l10n", "no_such_module_for_ghost_l10n")
  with pytest.raises(ImportError, match="no_such_module_for_ghost_l10n"):
    sources.load_parallel("ghost_l10n/en-de", "train", "en", "de", data_dir=str(tmp_path))


def test_from_lists():
  s = sources.from_lists(["a", "b"], ["x", "y"], "en", "de")
  assert list(s) == [("a", "x"), ("b", "y")]
  with pytest.raises(ValueError, match="different numbers"):
    sources.from_lists(["a"], [], "en", "de")


def test_software_l10n_builder_through_load_parallel(tmp_path):
  """The real builder, built offline from generated package trees."""
  pytest.importorskip("seq2seq_jax.datasets.software_l10n.builder")
  fixtures = pytest.importorskip("l10n_fixtures")
  trees = tmp_path / "trees"
  fixtures.make_trees(str(trees), "de", count=60)
  data_dir = str(tmp_path / "data")
  sources.prepare_tfds("software_l10n/en-de-small", data_dir, source_dir=str(trees),
                       processes=1)
  splits = {split: sources.load_parallel("software_l10n/en-de-small", split, "en", "de",
                                         data_dir=data_dir)
            for split in ("train", "dev", "test")}
  assert len(splits["train"]) > 10
  pairs = [p for s in splits.values() for p in s]
  assert all(isinstance(a, str) and isinstance(b, str) and a and b for a, b in pairs)
  assert len({a for a, _ in pairs}) == len(pairs)  # Splits are disjoint.
  assert set(fixtures.sentences("de", 0, 10)) <= set(pairs)
  # Reverse direction reads the same pairs.
  rev = sources.load_parallel("software_l10n/en-de-small", "train", "de", "en",
                              data_dir=data_dir)
  assert sorted((b, a) for a, b in rev) == sorted(splits["train"])

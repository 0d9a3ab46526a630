"""TFDS builder for a software-localization parallel corpus built from Debian packages.

The human translations that Debian ships -- gettext ``.mo`` and Qt ``.qm`` catalogs, and
manuals rendered in two languages -- are a sizeable English→German/French corpus of terse
software text. Redistributing it needs attribution per package, which is why this is a
builder and not a file: it fetches the packages with ``apt-get download`` into the TFDS
download directory, unpacks only the files it reads (``dpkg-deb --fsys-tarfile | tar -x
--wildcards``) and extracts pairs with :mod:`seq2seq_jax.datasets.software_l10n.extract`.

Configs: ``en-de`` and ``en-fr`` (all ~300 packages, ~1.2 GB of .deb files) and
``en-de-small`` / ``en-fr-small`` (the few dozen richest packages; a few minutes to build).
Features: ``en``, ``de`` or ``fr``, and ``package`` (the Debian package of the translation,
for attribution). Splits ``train``/``validation``/``test``; the held-out sets are the pairs
whose folded English ranks lowest under a salted hash, so they stay put when packages are
updated, added or removed (see :func:`.splits.split_pairs`).

Building without apt: pass a directory of ``.deb`` files, or of unpacked package trees
(``<dir>/<package>/usr/...``), as ``source_dir`` to the builder or as TFDS ``manual_dir``::

    builder = tfds.builder("software_l10n/en-de-small", data_dir=d, source_dir="/debs")
    builder.download_and_prepare(file_format="array_record")
    train = tfds.data_source("software_l10n/en-de-small", data_dir=d, split="train")

Only Python and the archive tools are needed (TFDS writes ArrayRecord files and its own
protobufs without TensorFlow).
"""

from __future__ import annotations

import dataclasses
import os
import time

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from seq2seq_jax.datasets.software_l10n import cleaning, debs, extract, packages, splits

# Held-out pairs per split (full, small config). Strings whose salted hash falls in the
# lowest HELD_OUT_FRACTION are never train; see splits.split_pairs.
HELD_OUT = {False: 1500, True: 1000}
HELD_OUT_FRACTION = 0.015
SPLIT_SALT = "software_l10n/v1"


@dataclasses.dataclass(eq=False)
class SoftwareL10nConfig(tfds.core.BuilderConfig):
  """``lang``: target language code; ``small``: the richest packages only."""

  lang: str = "de"
  small: bool = False


def _config(lang: str, small: bool) -> SoftwareL10nConfig:
  size = "the few dozen richest" if small else "about 300"
  return SoftwareL10nConfig(
      name=f"en-{lang}{'-small' if small else ''}", lang=lang, small=small,
      description=f"English-{lang} software UI strings and documentation from {size} Debian "
                  "12 packages.")


class SoftwareL10n(tfds.core.GeneratorBasedBuilder):
  """English→German/French software localization corpus from Debian packages."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: Debian 12 .mo/.qm catalogs and manuals."}
  BUILDER_CONFIGS = [_config(lang, small) for small in (False, True) for lang in packages.LANGS]
  DEFAULT_CONFIG_NAME = "en-de-small"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
  Optional. Without it the packages are fetched with `apt-get download`. To build offline,
  put the .deb files, or unpacked package trees as <manual_dir>/<package>/usr/..., here.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    """This file. TFDS 4.9.10 computes it via the `importlib_resources` backport, which it
    only declares for Python < 3.9, so the inherited property fails for builders defined in
    a package on newer Pythons."""
    return epath.Path(__file__)

  def __init__(self, *, source_dir: str | os.PathLike | None = None,
               processes: int | None = None, **kwargs):
    """``source_dir``: .deb files or unpacked trees to use instead of apt (as manual_dir).
    ``processes``: extraction worker processes (default: one per CPU)."""
    self._source_dir = source_dir
    self._processes = processes
    super().__init__(**kwargs)
    packages.check_lang(self.builder_config.lang)

  def _info(self) -> tfds.core.DatasetInfo:
    lang = self.builder_config.lang
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__.split("\n\n")[1],
        features=tfds.features.FeaturesDict({
            "en": tfds.features.Text(), lang: tfds.features.Text(),
            "package": tfds.features.Text()}),
        supervised_keys=("en", lang),
        homepage="https://packages.debian.org/bookworm/",
    )

  def _source(self, dl_manager) -> str | None:
    if self._source_dir is not None:
      return os.fspath(self._source_dir)
    manual = getattr(dl_manager, "_manual_dir", None)  # set even when the user gave none
    if manual is not None and os.path.isdir(manual) and os.listdir(manual):
      return os.fspath(manual)
    return None

  def _package_trees(self, dl_manager) -> dict[str, str]:
    cfg = self.builder_config
    work = os.path.join(os.fspath(dl_manager.download_dir), "software_l10n")
    source = self._source(dl_manager)
    start = time.monotonic()
    if source:
      deb_files, trees = debs.find_local_inputs(source)
      logging.info("software_l10n: %d .deb files and %d unpacked trees from %s",
                   len(deb_files), len(trees), source)
    else:
      deb_files = debs.apt_download(packages.package_names(cfg.lang, cfg.small),
                                    os.path.join(work, "debs"))
      trees = {}
      logging.info("software_l10n: %d packages downloaded or cached in %.0f s",
                   len(deb_files), time.monotonic() - start)
    start = time.monotonic()
    unpacked = debs.unpack_all(deb_files, os.path.join(work, "unpacked", cfg.lang), cfg.lang)
    logging.info("software_l10n: %d packages unpacked or cached in %.0f s", len(unpacked),
                 time.monotonic() - start)
    return {**unpacked, **trees}

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    trees = self._package_trees(dl_manager)
    start = time.monotonic()
    processes = self._processes or os.cpu_count() or 1
    pairs, stats = extract.extract_tree_pairs(trees, cfg.lang, processes=processes)
    pairs = splits.dedup(pairs)
    logging.info("software_l10n/%s: %d unique pairs from %d packages in %.0f s; %s", cfg.name,
                 len(pairs), len(trees), time.monotonic() - start, dict(stats.most_common()))
    if len(pairs) < 3:
      raise RuntimeError(
          f"software_l10n/{cfg.name}: {len(pairs)} sentence pairs extracted from "
          f"{len(trees)} packages ({', '.join(sorted(trees)[:10])}"
          f"{' ...' if len(trees) > 10 else ''}); need at least 3. Do they contain en-"
          f"{cfg.lang} .mo/.qm catalogs or two-language manuals? Extraction stats: "
          f"{dict(stats.most_common())}")
    held_out = HELD_OUT[cfg.small]
    by_split = splits.split_pairs(pairs, held_out, held_out, SPLIT_SALT, HELD_OUT_FRACTION)
    logging.info("software_l10n/%s: %s; %d held-out candidates beyond the test/validation "
                 "sizes left out", cfg.name, {k: len(v) for k, v in by_split.items()},
                 len(pairs) - sum(map(len, by_split.values())))
    return {name: self._generate_examples(split) for name, split in by_split.items()}

  def _generate_examples(self, pairs):
    lang = self.builder_config.lang
    for pair in pairs:
      yield cleaning.fold(pair.en), {"en": pair.en, lang: pair.tgt, "package": pair.package}

"""TFDS builder for a software-localization parallel corpus built from Debian packages.

The human translations that Debian ships -- gettext ``.mo`` and Qt ``.qm`` catalogs, and
manuals rendered in two languages -- are a sizeable English→German/French corpus of terse
software text. Redistributing it needs attribution per package, which is why this is a
builder and not a file: it fetches the packages with ``apt-get download`` into the TFDS
download directory, unpacks only the files it reads (``dpkg-deb --fsys-tarfile | tar -x
--wildcards``) and extracts pairs with :mod:`seq2seq_jax.data.l10n_extract`.

Configs: ``en-de`` and ``en-fr`` (all ~300 packages, ~1.2 GB of .deb files) and
``en-de-small`` / ``en-fr-small`` (the few dozen richest packages; a few minutes to build).
Features: ``en``, ``de`` or ``fr``, and ``package`` (the Debian package of the translation,
for attribution). Splits ``train``/``validation``/``test``; the held-out sets are the pairs
whose folded English ranks lowest under a salted hash, so they stay put when packages are
updated, added or removed (see :func:`l10n_extract.split_pairs`).

Building without apt: pass a directory of ``.deb`` files, or of unpacked package trees
(``<dir>/<package>/usr/...``), as ``source_dir`` to the builder or as TFDS ``manual_dir``::

    builder = tfds.builder("software_l10n/en-de-small", data_dir=d, source_dir="/debs")
    builder.download_and_prepare(file_format="array_record")
    train = tfds.data_source("software_l10n/en-de-small", data_dir=d, split="train")

Only Python and the archive tools are needed (TFDS writes ArrayRecord files and its own
protobufs without TensorFlow).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from seq2seq_jax.data import l10n_extract

LANGS = ("de", "fr")

# Debian 12 packages with human translations, by name (apt picks the current version);
# "{lang}" marks per-language packages. The English side of the two-language manuals
# (libreoffice-help-en-us, gimp-help-en, ...) is listed too.
PACKAGES = tuple("""
accerciser adduser aisleriot akregator apt aptitude-common ark artikulate atril-common
audacity-data baobab bash binutils-common bison bleachbit blinken bluedevil blueman
brasero-common caja-common cantor celluloid cheese-common cinnamon-l10n claws-mail-i18n
coreutils cpio cryptsetup-bin darktable dconf-editor debconf-i18n debian-faq debian-faq-{lang}
debian-handbook debian-reference-en debian-reference-{lang} developers-reference
developers-reference-{lang} dia-common diffutils digikam-data dolphin dpkg e2fsprogs-l10n
engrampa-common eog evince-common evolution-common evolution-data-server-common exfalso
file-roller filelight findutils five-or-more flex four-in-a-row freeciv-data fritzing-data gajim
gawk gcc-12-locales gdebi-core geany-common gedit-common gettext gimp-data gimp-help-en
gimp-help-{lang} git gnome-boxes gnome-calculator gnome-calendar gnome-chess gnome-clocks
gnome-contacts gnome-control-center-data gnome-disk-utility gnome-font-viewer gnome-games-app
gnome-keyring gnome-klotski gnome-logs gnome-mahjongg gnome-maps gnome-mines gnome-nibbles
gnome-robots gnome-screenshot gnome-session-common gnome-settings-daemon-common
gnome-shell-common gnome-software-common gnome-sudoku gnome-system-monitor gnome-taquin
gnome-terminal-data gnome-tetravex gnome-tweaks gnome-user-docs gnucash-common gnumeric-common
gnupg-l10n gparted-common gramps grisbi-common gvfs-common gwenview handbrake hexchat-common
hitori homebank-data hugin-data iagno inkscape k3b-i18n kaddressbook kaddressbook-data
kalzium-data kanagram kate5-data kbd kbounce kbruch kcalc kdeconnect kdenlive-data kdepim-addons
kdepim-runtime kdevelop-data kdevelop-l10n keditbookmarks keepassxc kgeography-data kget
khangman khelpcenter kig kinfocenter kio-extras-data kiten kmahjongg kmail kmines kmplot knights
kompare konsole kontact konversation-data korganizer kpat krb5-locales krita-l10n krusader
ksudoku ktexteditor-data ktorrent-data ktouch-data kturtle kwalletmanager kwin-data kwordquiz
kwrite libc-l10n libglib2.0-data libgoa-1.0-common libgpg-error-l10n libgtk-3-common
libgtk-4-common libkf5akonadi-data libkf5archive-data libkf5calendarsupport-data
libkf5eventviews-data libkf5incidenceeditor-data libkf5mailcommon-data libkf5newstuff-data
libkf5pimcommon-data libkf5solid5-data libkf5textwidgets-data libkf5wallet-data
libkf5widgetsaddons-data libkf5xmlgui-data libreoffice-help-en-us libreoffice-help-{lang}
libreoffice-l10n-{lang} liferea-data lightsoff lmms-common login lokalize lynx-common lyx-common
maint-guide maint-guide-{lang} make man-db marble-data mate-desktop-common mate-panel-common
mc-data meld mercurial-common merkaartor minetest-data mixxx-data mousepad mutt mutter-common
nano nautilus-data neomutt net-tools network-manager network-manager-gnome okteta okular orca
packagekit palapeli-data parley-data partitionmanager pavucontrol pidgin-data pitivi
plasma-desktop-data plasma-nm plasma-pa plasma-workspace-data pluma-common poedit-common
powerdevil-data print-manager procps psmisc pulseaudio python3-django qgis-common qtcreator-data
qttranslations5-l10n quadrapassel rhythmbox-data ristretto scribus-data seahorse sed
shotwell-common simple-scan sphinx-common step subversion sudo swell-foop synaptic
system-config-printer-common systemsettings tali tar texinfo thunar-data totem-common
transmission-gtk tuxpaint-data udisks2 umbrello-data util-linux-locales vim-runtime vlc-l10n
wesnoth-1.16-data wesnoth-1.16-did wesnoth-1.16-dm wesnoth-1.16-dw wesnoth-1.16-ei
wesnoth-1.16-httt wesnoth-1.16-l wesnoth-1.16-low wesnoth-1.16-nr wesnoth-1.16-sof
wesnoth-1.16-sota wesnoth-1.16-sotbe wesnoth-1.16-thot wesnoth-1.16-trow wesnoth-1.16-tsg
wesnoth-1.16-ttb wesnoth-1.16-utbs wget xfce4-panel xfce4-power-manager-data xfce4-settings
xfce4-terminal xfdesktop4-data xfwm4 xz-utils yakuake zim
""".split())

# The richest packages by yield per megabyte downloaded: most of the corpus for ~15% of the
# download. (wesnoth-1.16-data is rich but 146 MB, so it stays in the full config only.)
SMALL_PACKAGES = tuple("""
audacity-data claws-mail-i18n darktable debian-handbook debian-reference-en
debian-reference-{lang} digikam-data evolution-common freeciv-data gcc-12-locales gimp-data
gimp-help-en gimp-help-{lang} git gnome-user-docs gnucash-common gnumeric-common gramps inkscape
keepassxc libgtk-3-common libreoffice-help-en-us libreoffice-help-{lang} libreoffice-l10n-{lang}
lyx-common mercurial-common qgis-common qtcreator-data qttranslations5-l10n scribus-data
subversion util-linux-locales vlc-l10n
""".split())

# Held-out pairs per split (full, small config). Strings whose salted hash falls in the
# lowest HELD_OUT_FRACTION are never train; see l10n_extract.split_pairs.
HELD_OUT = {False: 1500, True: 1000}
HELD_OUT_FRACTION = 0.015
SPLIT_SALT = "software_l10n/v1"
# The build fails rather than silently shrinking when fewer packages than this arrive.
MIN_DOWNLOADED_FRACTION = 0.5


def package_names(lang: str, small: bool = False) -> list[str]:
  """The Debian package names a config downloads, with ``{lang}`` filled in."""
  _check_lang(lang)
  return sorted(name.format(lang=lang) for name in (SMALL_PACKAGES if small else PACKAGES))


def _check_lang(lang: str) -> None:
  if lang not in LANGS:
    raise ValueError(f"software_l10n: unsupported target language {lang!r}; "
                     f"supported: {', '.join(LANGS)}")


# ----------------------------------------------------------------------------- apt download

_APT_MISSING = re.compile(
    r"Unable to locate package (\S+)"
    r"|Can't select (?:candidate )?versions? from package '?([^'\s]+)'?"
    r"|Package '?([^'\s]+)'? has no installation candidate")


def debs_in(directory: str | os.PathLike) -> dict[str, str]:
  """{package name: .deb path} for the ``name_version_arch.deb`` files in ``directory``.

  With several versions of one package the lexicographically last file wins (and a warning
  says so), so the choice does not depend on directory order.
  """
  found: dict[str, list[str]] = collections.defaultdict(list)
  for path in sorted(glob.glob(os.path.join(os.fspath(directory), "*.deb"))):
    found[os.path.basename(path).split("_", 1)[0]].append(path)
  for name, paths in found.items():
    if len(paths) > 1:
      logging.warning("Several .deb files for %s; using %s", name, paths[-1])
  return {name: paths[-1] for name, paths in sorted(found.items())}


def apt_download(names: list[str], deb_dir: str | os.PathLike) -> dict[str, str]:
  """Downloads packages with ``apt-get download`` into ``deb_dir``; returns {name: .deb}.

  Packages already in ``deb_dir`` are not downloaded again. Runs ``apt-get update`` when
  the package lists are missing or do not know a package. Packages apt cannot find are
  skipped with a warning; fewer than half arriving is an error, since the corpus would
  silently be a different one.
  """
  if shutil.which("apt-get") is None:
    raise RuntimeError(
        "software_l10n: apt-get not found. Downloading packages needs a Debian/Ubuntu system; "
        "elsewhere put the .deb files (or unpacked package trees) in a directory and pass it "
        "as source_dir=... to tfds.builder or as the TFDS manual_dir.")
  deb_dir = os.fspath(deb_dir)
  os.makedirs(deb_dir, exist_ok=True)
  todo = [n for n in names if n not in debs_in(deb_dir)]
  updated, skipped = False, set()
  if todo and not glob.glob("/var/lib/apt/lists/*_Packages*"):
    _apt_update()
    updated = True
  while todo:  # each round downloads all, refreshes the lists once, or drops unknown names
    logging.info("apt-get download: %d packages into %s", len(todo), deb_dir)
    unknown = _apt_get_download(todo, deb_dir)
    if not unknown:
      break
    if not updated:
      _apt_update()
      updated = True
    elif not unknown & set(todo):
      raise RuntimeError(f"software_l10n: apt-get download reported unknown packages "
                         f"{sorted(unknown)} that were not requested")
    else:
      skipped |= unknown
    todo = [n for n in todo if n not in skipped and n not in debs_in(deb_dir)]
  have = debs_in(deb_dir)
  got = {n: have[n] for n in names if n in have}
  missing = [n for n in names if n not in have]
  if missing:
    logging.warning("software_l10n: %d of %d packages not available from apt, skipped: %s",
                len(missing), len(names), " ".join(missing))
  if len(got) < MIN_DOWNLOADED_FRACTION * len(names):
    raise RuntimeError(
        f"software_l10n: only {len(got)} of {len(names)} packages could be downloaded with "
        f"apt-get (missing: {' '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}). "
        "The package names are Debian 12 (bookworm) main; check /etc/apt/sources.list.")
  return got


def _apt_update() -> None:
  logging.info("Running apt-get update")
  proc = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f"software_l10n: `apt-get update` failed (it needs root): "
                       f"{proc.stderr.strip()[-2000:]}")


def _apt_get_download(names: list[str], deb_dir: str) -> set[str]:
  """Runs one ``apt-get download``; returns the names apt did not know (nothing downloaded
  then). Files are fetched into a scratch directory and moved in only when complete."""
  with tempfile.TemporaryDirectory(dir=deb_dir, prefix=".partial-") as scratch:
    # As root, apt would try (and warn about) dropping to the _apt user for the download.
    sandbox = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []
    proc = subprocess.run(["apt-get", "download", "-q", *sandbox, *names], cwd=scratch,
                          capture_output=True, text=True, check=False)
    for path in glob.glob(os.path.join(scratch, "*.deb")):
      os.replace(path, os.path.join(deb_dir, os.path.basename(path)))
  if proc.returncode == 0:
    return set()
  unknown = {next(g for g in m.groups() if g) for m in _APT_MISSING.finditer(proc.stderr)}
  if not unknown:
    raise RuntimeError(f"software_l10n: `apt-get download` failed: {proc.stderr.strip()[-2000:]}")
  return unknown


# ----------------------------------------------------------------------------- unpacking

_TAR_HARMLESS = re.compile(r"Not found in archive|Exiting with failure status due to previous")


def unpack_deb(deb: str, dest: str, patterns: list[str]) -> bool:
  """Extracts the files matching ``patterns`` (tar wildcards) from ``deb`` into ``dest``.

  Runs ``dpkg-deb --fsys-tarfile deb | tar -x --wildcards PATTERNS``. A stamp file records
  the .deb's size and mtime and the patterns, so unchanged packages are not unpacked again.
  A corrupt package is skipped with a warning (returns False) rather than failing the build.
  """
  for tool in ("dpkg-deb", "tar"):
    if shutil.which(tool) is None:
      raise RuntimeError(f"software_l10n: `{tool}` not found; it is needed to unpack .deb "
                         "files. Install dpkg, or pass already unpacked package trees.")
  stat = os.stat(deb)
  stamp = f"{stat.st_size} {stat.st_mtime_ns} " + hashlib.sha1(
      "\0".join(patterns).encode()).hexdigest()
  stamp_path = os.path.join(dest, ".software_l10n_unpacked")
  if os.path.exists(stamp_path):
    with open(stamp_path) as f:
      if f.read() == stamp:
        return True
  partial = dest + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  os.makedirs(partial)
  with tempfile.TemporaryFile() as dpkg_err:
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE,
                            stderr=dpkg_err)
    tar = subprocess.run(["tar", "-x", "--wildcards", "--no-same-owner", "-C", partial, "-f", "-",
                          *patterns], stdin=dpkg.stdout, capture_output=True, text=True,
                         check=False)
    dpkg.stdout.close()
    dpkg.wait()
    dpkg_err.seek(0)
    dpkg_msg = dpkg_err.read().decode(errors="replace").strip()
  tar_errors = [l for l in tar.stderr.splitlines() if l.strip() and not _TAR_HARMLESS.search(l)]
  if dpkg.returncode or tar_errors or tar.returncode not in (0, 2):
    shutil.rmtree(partial, ignore_errors=True)
    logging.warning("Skipping unreadable package %s: %s", deb,
                dpkg_msg or "; ".join(tar_errors) or f"tar exit status {tar.returncode}")
    return False
  with open(os.path.join(partial, ".software_l10n_unpacked"), "w") as f:
    f.write(stamp)
  shutil.rmtree(dest, ignore_errors=True)
  os.replace(partial, dest)
  return True


def find_local_inputs(source_dir: str | os.PathLike) -> tuple[dict[str, str], dict[str, str]]:
  """({name: .deb}, {name: unpacked tree}) found in a user-supplied directory.

  Raises FileNotFoundError naming the directory when it holds neither ``*.deb`` files nor
  package trees (subdirectories with a ``usr/`` directory).
  """
  source_dir = os.fspath(source_dir)
  if not os.path.isdir(source_dir):
    raise FileNotFoundError(f"software_l10n: source directory {source_dir} does not exist")
  debs = debs_in(source_dir)
  trees = {name: os.path.join(source_dir, name) for name in sorted(os.listdir(source_dir))
           if os.path.isdir(os.path.join(source_dir, name, "usr"))}
  if not debs and not trees:
    raise FileNotFoundError(
        f"software_l10n: no .deb files and no unpacked package trees (<dir>/<package>/usr/...) "
        f"found in {source_dir}")
  return debs, trees


def unpack_all(debs: dict[str, str], unpack_root: str, lang: str) -> dict[str, str]:
  """Unpacks every .deb (in parallel: the work is in xz/tar subprocesses); {name: tree}."""
  patterns = l10n_extract.tar_patterns(lang)
  os.makedirs(unpack_root, exist_ok=True)
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    futures = {name: pool.submit(unpack_deb, deb, os.path.join(
        unpack_root, os.path.basename(deb)[:-len(".deb")]), patterns)
               for name, deb in debs.items()}
  return {name: os.path.join(unpack_root, os.path.basename(debs[name])[:-len(".deb")])
          for name, future in futures.items() if future.result()}


# ----------------------------------------------------------------------------- builder


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
  BUILDER_CONFIGS = [_config(lang, small) for small in (False, True) for lang in LANGS]
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
    _check_lang(self.builder_config.lang)

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
      debs, trees = find_local_inputs(source)
      logging.info("software_l10n: %d .deb files and %d unpacked trees from %s", len(debs),
                   len(trees), source)
    else:
      debs = apt_download(package_names(cfg.lang, cfg.small), os.path.join(work, "debs"))
      trees = {}
      logging.info("software_l10n: %d packages downloaded or cached in %.0f s", len(debs),
                   time.monotonic() - start)
    start = time.monotonic()
    unpacked = unpack_all(debs, os.path.join(work, "unpacked", cfg.lang), cfg.lang)
    logging.info("software_l10n: %d packages unpacked or cached in %.0f s", len(unpacked),
                 time.monotonic() - start)
    return {**unpacked, **trees}

  def _split_generators(self, dl_manager):
    cfg = self.builder_config
    trees = self._package_trees(dl_manager)
    start = time.monotonic()
    processes = self._processes or os.cpu_count() or 1
    pairs, stats = l10n_extract.extract_tree_pairs(trees, cfg.lang, processes=processes)
    pairs = l10n_extract.dedup(pairs)
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
    splits = l10n_extract.split_pairs(pairs, held_out, held_out, SPLIT_SALT, HELD_OUT_FRACTION)
    logging.info("software_l10n/%s: %s; %d held-out candidates beyond the test/validation "
                 "sizes left out", cfg.name, {k: len(v) for k, v in splits.items()},
                 len(pairs) - sum(map(len, splits.values())))
    return {name: self._generate_examples(split) for name, split in splits.items()}

  def _generate_examples(self, pairs):
    lang = self.builder_config.lang
    for pair in pairs:
      yield l10n_extract.fold(pair.en), {"en": pair.en, lang: pair.tgt, "package": pair.package}

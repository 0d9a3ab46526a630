"""Debian packages: download with ``apt-get download``, unpack with ``dpkg-deb`` and ``tar``.

Only the files the extractors read are unpacked (:func:`.extract.tar_patterns`), and both
steps cache their results, so a rebuild after adding a package only fetches and unpacks
that package.
"""

from __future__ import annotations

import collections
import concurrent.futures
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

from absl import logging

from seq2seq_jax.datasets.software_l10n import extract

# The build fails rather than silently shrinking when fewer packages than this arrive.
MIN_DOWNLOADED_FRACTION = 0.5

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
  patterns = extract.tar_patterns(lang)
  os.makedirs(unpack_root, exist_ok=True)
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    futures = {name: pool.submit(unpack_deb, deb, os.path.join(
        unpack_root, os.path.basename(deb)[:-len(".deb")]), patterns)
               for name, deb in debs.items()}
  return {name: os.path.join(unpack_root, os.path.basename(debs[name])[:-len(".deb")])
          for name, future in futures.items() if future.result()}


"""Tests for the software_l10n corpus builder and its extraction functions.

All inputs are generated here (tests/l10n_fixtures.py); nothing is downloaded.
"""
import logging
import os
import re
import shutil
import struct
import subprocess

import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.datasets.software_l10n import (alignment, builder, catalogs, cleaning, debs,
                                                documents, extract, packages)
from seq2seq_jax.datasets.software_l10n import splits as split_lib
import l10n_fixtures as fx

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


# ----------------------------------------------------------------------------- .mo


def test_parse_mo_keeps_singular_first_form_and_strips_context(tmp_path):
  path = str(tmp_path / "x.mo")
  fx.write_mo(path, [
      {"msgid": "Open the file", "msgstr": "Datei öffnen"},
      {"msgid": "Open", "msgstr": "Öffnen", "msgctxt": "menu"},
      {"msgid": "One file", "msgid_plural": "%d files",
       "msgstr_plural": {0: "Eine Datei", 1: "%d Dateien"}},
      {"msgid": "Not translated", "msgstr": ""},
  ])
  entries = catalogs.parse_mo((tmp_path / "x.mo").read_bytes(), path)
  assert sorted(entries) == sorted([
      catalogs.CatalogEntry("", "Open the file", "Datei öffnen"),
      catalogs.CatalogEntry("menu", "Open", "Öffnen"),
      catalogs.CatalogEntry("", "One file", "Eine Datei"),
  ])  # header and untranslated entries dropped


def test_parse_mo_big_endian_and_latin1():
  strings = [(b"", b"Content-Type: text/plain; charset=ISO-8859-1\n"), (b"Green", b"Gr\xfcn")]
  n, header = len(strings), 28
  table = header + 16 * n
  data, offsets, pos = b"", [], table
  for s in [s for pair in strings for s in pair]:
    offsets.append((len(s), pos))
    data += s + b"\0"
    pos += len(s) + 1
  originals = b"".join(struct.pack(">II", *offsets[2 * i]) for i in range(n))
  translations = b"".join(struct.pack(">II", *offsets[2 * i + 1]) for i in range(n))
  mo = struct.pack(">IIIIIII", 0x950412DE, 0, n, header, header + 8 * n, 0, 0)
  entries = catalogs.parse_mo(mo + originals + translations + data)
  assert entries == [catalogs.CatalogEntry("", "Green", "Grün")]


@pytest.mark.parametrize("data, problem", [
    (b"\x00" * 40, "bad magic"),
    (b"\xde\x12\x04\x95", "only 4 bytes"),
    (struct.pack("<7I", 0x950412DE, 0, 5, 28, 68, 0, 0), "truncated"),
])
def test_parse_mo_corrupt_names_file_and_problem(data, problem):
  with pytest.raises(catalogs.L10nFormatError, match=f"broken.mo: .*{problem}"):
    catalogs.parse_mo(data, "broken.mo")


# ----------------------------------------------------------------------------- .qm


def test_parse_qm_reads_generated_catalog():
  data = fx.qm_bytes([
      ("MainWindow", "&Open the file", ["&Datei öffnen"], ""),
      ("Dialog", "%n files", ["%n Datei", "%n Dateien"], "plural"),
      ("Dialog", "Unfinished message", [None], ""),
      ("Dialog", "Smile 😀 please", ["Lächeln 😀 bitte"], ""),
  ])
  assert catalogs.parse_qm(data) == [
      catalogs.CatalogEntry("MainWindow", "&Open the file", "&Datei öffnen"),
      catalogs.CatalogEntry("Dialog", "%n files", "%n Datei"),  # first plural form
      # UTF-16 surrogates:
      catalogs.CatalogEntry("Dialog", "Smile 😀 please", "Lächeln 😀 bitte"),
  ]


def test_parse_qm_without_source_text_yields_nothing():
  # A stripped .qm (lrelease -compress style): translation and context only.
  body = b"\x03" + struct.pack(">I", 4) + "Ja".encode("utf-16-be") + b"\x07\x00\x00\x00\x01C\x01"
  data = fx.qm_bytes([]) + bytes([0x69]) + struct.pack(">I", len(body)) + body
  assert catalogs.parse_qm(data) == []


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: b"\x00" * 16 + d[16:], "bad magic"),
    (lambda d: d[:-3], "runs past the end"),
    (lambda d: d[:-1] + b"\x2a", "unknown .qm message tag 0x2a"),
])
def test_parse_qm_corrupt_names_file_and_problem(mutate, problem):
  data = fx.qm_bytes([("C", "Source text here", ["Quelltext hier"], "")])
  with pytest.raises(catalogs.L10nFormatError, match=f"bad.qm: .*{problem}"):
    catalogs.parse_qm(mutate(data), "bad.qm")


# ----------------------------------------------------------------------------- documents


def test_lohelp_paragraphs_by_id_with_default_platform_variant():
  html = fx.lohelp_html("en-US", {"par_id1": 'Choose <span class="menuitem">File - Open</span>.'})
  paragraphs = documents.lohelp_paragraphs(html)
  assert paragraphs["par_id1"] == "Choose File - Open."
  assert paragraphs["hd_id1"] == "Heading"
  assert paragraphs["par_id99"] == "Ctrl+O"  # MAC variant skipped


def test_html_blocks_skips_head_script_and_code():
  html = ("<html><head><title>T</title></head><body><h1>Title here</h1><p>First <b>bold</b>"
          "\n text.</p><pre>code block</pre><ul><li>Item one</li><li>Item two</li></ul>"
          "<script>var a = 1;</script></body></html>")
  assert documents.html_blocks(html) == ["Title here", "First bold text.", "Item one", "Item two"]


def test_mallard_blocks_joins_key_sequences_and_skips_credits():
  page = ('<page xmlns="http://projectmallard.org/1.0/"><info><credit><name>Ann</name></credit>'
          "<desc>Short description.</desc></info><title>Title</title><p>Press "
          "<keyseq><key>Ctrl</key><key>C</key></keyseq> to copy.</p><screen>ls</screen></page>")
  assert documents.mallard_blocks(page.encode()) == ["Short description.", "Title",
                                                     "Press Ctrl+C to copy."]
  with pytest.raises(catalogs.L10nFormatError, match="x.page: malformed"):
    documents.mallard_blocks(b"<page><p>unclosed", "x.page")


def test_kde_cache_pages():
  import bz2
  data = bz2.compress(b'<FILENAME filename="index.html"><p>A</p></FILENAME>'
                      b'<FILENAME filename="b.html"><p>B</p></FILENAME>')
  assert documents.kde_cache_pages(data) == {"index.html": "<p>A</p>", "b.html": "<p>B</p>"}


def test_split_sentences_respects_abbreviations():
  text = "Open the file, e.g. a text. Then save it! Klicken Sie z. B. hier. Done"
  assert alignment.split_sentences(text) == ["Open the file, e.g. a text.", "Then save it!",
                                             "Klicken Sie z. B. hier.", "Done"]


def test_gale_church_aligns_one_to_one_and_merges():
  beads = alignment.gale_church([20, 30, 40, 25], [22, 31, 15, 44, 12, 14], ratio=1.0)
  assert beads == [((0,), (0,)), ((1,), (1,)), ((2,), (2, 3)), ((3,), (4, 5))]
  assert alignment.gale_church([50, 10], [], ratio=1.0) == [((0,), ()), ((1,), ())]
  long = list(range(10, 400, 3))  # long documents use a band around the diagonal
  assert alignment.gale_church(long, [2 * x for x in long]) == [
      ((i,), (i,)) for i in range(len(long))]


def test_align_blocks_pairs_sentences_and_rejects_resorted_lists():
  en = ["The first paragraph is here. It has two sentences.", "Short heading text",
        "A third block of text with more words in it."]
  de = ["Der erste Absatz steht hier. Er hat zwei Sätze.", "Kurzer Überschriftentext",
        "Ein dritter Textblock mit mehr Wörtern darin."]
  assert alignment.align_blocks(en, de) == [
      ("The first paragraph is here.", "Der erste Absatz steht hier."),
      ("It has two sentences.", "Er hat zwei Sätze."), (en[1], de[1]), (en[2], de[2])]
  # An index sorted differently in each language: lengths match, content does not.
  names = "Alpha Bravo Delta Hotel India Oscar Romeo Sugar Tango Vodka Whisk Zebra".split()
  index_en = [f"Layer mode {n}" for n in names]
  index_de = [f"Ebenenmodus {n}" for n in names]
  assert len(alignment.align_blocks(index_en, index_de, min_anchor_share=0.3)) == 12
  assert len(alignment.align_blocks(index_en, index_de[::-1])) == 12  # lengths alone are fooled
  assert alignment.align_blocks(index_en, index_de[::-1], min_anchor_share=0.3) == []
  # Few shared words but lengths that track each other: a normal, fully translated page.
  varied_en = [" ".join(["word"] * k) for k in range(1, 11)]
  varied_de = [" ".join(["Wort"] * k) for k in range(1, 11)]
  assert len(alignment.align_blocks(varied_en, varied_de, min_anchor_share=0.3)) == 10


# ----------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize("raw, expected", [
    ("_Open the File", "Open the File"),
    ("&Save the document", "Save the document"),
    ("Save ~As new file", "Save As new file"),
    ("Q&A and R&D", "Q&A and R&D"),
    ("Fish && Chips &now", "Fish & Chips now"),
    ("<b>Bold</b> and <a href='x'>link</a> text", "Bold and link text"),
    ("Press <Ctrl> key &amp; more", "Press <Ctrl> key & more"),
    ("expected %<;%> here", "expected ‘;’ here"),
])
def test_normalize(raw, expected):
  assert cleaning.normalize(raw) == expected


def test_normalize_pair_conventions():
  assert cleaning.clean_pair("Set the default_value option",
                             "Setze die Option default_value") is None
  assert cleaning.clean_pair("Save _As a new file", "Speichern _unter als neue Datei") == (
      "Save As a new file", "Speichern unter als neue Datei")
  assert cleaning.normalize_pair("Persian month|Khordad", "Chordād") == ("Khordad", "Chordād")
  assert cleaning.normalize_pair("More Languages ...|M", "Weitere Sprachen ...|W") == (
      "More Languages ...", "Weitere Sprachen ...")
  assert cleaning.normalize_pair("12.1.2. Setting up RAID", "12.1.2. RAID einrichten") == (
      "Setting up RAID", "RAID einrichten")


@pytest.mark.parametrize("en, tgt, context, reason", [
    ("Open the selected file", "Ausgewählte Datei öffnen", "", None),
    ("", "Leer", "", "empty"),
    ("First line\nsecond line", "Erste Zeile\nzweite Zeile", "", "multiline"),
    ("Your names", "Max Mustermann", "NAME OF TRANSLATORS", "credits"),
    ("translator-credits", "Max Mustermann", "", "credits"),
    ("Visit https://example.org for help", "Besuchen Sie https://example.org", "", "url"),
    ("Mail me at bob@example.org now", "Schreib an bob@example.org jetzt", "", "url"),
    ("Cannot open file %s now", "Kann Datei %s nicht öffnen", "", "placeholder"),
    ("Loading {0} of many files", "Lade {0} von vielen Dateien", "", "placeholder"),
    ("Copy %1 to the folder", "Kopiere %1 in den Ordner", "", "placeholder"),
    ("Set the $HOME variable now", "Setze jetzt die Variable $HOME", "", "placeholder"),
    ("Died %(date)s in town", "Starb %(date)s in der Stadt", "", "placeholder"),
    ("Save", "Speichern", "", "words"),
    (" ".join(["word"] * 51), " ".join(["Wort"] * 51), "", "words"),
    ("[1, 2] + (3) = 42 !!", "[1, 2] + (3) = 42 !!", "", "symbols"),
    ("Set the default_value option", "Setze die default_value Option", "", "code"),
    ("Open the File!", "open the file", "", "untranslated"),
    ("Show 3 recent files", "Zeige 4 letzte Dateien", "", "numbers"),
    ("Add a new item", "Fügt einen neuen Eintrag zur Liste hinzu, wenn Sie auf die Schaltfläche "
     "klicken und den Dialog bestätigen", "", "ratio"),
])
def test_reject_reason(en, tgt, context, reason):
  assert cleaning.reject_reason(en, tgt, context) == reason


def test_numbers_ignore_decimal_separator_and_order():
  assert cleaning.reject_reason("Scale by 0.5 then 2 times", "2-mal, dann um 0,5 skalieren") is None


# ----------------------------------------------------------------------------- dedup / split


def _p(en, tgt, package="pkg"):
  return extract.Pair(en, tgt, package, "mo")


def test_dedup_keeps_most_frequent_translation_independent_of_order():
  pairs = [_p("Open File", "Datei öffnen", "b"), _p("open file.", "Öffne Datei", "a"),
           _p("Open file", "Datei öffnen", "a"), _p("Close all", "Alle schließen", "c")]
  expected = [_p("Close all", "Alle schließen", "c"), _p("Open File", "Datei öffnen", "b")]
  # The tie between the two English spellings goes to the smaller string ("Open File").
  assert split_lib.dedup(pairs) == expected
  assert split_lib.dedup(pairs[::-1]) == expected


def test_split_is_deterministic_and_disjoint():
  pairs = [_p(en, tgt) for en, tgt in fx.sentences("de", 0, 300)]
  splits = split_lib.split_pairs(pairs, 10, 10, "s", held_out_fraction=0.2)
  assert [len(splits[s]) for s in ("test", "validation")] == [10, 10]
  assert splits == split_lib.split_pairs(list(reversed(pairs)), 10, 10, "s", 0.2)
  keys = [{p.en for p in split} for split in splits.values()]
  assert len(set.union(*keys)) == sum(map(len, keys))
  # The candidates beyond test + validation (hash below 0.2) are left out, not trained on.
  assert 300 * 0.1 < 300 - len(keys[0] | keys[1] | keys[2]) < 300 * 0.3
  assert split_lib.split_pairs(pairs, 10, 10, "other", 0.2)["test"] != splits["test"]


def test_split_shares_few_candidates_and_never_leaves_a_split_empty():
  pairs = [_p(en, tgt) for en, tgt in fx.sentences("de", 0, 100)]
  splits = split_lib.split_pairs(pairs, 1000, 1000, "s", held_out_fraction=0.1)
  assert 0 < len(splits["test"]) - len(splits["validation"]) + 1 <= 2  # shared evenly
  assert len(splits["train"]) + len(splits["test"]) + len(splits["validation"]) == 100
  tiny = split_lib.split_pairs(pairs[:3], 1000, 1000, "s", held_out_fraction=0.0001)
  assert [len(tiny[s]) for s in ("train", "validation", "test")] == [1, 1, 1]


@pytest.mark.parametrize("salt", [str(i) for i in range(20)])
def test_split_stable_when_packages_are_added_or_removed(salt):
  base = [_p(en, tgt, "old") for en, tgt in fx.sentences("de", 0, 250)]
  new = [_p(en, tgt, "new") for en, tgt in fx.sentences("de", 250, 100)]
  before = split_lib.split_pairs(base, 8, 8, salt, held_out_fraction=0.1)
  after = split_lib.split_pairs(base + new, 8, 8, salt, held_out_fraction=0.1)
  ens = {name: {p.en for p in split} for name, split in before.items()}
  ens_after = {name: {p.en for p in split} for name, split in after.items()}
  assert ens["train"] == ens_after["train"] - {p.en for p in new}  # train never changes
  assert not (ens["test"] | ens["validation"]) & ens_after["train"]
  assert not ens["validation"] & ens_after["test"]  # test only loses strings


# ----------------------------------------------------------------------------- package trees


def test_tar_patterns_and_find_jobs(tmp_path):
  patterns = extract.tar_patterns("de")
  assert "*/de/LC_MESSAGES/*.mo" in patterns
  assert "*usr/share/libreoffice/help/en-US/*.html" in patterns
  trees = fx.make_trees(str(tmp_path), "de")
  jobs = extract.find_jobs(trees, "de")
  by_origin = {(j.origin, j.package) for j in jobs}
  assert by_origin == {("mo", "app-data"), ("mo", "broken-data"), ("qm", "qtapp"),
                       ("qm", "broken-data"), ("lohelp", "office-help-de"),
                       ("mallard", "user-docs")}
  lohelp = next(j for j in jobs if j.origin == "lohelp")
  assert lohelp.en_path.endswith("help/en-US/text/shared/x.html")
  assert extract.find_jobs(trees, "fr") == []


def test_extract_tree_pairs_cleans_and_skips_corrupt_files(tmp_path, caplog):
  trees = fx.make_trees(str(tmp_path), "de", count=60)
  with caplog.at_level(logging.WARNING):
    pairs, stats = extract.extract_tree_pairs(trees, "de")
  assert "b.mo" in caplog.text and "b_de.qm" in caplog.text
  assert stats["bad_file"] == 2
  got = {(p.en, p.tgt, p.package) for p in pairs}
  good = fx.sentences("de", 0, 60)
  assert (good[0][0], good[0][1], "app-data") in got
  assert (good[40][0], good[40][1], "app-data") in got  # _accelerator + msgctxt
  assert (good[41][0], good[41][1], "qtapp") in got  # &accelerator in .qm
  assert (good[44][0], good[44][1], "office-help-de") in got
  assert (good[48][0] + ".", good[48][1] + ".", "user-docs") in got
  assert ("Smiley face 😀 here", "Smiley-Gesicht 😀 hier", "qtapp") in got
  assert not any("Mustermann" in p.tgt or "%" in p.en or "Copied" in p.en for p in pairs)
  for reason in ("credits", "placeholder", "url", "multiline", "untranslated", "numbers", "words"):
    assert stats[reason] >= 1, reason


# ----------------------------------------------------------------------------- apt / dpkg


@needs_dpkg
def test_unpack_deb_extracts_only_needed_files_and_caches(tmp_path, monkeypatch, caplog):
  tree = tmp_path / "src" / "app-data"
  fx.write_mo(str(tree / "usr/share/locale/de/LC_MESSAGES/app.mo"),
              [{"msgid": "Open the file", "msgstr": "Datei öffnen"}])
  fx.write_mo(str(tree / "usr/share/locale/fr/LC_MESSAGES/app.mo"),
              [{"msgid": "Open the file", "msgstr": "Ouvrir le fichier"}])
  fx.write_file(str(tree / "usr/bin/app"), b"#!/bin/sh\n")
  deb = fx.build_deb(str(tree), str(tmp_path), "app-data")
  dest = str(tmp_path / "out")
  assert debs.unpack_deb(deb, dest, extract.tar_patterns("de"))
  files = sorted(os.path.relpath(os.path.join(d, f), dest) for d, _, fs in os.walk(dest)
                 for f in fs)
  assert files == [".software_l10n_unpacked", "usr/share/locale/de/LC_MESSAGES/app.mo"]
  calls = []
  monkeypatch.setattr(debs.subprocess, "Popen", lambda *a, **k: calls.append(a))
  assert debs.unpack_deb(deb, dest, extract.tar_patterns("de"))  # cached: no dpkg-deb
  assert not calls
  monkeypatch.undo()
  bad = tmp_path / "bad_1_all.deb"
  bad.write_bytes(b"!<arch>\nnot really a deb")
  with caplog.at_level(logging.WARNING):
    assert not debs.unpack_deb(str(bad), str(tmp_path / "bad"), ["*.mo"])
  assert "bad_1_all.deb" in caplog.text


def _fake_apt(known, log):
  """A stand-in for subprocess.run that behaves like `apt-get download` for `known` names."""
  def run(cmd, cwd=None, **kwargs):
    log.append(cmd)
    names = [c for c in cmd[2:] if not c.startswith("-") and "::" not in c]
    unknown = [n for n in names if n not in known]
    if unknown:
      return subprocess.CompletedProcess(cmd, 100, "",
                                         f"E: Unable to locate package {unknown[0]}\n")
    for n in names:
      open(os.path.join(cwd, f"{n}_1.0_all.deb"), "wb").close()
    return subprocess.CompletedProcess(cmd, 0, "", "")
  return run


def test_apt_download_skips_unknown_and_reuses_cache(tmp_path, monkeypatch, caplog):
  calls = []
  monkeypatch.setattr(debs.shutil, "which", lambda tool: "/usr/bin/" + tool)
  monkeypatch.setattr(debs.glob, "glob", _glob_with_apt_lists(debs.glob.glob))
  monkeypatch.setattr(debs, "_apt_update", lambda: calls.append(["update"]))
  monkeypatch.setattr(debs.subprocess, "run", _fake_apt({"a", "b", "c"}, calls))
  with caplog.at_level(logging.WARNING):
    got = debs.apt_download(["a", "b", "c", "zz"], tmp_path)
  assert sorted(got) == ["a", "b", "c"]
  assert "zz" in caplog.text
  assert ["update"] in calls  # an unknown name triggers one refresh of the lists
  calls.clear()
  assert debs.apt_download(["a", "b", "zz"], tmp_path).keys() == {"a", "b"}
  assert all("a" not in c for c in calls)  # already downloaded
  with pytest.raises(RuntimeError, match="only 0 of 2 packages"):
    debs.apt_download(["x", "y"], tmp_path / "other")


def _glob_with_apt_lists(real_glob):
  return lambda pattern: ["lists"] if pattern.startswith("/var/lib/apt/") else real_glob(pattern)


def test_apt_get_missing_is_clear_error(tmp_path, monkeypatch):
  monkeypatch.setattr(debs.shutil, "which", lambda tool: None)
  with pytest.raises(RuntimeError, match="apt-get not found.*source_dir"):
    debs.apt_download(["a"], tmp_path)


def test_package_lists():
  full, small = packages.package_names("de"), packages.package_names("fr", small=True)
  assert len(full) > 250 and "libreoffice-help-de" in full and "libreoffice-help-en-us" in full
  assert 20 <= len(small) <= 60 and "libreoffice-help-fr" in small
  assert not any("{" in n for n in full + small)
  with pytest.raises(ValueError, match="unsupported target language 'xx'"):
    packages.package_names("xx")


# ----------------------------------------------------------------------------- builder


def _read_split(name, data_dir, split):
  ds = tfds.data_source(name, data_dir=data_dir, split=split)
  return [{k: v.decode() for k, v in ds[i].items()} for i in range(len(ds))]


@needs_dpkg
def test_builder_end_to_end_from_debs(tmp_path):
  trees = fx.make_trees(str(tmp_path / "trees"), "de", count=80)
  debs = tmp_path / "debs"
  debs.mkdir()
  for name, tree in trees.items():
    fx.build_deb(tree, str(debs), name)
  data_dir = str(tmp_path / "data")
  builder = tfds.builder("software_l10n/en-de-small", data_dir=data_dir, source_dir=str(debs))
  builder.download_and_prepare(file_format="array_record")
  splits = {s: _read_split("software_l10n/en-de-small", data_dir, s)
            for s in ("train", "validation", "test")}
  assert all(splits.values())
  rows = [r for split in splits.values() for r in split]
  assert set(rows[0]) == {"en", "de", "package"}
  got = {(r["en"], r["de"], r["package"]) for r in rows}
  good = fx.sentences("de", 0, 80)
  assert (good[0][0], good[0][1], "app-data") in got
  assert (good[64][0], good[64][1], "office-help-de") in got
  assert len({r["en"] for r in rows}) == len(rows)
  assert builder.info.splits["train"].num_examples == len(splits["train"])
  # Deterministic: a second build gives the same data in the same order.
  data_dir2 = str(tmp_path / "data2")
  tfds.builder("software_l10n/en-de-small", data_dir=data_dir2,
               source_dir=str(debs)).download_and_prepare(file_format="array_record")
  assert _read_split("software_l10n/en-de-small", data_dir2, "test") == splits["test"]


def test_builder_from_unpacked_trees_in_manual_dir(tmp_path):
  manual = tmp_path / "manual"
  fx.make_trees(str(manual), "fr", count=60)
  data_dir = str(tmp_path / "data")
  builder = tfds.builder("software_l10n/en-fr", data_dir=data_dir)
  builder.download_and_prepare(
      file_format="array_record",
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  rows = _read_split("software_l10n/en-fr", data_dir, "train")
  en, fr = fx.sentences("fr", 0, 60)[0]
  assert {"en": en, "fr": fr, "package": "app-data"} in rows


def test_builder_errors(tmp_path):
  with pytest.raises(ValueError, match="en-xx"):
    tfds.builder("software_l10n/en-xx", data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="unsupported target language 'es'"):
    builder.SoftwareL10n(data_dir=str(tmp_path), config=builder.SoftwareL10nConfig(
        name="en-es", lang="es"))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match=f"no .deb files .* found in {re.escape(str(empty))}"):
    tfds.builder("software_l10n/en-de", data_dir=str(tmp_path / "d1"),
                 source_dir=str(empty)).download_and_prepare(file_format="array_record")
  fx.make_trees(str(tmp_path / "german"), "de", count=40)
  with pytest.raises(RuntimeError, match="0 sentence pairs extracted from 6 packages"):
    tfds.builder("software_l10n/en-fr", data_dir=str(tmp_path / "d2"),
                 source_dir=str(tmp_path / "german")).download_and_prepare(
                     file_format="array_record")

"""Small generated inputs for the software_l10n builder tests: .mo, .qm, help pages, .debs.

Everything is written from scratch by the tests (polib for .mo, the writer below for .qm,
string templates for documents, ``dpkg-deb --build`` for packages); nothing is downloaded.
"""
import os
import struct
import subprocess

import polib

# A tiny English→German/French lexicon; sentences are built word by word so that every
# generated pair is distinct, at least three words long and clearly "translated".
VERBS = {"open": ("öffne", "ouvre"), "save": ("speichere", "enregistre"),
         "close": ("schließe", "ferme"), "print": ("drucke", "imprime"),
         "delete": ("lösche", "supprime"), "rename": ("benenne", "renomme"),
         "copy": ("kopiere", "copie"), "move": ("verschiebe", "déplace")}
ADJECTIVES = {"selected": ("ausgewählte", "sélectionné"), "current": ("aktuelle", "actuel"),
              "new": ("neue", "nouveau"), "hidden": ("versteckte", "caché"),
              "shared": ("geteilte", "partagé"), "empty": ("leere", "vide")}
NOUNS = {"file": ("Datei", "fichier"), "folder": ("Ordner", "dossier"),
         "window": ("Fenster", "fenêtre"), "document": ("Dokument", "document"),
         "picture": ("Bild", "image"), "account": ("Konto", "compte"),
         "calendar": ("Kalender", "calendrier"), "message": ("Nachricht", "courriel")}
ARTICLE = {"de": "die", "fr": "le"}


def sentences(lang, start, count):
  """``count`` distinct (English, translation) pairs, numbered from ``start``."""
  combos = [(v, a, n) for v in sorted(VERBS) for a in sorted(ADJECTIVES) for n in sorted(NOUNS)]
  index = 1 if lang == "fr" else 0
  out = []
  for v, a, n in combos[start:start + count]:
    en = f"{v.capitalize()} the {a} {n}"
    tgt = f"{VERBS[v][index].capitalize()} {ARTICLE[lang]} {ADJECTIVES[a][index]} {NOUNS[n][index]}"
    out.append((en, tgt))
  return out


def write_mo(path, entries, header=True):
  """Writes a gettext catalog; ``entries`` are polib.POEntry keyword dicts."""
  po = polib.POFile()
  if header:
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": "de"}
  for kwargs in entries:
    po.append(polib.POEntry(**kwargs))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  po.save_as_mofile(path)


def _elf_hash(data: bytes) -> int:
  h = 0
  for byte in data:
    h = ((h << 4) + byte) & 0xFFFFFFFF
    g = h & 0xF0000000
    if g:
      h ^= g >> 24
    h &= ~g & 0xFFFFFFFF
  return h or 1


def qm_bytes(messages, language="de"):
  """A Qt .qm file in lrelease's layout.

  ``messages`` are (context, source, translations, comment) tuples; ``translations`` is a
  list (plural forms) whose items may be None for a null (unfinished) form. Each message is
  written as Tag_Translation* Tag_Comment Tag_SourceText Tag_Context Tag_End, and the file
  holds the Language, Hashes and Messages blocks behind the magic.
  """
  body, offsets = b"", []
  for context, source, translations, comment in messages:
    offsets.append((_elf_hash(source.encode() + comment.encode()), len(body)))
    for t in translations:
      if t is None:
        body += b"\x03" + struct.pack(">I", 0xFFFFFFFF)
      else:
        data = t.encode("utf-16-be")
        body += b"\x03" + struct.pack(">I", len(data)) + data
    for tag, text in ((8, comment), (6, source), (7, context)):
      data = text.encode("utf-8")
      body += bytes([tag]) + struct.pack(">I", len(data)) + data
    body += b"\x01"
  hashes = b"".join(struct.pack(">II", h, o) for h, o in sorted(offsets))
  lang = language.encode()
  blocks = [(0xA7, lang), (0x42, hashes), (0x69, body)]
  return bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd") + b"".join(
      bytes([tag]) + struct.pack(">I", len(data)) + data for tag, data in blocks)


def write_file(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb" if isinstance(data, bytes) else "w", **(
      {} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
    f.write(data)


def lohelp_html(lang, paragraphs):
  """A LibreOffice help page: ``paragraphs`` maps a par_id to its text; the page also has a
  platform switch (MAC variant hidden, default kept) like the real ones."""
  body = "".join(f'<p id="{pid}" class="paragraph" dir="auto">{text}</p>\n'
                 for pid, text in paragraphs.items())
  return (f'<!DOCTYPE html><html lang="{lang}"><head><title>T</title>'
          f'<script>var x = "<p>";</script></head><body><div id="DisplayArea">'
          f'<h1 id="hd_id1" dir="auto">Heading</h1>{body}'
          f'<p id="par_id99" class="paragraph"><span class="switchinline">'
          f'<span hidden="true" id="MACtext_1">Command</span>'
          f'<span hidden="true" id="defaulttext_1">Ctrl</span></span>+O</p>'
          f'<br><img src="x.png"></div></body></html>')


def mallard_page(lang, blocks):
  paras = "".join(f"<p>{b}</p>" for b in blocks)
  return (f'<?xml version="1.0" encoding="utf-8"?>\n<page xmlns="http://projectmallard.org/1.0/"'
          f' type="topic" id="t" xml:lang="{lang}"><info><credit type="author"><name>A. Writer'
          f"</name></credit></info><title>{blocks[0]}</title>{paras}"
          f"<code>ls -l /tmp</code></page>")


def html_page(blocks):
  paras = "".join(f"<p>{b}</p>\n" for b in blocks)
  return (f"<html><head><title>x</title><style>p {{}}</style></head><body><div>{paras}</div>"
          f"<pre>some code here</pre></body></html>")


def make_trees(root, lang="de", first=0, count=60, extra_package=None):
  """Unpacked package trees ``root/<package>/usr/...`` with catalogs and manuals.

  * ``app-data``: a .mo with ``count`` good messages plus one of each kind the cleaner drops;
  * ``qtapp``: a .qm with plural, context and unfinished messages;
  * ``office-help-en-us`` / ``office-help-<lang>``: LibreOffice help pages matched by id;
  * ``user-docs``: a Mallard page in C and ``lang``;
  * ``broken-data``: a corrupt .mo and .qm, which must be skipped with a warning.

  ``extra_package=(name, first, count)`` adds one more .mo package (to test split stability).
  Returns {package: tree dir}.
  """
  good = sentences(lang, first, count)
  entries = [{"msgid": en, "msgstr": tgt} for en, tgt in good[:count - 20]]
  entries += [
      {"msgid": "Your names", "msgstr": "Max Mustermann", "msgctxt": "NAME OF TRANSLATORS"},
      {"msgid": "translator-credits", "msgstr": "Max Mustermann <max@example.org>"},
      {"msgid": "Cannot open %s for reading", "msgstr": "Kann %s nicht zum Lesen öffnen"},
      {"msgid": "See https://example.org for details", "msgstr": "Siehe https://example.org"},
      {"msgid": "First line of text\nSecond line", "msgstr": "Erste Zeile\nZweite Zeile"},
      {"msgid": "Untranslated entry here", "msgstr": ""},
      {"msgid": "Copied untranslated entry", "msgstr": "Copied untranslated entry"},
      {"msgid": "Show 3 recent files", "msgstr": "Zeige 4 letzte Dateien"},
      {"msgid": "Save", "msgstr": "Speichern"},
      {"msgid": "Delete %d selected file", "msgid_plural": "Delete %d selected files",
       "msgstr_plural": {0: "%d Datei löschen", 1: "%d Dateien löschen"}},
  ]
  en, tgt = good[count - 20]
  entries.append({"msgid": "_" + en, "msgstr": "_" + tgt, "msgctxt": "menu"})
  trees = {}

  def tree(name):
    trees[name] = os.path.join(root, name)
    return trees[name]

  write_mo(os.path.join(tree("app-data"), f"usr/share/locale/{lang}/LC_MESSAGES/app.mo"), entries)
  qm = [("MainWindow", "&" + good[count - 19][0], ["&" + good[count - 19][1]], ""),
        ("Dialog", good[count - 18][0], [good[count - 18][1], "plural form"], "a comment"),
        ("Dialog", good[count - 17][0], [None], ""),
        ("Dialog", "Smiley face 😀 here", ["Smiley-Gesicht 😀 hier"], "")]
  write_file(os.path.join(tree("qtapp"), f"usr/share/qtapp/translations/qtapp_{lang}.qm"),
             qm_bytes(qm, lang))
  lo_en = {f"par_id{i}": good[count - 16 + i][0] for i in range(4)}
  lo_tgt = {f"par_id{i}": good[count - 16 + i][1] for i in range(4)}
  lo_lang = "en-US"
  write_file(os.path.join(tree("office-help-en-us"),
                          f"usr/share/libreoffice/help/{lo_lang}/text/shared/x.html"),
             lohelp_html("en-US", lo_en))
  write_file(os.path.join(tree(f"office-help-{lang}"),
                          f"usr/share/libreoffice/help/{lang}/text/shared/x.html"),
             lohelp_html(lang, lo_tgt))
  page_en = [good[count - 12 + i][0] + "." for i in range(6)]
  page_tgt = [good[count - 12 + i][1] + "." for i in range(6)]
  write_file(os.path.join(tree("user-docs"), "usr/share/help/C/app/t.page"),
             mallard_page("C", page_en))
  write_file(os.path.join(tree("user-docs"), f"usr/share/help/{lang}/app/t.page"),
             mallard_page(lang, page_tgt))
  write_file(os.path.join(tree("broken-data"), f"usr/share/locale/{lang}/LC_MESSAGES/b.mo"),
             b"\xde\x12\x04\x95garbage")
  write_file(os.path.join(tree("broken-data"), f"usr/share/b/b_{lang}.qm"), b"not a qm file")
  if extra_package:
    name, start, n = extra_package
    write_mo(os.path.join(tree(name), f"usr/share/locale/{lang}/LC_MESSAGES/{name}.mo"),
             [{"msgid": e, "msgstr": t} for e, t in sentences(lang, start, n)])
  return trees


def build_deb(tree, out_dir, package, version="1.0-1"):
  """Packs an unpacked tree into ``out_dir/<package>_<version>_all.deb`` with dpkg-deb."""
  control = os.path.join(tree, "DEBIAN", "control")
  write_file(control, f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
                      f"Maintainer: Test <test@example.org>\nDescription: test package\n")
  out = os.path.join(out_dir, f"{package}_{version}_all.deb")
  subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", tree, out],
                 check=True, capture_output=True)
  os.remove(control)
  os.rmdir(os.path.dirname(control))
  return out

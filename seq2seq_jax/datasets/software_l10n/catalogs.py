"""Parsers for compiled message catalogs: gettext ``.mo`` and Qt ``.qm``.

Both formats hold the English source text next to its translation, so every translated
message is a candidate sentence pair (:class:`CatalogEntry`). Together they are the bulk of
the corpus.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterable
from typing import NamedTuple


class L10nFormatError(ValueError):
  """A catalog or document that cannot be parsed; the message names the file and the problem."""


class CatalogEntry(NamedTuple):
  """One translated message of a .mo/.qm catalog (first plural form only)."""

  context: str
  source: str
  translation: str


# ----------------------------------------------------------------------------- gettext .mo

_MO_MAGIC = 0x950412DE


def parse_mo(data: bytes, name: str = "<mo>") -> list[CatalogEntry]:
  """Parses a compiled gettext catalog.

  Written with ``struct`` rather than polib because it is ~10x faster on the thousands of
  catalogs a full build reads and lets a corrupt file fail with an error naming the file.
  The header entry (empty msgid) and untranslated entries are dropped, ``msgctxt`` is split
  off into ``context``, and of plural entries only the singular msgid and first msgstr form
  are kept. (Fuzzy entries never reach a .mo unless it was built with ``--use-fuzzy``.)
  """
  if len(data) < 20:
    raise L10nFormatError(f"{name}: not a gettext .mo file (only {len(data)} bytes)")
  if struct.unpack("<I", data[:4])[0] == _MO_MAGIC:
    order = "<"
  elif struct.unpack(">I", data[:4])[0] == _MO_MAGIC:
    order = ">"
  else:
    raise L10nFormatError(f"{name}: not a gettext .mo file (bad magic {data[:4].hex()})")
  revision, count, orig_table, trans_table = struct.unpack(order + "4I", data[4:20])
  if revision >> 16 > 1:
    raise L10nFormatError(f"{name}: unsupported .mo major revision {revision >> 16}")

  def string_at(table: int, index: int) -> bytes:
    at = table + 8 * index
    if at + 8 > len(data):
      raise L10nFormatError(f"{name}: truncated .mo string table (entry {index})")
    length, offset = struct.unpack_from(order + "2I", data, at)
    if offset + length > len(data):
      raise L10nFormatError(f"{name}: .mo string {index} points past the end of the file")
    return data[offset:offset + length]

  raw = [(string_at(orig_table, i), string_at(trans_table, i)) for i in range(count)]
  charset = "utf-8"
  for msgid, msgstr in raw:
    if msgid == b"":
      match = re.search(rb"charset=([\w.:-]+)", msgstr)
      if match:
        charset = _codec_or_utf8(match.group(1).decode("ascii"))
  entries = []
  for msgid, msgstr in raw:
    if not msgid:
      continue
    context, _, msgid = msgid.rpartition(b"\x04")
    msgstr = msgstr.split(b"\0", 1)[0]
    if not msgstr:
      continue
    try:
      entries.append(CatalogEntry(context.decode(charset), msgid.split(b"\0", 1)[0].decode(charset),
                                  msgstr.decode(charset)))
    except UnicodeDecodeError:
      continue  # one badly encoded message is not worth losing the catalog for
  return entries


def _codec_or_utf8(charset: str) -> str:
  try:
    return codecs.lookup(charset).name
  except LookupError:  # e.g. the template placeholder 'CHARSET'
    return "utf-8"


# ----------------------------------------------------------------------------- Qt .qm

QM_MAGIC = bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd")
# Top-level blocks are tag byte, big-endian uint32 length, payload (qtbase qtranslator.cpp):
# Contexts 0x2f, Hashes 0x42, Messages 0x69, NumerusRules 0x88, Dependencies 0x96,
# Language 0xa7. Only Messages matters here: it holds every message in full.
QM_BLOCK_MESSAGES = 0x69
# Tags inside one message of the Messages block (qttools linguist/shared/qm.cpp).
QM_TAG_END, QM_TAG_SOURCE16, QM_TAG_TRANSLATION, QM_TAG_CONTEXT16 = 1, 2, 3, 4
QM_TAG_OBSOLETE1, QM_TAG_SOURCE, QM_TAG_CONTEXT, QM_TAG_COMMENT = 5, 6, 7, 8


def parse_qm(data: bytes, name: str = "<qm>") -> list[CatalogEntry]:
  """Parses a compiled Qt Linguist catalog.

  A .qm file is the 16-byte magic followed by blocks ``tag(1) len(4, BE) payload``. The
  Messages block is a run of messages, each a sequence of tagged fields ending in
  ``Tag_End``: translations (one per plural form) are UTF-16BE, source text, context and
  comment are UTF-8, all length-prefixed; ``Tag_Obsolete1`` is followed by 4 bytes; a
  translation length of 0xFFFFFFFF means a null string. lrelease writes the source text
  unless the catalog was built stripped, in which case the message is useless here and
  skipped. Only the first plural form is kept.
  """
  if not data.startswith(QM_MAGIC):
    raise L10nFormatError(f"{name}: not a Qt .qm file (bad magic {data[:16].hex()})")
  pos, messages = len(QM_MAGIC), b""
  while pos < len(data):
    if pos + 5 > len(data):
      raise L10nFormatError(f"{name}: truncated .qm block header at offset {pos}")
    tag, length = data[pos], struct.unpack_from(">I", data, pos + 1)[0]
    pos += 5
    if pos + length > len(data):
      raise L10nFormatError(f"{name}: .qm block 0x{tag:02x} at offset {pos - 5} runs past the end")
    if tag == QM_BLOCK_MESSAGES:
      messages = data[pos:pos + length]
    pos += length
  return list(_qm_messages(messages, name))


def _qm_messages(block: bytes, name: str) -> Iterable[CatalogEntry]:
  pos = 0
  while pos < len(block):
    translations, source, context = [], None, ""
    while True:
      if pos >= len(block):
        raise L10nFormatError(f"{name}: .qm message without end tag at offset {pos}")
      tag = block[pos]
      pos += 1
      if tag == QM_TAG_END:
        break
      if tag == QM_TAG_OBSOLETE1:
        pos += 4
        continue
      if tag not in (QM_TAG_SOURCE16, QM_TAG_TRANSLATION, QM_TAG_CONTEXT16, QM_TAG_SOURCE,
                     QM_TAG_CONTEXT, QM_TAG_COMMENT):
        raise L10nFormatError(f"{name}: unknown .qm message tag 0x{tag:02x} at offset {pos - 1}")
      if pos + 4 > len(block):
        raise L10nFormatError(f"{name}: truncated .qm field at offset {pos}")
      length = struct.unpack_from(">I", block, pos)[0]
      pos += 4
      if tag == QM_TAG_TRANSLATION and length == 0xFFFFFFFF:
        translations.append("")
        continue
      if pos + length > len(block):
        raise L10nFormatError(f"{name}: .qm field at offset {pos - 5} runs past the end")
      payload = block[pos:pos + length]
      pos += length
      utf16 = tag in (QM_TAG_SOURCE16, QM_TAG_TRANSLATION, QM_TAG_CONTEXT16)
      if utf16 and length % 2:
        raise L10nFormatError(f"{name}: odd-length UTF-16 field at offset {pos - length - 5}")
      text = payload.decode("utf-16-be" if utf16 else "utf-8", errors="replace")
      if tag == QM_TAG_TRANSLATION:
        translations.append(text)
      elif tag in (QM_TAG_SOURCE, QM_TAG_SOURCE16):
        source = text
      elif tag in (QM_TAG_CONTEXT, QM_TAG_CONTEXT16):
        context = text
    if source and translations and translations[0]:
      yield CatalogEntry(context, source, translations[0])

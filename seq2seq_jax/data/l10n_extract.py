"""Turn the localization files Debian packages ship into English–target sentence pairs.

Everything here is a pure function of bytes, strings or an already unpacked directory tree,
so each step can be tested on its own and the TFDS builder (``software_l10n.py``) only has to
fetch packages and call :func:`extract_tree_pairs`, :func:`dedup` and :func:`split_pairs`.

Sources, roughly by yield (see the corpus notes in the project docs):

* gettext ``.mo`` catalogs (msgid = English, msgstr = translation) -- the bulk;
* Qt ``.qm`` catalogs, which also carry the English source text;
* documentation shipped in two languages: LibreOffice help (paragraphs matched by ``id``),
  GNOME Mallard help, KDE handbooks, the GIMP manual and Debian's own manuals (blocks aligned
  with a length-based Gale–Church dynamic programme, then sentences inside aligned blocks).

Pairs are then normalised (accelerators, inline markup), filtered by the rules that mattered
for quality (:func:`reject_reason`), de-duplicated on the case/punctuation-folded English side
(:func:`dedup`) and split by a salted hash of that folded English (:func:`split_pairs`), so
that held-out strings never become training strings when packages are added or updated.
"""

from __future__ import annotations

import bz2
import codecs
import collections
import dataclasses
import hashlib
import html
import math
import multiprocessing
import os
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
from absl import logging


class L10nFormatError(ValueError):
  """A catalog or document that cannot be parsed; the message names the file and the problem."""


class CatalogEntry(NamedTuple):
  """One translated message of a .mo/.qm catalog (first plural form only)."""

  context: str
  source: str
  translation: str


class Pair(NamedTuple):
  """A candidate sentence pair and where it came from."""

  en: str
  tgt: str
  package: str
  origin: str  # "mo", "qm", "lohelp", "mallard", "kde", "html"


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


# ----------------------------------------------------------------------------- documents

_WS = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff\u00b6]")  # soft hyphen, ZW*, pilcrow


def squash(text: str) -> str:
  """Collapses all whitespace (newlines included) and drops invisible/pilcrow characters."""
  return _WS.sub(" ", _INVISIBLE.sub("", text)).strip()


_BLOCK_TAGS = frozenset(
    "address article aside blockquote body br caption dd div dl dt fieldset figcaption figure "
    "footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol option p section table tbody "
    "td tfoot th thead tr ul".split())
_SKIP_TAGS = frozenset("head script style pre noscript textarea select svg math".split())
_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split())


_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<[!?][^>]*>?"   # comments, doctype, PIs
    r'|<(/?)([a-zA-Z][\w:.-]*)((?:[^>"\']|"[^"]*"|\'[^\']*\')*)>'  # tags
    r"|([^<]+)|<", re.S)
_ID_ATTR = re.compile(r'(?:^|\s)id\s*=\s*["\']?([^"\'\s>]*)', re.I)
_HIDDEN_ATTR = re.compile(r"(?:^|\s)hidden\b", re.I)


def _html_events(text: str):
  """Tokenises HTML into ('start', tag, attributes text), ('end', tag) and ('text', str).

  A regex tokeniser instead of :mod:`html.parser`, which is several times slower on the
  ~10,000 help pages of a build. Content of script/style/head-like elements is skipped
  (it is never prose), and character references are decoded.
  """
  pos, size = 0, len(text)
  while pos < size:
    match = _TOKEN.match(text, pos)
    pos = match.end()
    closing, tag, attrs, data = match.groups()
    if tag:
      tag = tag.lower()
      if closing:
        yield "end", tag
        continue
      yield "start", tag, attrs
      if attrs.rstrip().endswith("/"):
        yield "end", tag
      elif tag in _SKIP_TAGS:
        close = re.compile(r"</%s\s*>" % re.escape(tag), re.I).search(text, pos)
        pos = close.end() if close else size
        yield "end", tag
    elif data is not None or match.group() == "<":
      data = data or "<"
      yield "text", html.unescape(data) if "&" in data else data


def html_blocks(text: str) -> list[str]:
  """Text blocks (paragraphs, headings, list items, cells) of an HTML page, in order: every
  block-level tag boundary ends the current block; head, scripts and ``<pre>`` are skipped."""
  blocks, buf = [], []
  for event in _html_events(text):
    if event[0] == "text":
      buf.append(event[1])
    elif event[1] in _BLOCK_TAGS or event[1] in _SKIP_TAGS:
      block = squash("".join(buf))
      if block:
        blocks.append(block)
      buf = []
  block = squash("".join(buf))
  return blocks + [block] if block else blocks


_LO_ID = re.compile(r"(?:par|hd)_id\w*$")


def lohelp_paragraphs(text: str) -> dict[str, str]:
  """Maps LibreOffice help paragraph ids (``par_id…``/``hd_id…``) to their text; the ids
  match across languages.

  Platform switches are rendered as hidden ``<span>``s; the ``default…`` variant is kept
  and the others (``MAC…``) skipped so the text reads as on Linux.
  """
  paragraphs: dict[str, str] = {}
  stack: list[tuple[str, str | None, bool]] = []  # (tag, captured id, hidden)
  buf: list[str] = []
  capturing = hidden_depth = 0
  for event in _html_events(text):
    kind, tag = event[0], event[1]
    if kind == "text":
      if capturing and not hidden_depth:
        buf.append(tag)
    elif kind == "start" and tag not in _VOID_TAGS:
      attrs = event[2]
      ident_match = _ID_ATTR.search(attrs) if "id" in attrs else None
      ident = ident_match.group(1) if ident_match else ""
      captured = ident if not capturing and _LO_ID.match(ident) else None
      hidden = bool(_HIDDEN_ATTR.search(attrs)) and not ident.startswith("default")
      if captured:
        buf, capturing = [], 1
      hidden_depth += hidden
      stack.append((tag, captured, hidden))
    elif kind == "end" and tag not in _VOID_TAGS and any(s[0] == tag for s in stack):
      while stack:  # tolerate unclosed inline tags
        open_tag, captured, hidden = stack.pop()
        hidden_depth -= hidden
        if captured:
          capturing = 0
          paragraph = squash("".join(buf))
          if paragraph:
            paragraphs[captured] = paragraph
        if open_tag == tag:
          break
  return paragraphs


_MALLARD_BLOCKS = frozenset("title subtitle desc p".split())
_MALLARD_SKIP = frozenset("credit license code screen synopsis comment media".split())
_MALLARD_SKIP_INLINE = frozenset(("comment", "media"))
_MALLARD_SEQUENCES = {"keyseq": "+", "guiseq": " ▸ "}


def mallard_blocks(data: bytes, name: str = "<page>") -> list[str]:
  """Text blocks of a GNOME Mallard ``.page``: titles, descriptions and paragraphs, in order.

  Translated pages are generated from the C page by itstool, so their block sequences
  match the original's and Gale–Church aligns them almost always one-to-one.
  """
  try:
    root = ET.fromstring(data)
  except ET.ParseError as err:
    raise L10nFormatError(f"{name}: malformed Mallard page ({err})") from err
  blocks = []

  def local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""

  def text_of(el) -> str:
    joiner = _MALLARD_SEQUENCES.get(local(el.tag))
    if joiner:  # <keyseq><key>Ctrl</key><key>C</key></keyseq> reads "Ctrl+C"
      return joiner.join(squash(text_of(child)) for child in el)
    parts = [el.text or ""]
    for child in el:
      if local(child.tag) not in _MALLARD_SKIP_INLINE:
        parts.append(text_of(child))
      parts.append(child.tail or "")
    return "".join(parts)

  def walk(el):
    tag = local(el.tag)
    if tag in _MALLARD_SKIP:
      return
    if tag in _MALLARD_BLOCKS:
      text = squash(text_of(el))
      if text:
        blocks.append(text)
      return
    for child in el:
      walk(child)

  walk(root)
  return blocks


_KDE_FILE = re.compile(r'<FILENAME filename="([^"]+)">(.*?)</FILENAME>', re.S)


def kde_cache_pages(data: bytes, name: str = "<index.cache.bz2>") -> dict[str, str]:
  """Splits a KDE handbook cache (``index.cache.bz2``: all HTML pages concatenated, each
  wrapped in ``<FILENAME filename=…>``) into {page file name: HTML}."""
  try:
    text = bz2.decompress(data).decode("utf-8", errors="replace")
  except (OSError, ValueError) as err:
    raise L10nFormatError(f"{name}: not a bzip2 KDE handbook cache ({err})") from err
  return {m.group(1): m.group(2) for m in _KDE_FILE.finditer(text)}


# Sentence boundary: end punctuation, space, then something that can start a sentence.
_SENT_BOUNDARY = re.compile(r'(?<=[.!?])\s+(?=["“„«(¿¡]?[A-ZÀ-ÝĀ-Ž0-9])')
_ABBREV = re.compile(
    r"(?:\b\w\.|\b(?:e\.g|i\.e|z\.\s?B|vgl|bzw|ca|Nr|Abb|ggf|evtl|inkl|bspw|usw|Mr|Mrs|Dr|St|"
    r"resp|env|approx|p\.ex|cf|fig|Fig|vs|No|Bd|Kap)\.)$")


def split_sentences(text: str) -> list[str]:
  """Splits a paragraph into sentences; no split after common abbreviations or initials."""
  sentences, start = [], 0
  for match in _SENT_BOUNDARY.finditer(text):
    if _ABBREV.search(text[start:match.start()]):
      continue
    sentences.append(text[start:match.start()].strip())
    start = match.end()
  sentences.append(text[start:].strip())
  return [s for s in sentences if s]


# Gale & Church (1993): bead priors and the variance of the length difference per character.
_BEAD_PRIORS = {(1, 1): 0.89, (1, 0): 0.0099 / 2, (0, 1): 0.0099 / 2, (2, 1): 0.089 / 2,
                (1, 2): 0.089 / 2, (2, 2): 0.011}
_BEAD_COST = {bead: -math.log(p) for bead, p in _BEAD_PRIORS.items()}
_BEADS = tuple(_BEAD_PRIORS)
_GC_VARIANCE = 6.8


def _length_cost(len_en, len_tgt, ratio: float):
  """-log P(length difference | same content), the Gale–Church length model.

  Works on numbers or numpy arrays. The two-sided normal tail erfc(z/√2) is computed in log
  space with the Abramowitz–Stegun 7.1.26 approximation (error < 2e-7), which neither
  underflows for very different lengths nor needs scipy.
  """
  len_en, len_tgt = np.asarray(len_en, float), np.asarray(len_tgt, float)
  mean = np.maximum((len_en + len_tgt / ratio) / 2, 1e-9)
  x = np.abs(ratio * len_en - len_tgt) / np.sqrt(_GC_VARIANCE * mean) / math.sqrt(2)
  t = 1 / (1 + 0.3275911 * x)
  poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                       + t * 1.061405429))))
  return x * x - np.log(poly)


def gale_church(en_lens: Sequence[int], tgt_lens: Sequence[int],
                ratio: float | None = None) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
  """Aligns two sequences of blocks by length (Gale & Church 1993).

  Returns the beads of the cheapest alignment as (English indices, target indices); beads are
  1-1, 1-0, 0-1, 2-1, 1-2 or 2-2. ``ratio`` is the expected target/English length ratio and
  defaults to the ratio of the totals. The dynamic programme runs row by row in numpy over a
  band around the diagonal, so documents with thousands of blocks take milliseconds.
  """
  n, m = len(en_lens), len(tgt_lens)
  if ratio is None:
    ratio = (sum(tgt_lens) + 1) / (sum(en_lens) + 1)
  ratio = min(max(ratio, 0.5), 2.0)
  band = abs(n - m) + 20
  en_sum = np.concatenate([[0], np.cumsum(en_lens, dtype=float)])  # prefix sums of lengths
  tgt_sum = np.concatenate([[0], np.cumsum(tgt_lens, dtype=float)])
  cost = np.full((n + 1, m + 1), np.inf)
  back = np.full((n + 1, m + 1), -1, dtype=np.int8)  # index into _BEADS
  insert = _BEADS.index((0, 1))
  for i in range(n + 1):
    centre = round(i * m / n) if n else 0
    lo, hi = max(0, centre - band), min(m, centre + band)
    j = np.arange(lo, hi + 1)
    best = np.full(len(j), np.inf)
    arg = np.full(len(j), -1, dtype=np.int8)
    if i == 0 and lo == 0:
      best[0] = 0.0
    for b, (di, dj) in enumerate(_BEADS):
      if di == 0 or di > i:
        continue  # 0-1 beads depend on this row: handled below
      prev_j = j - dj
      ok = prev_j >= 0
      total = np.full(len(j), np.inf)
      total[ok] = (cost[i - di, prev_j[ok]] + _BEAD_COST[(di, dj)] + _length_cost(
          en_sum[i] - en_sum[i - di], tgt_sum[j[ok]] - tgt_sum[prev_j[ok]], ratio))
      better = total < best
      best[better], arg[better] = total[better], b
    # 0-1 beads chain along the row: best[k] = min over t <= k of best[t] + step[t+1..k].
    step = _BEAD_COST[(0, 1)] + _length_cost(0, tgt_sum[j] - tgt_sum[np.maximum(j - 1, 0)],
                                             ratio)
    step[0] = 0.0  # no 0-1 bead into the first cell of the band
    acc = np.cumsum(step)
    chained = np.minimum.accumulate(best - acc) + acc
    from_left = chained < best - 1e-9
    best[from_left], arg[from_left] = chained[from_left], insert
    cost[i, lo:hi + 1], back[i, lo:hi + 1] = best, arg
  if not np.isfinite(cost[n, m]):
    return []
  beads, i, j = [], n, m
  while i or j:
    di, dj = _BEADS[back[i, j]]
    beads.append((tuple(range(i - di, i)), tuple(range(j - dj, j))))
    i, j = i - di, j - dj
  return beads[::-1]


def align_blocks(en_blocks: Sequence[str], tgt_blocks: Sequence[str], max_z: float = 2.5,
                 min_anchor_share: float | None = None) -> list[tuple[str, str]]:
  """Aligns two renderings of the same document and returns 1-1 sentence pairs.

  Blocks are aligned first; inside each 1-1 block bead, sentences are aligned again the same
  way (:func:`sentence_pairs`), so long paragraphs still yield pairs under the 50-word limit.
  Only 1-1 beads whose lengths are plausible (|z| <= ``max_z``) are kept: merges and skips
  are where alignments go wrong. A document pair where fewer than half the blocks align 1-1
  is probably two different versions of the text and yields nothing.

  Lengths alone cannot align lists that each language sorts alphabetically (book indexes,
  glossaries). With ``min_anchor_share`` set, a document yields nothing when its 1-1 block
  pairs both share a word of 4+ letters or a number (names, versions) less often than that
  and their log lengths correlate below 0.9. Correctly aligned manuals score a share of
  0.5-1 (GIMP) or 0.1-0.3 (KDE, which translates most names) with a correlation around
  0.98; GIMP's re-sorted index scores 0.03 and 0.63. Mallard pages, whose structure matches
  by construction, do not need the check.
  """
  if not en_blocks or not tgt_blocks:
    return []
  ratio = (sum(map(len, tgt_blocks)) + 1) / (sum(map(len, en_blocks)) + 1)
  beads = gale_church([len(b) for b in en_blocks], [len(b) for b in tgt_blocks], ratio)
  one_to_one = [(en_blocks[e[0]], tgt_blocks[t[0]]) for e, t in beads if len(e) == len(t) == 1]
  if len(one_to_one) < 0.5 * max(len(en_blocks), len(tgt_blocks)):
    return []
  if min_anchor_share is not None and len(one_to_one) >= 8:
    shared = sum(bool(_anchors(en) & _anchors(tgt)) for en, tgt in one_to_one)
    if shared < min_anchor_share * len(one_to_one) and _length_correlation(one_to_one) < 0.9:
      return []
  pairs = []
  for en, tgt in one_to_one:
    pairs += sentence_pairs(en, tgt, ratio, max_z)
  return pairs


def sentence_pairs(en: str, tgt: str, ratio: float | None = None,
                   max_z: float = 2.5) -> list[tuple[str, str]]:
  """Splits an aligned paragraph pair into aligned sentence pairs (1-1 beads only)."""
  if ratio is None:
    ratio = (len(tgt) + 1) / (len(en) + 1)
  en_sents, tgt_sents = split_sentences(en), split_sentences(tgt)
  if len(en_sents) == len(tgt_sents):  # the usual case; lengths are still checked below
    candidates = list(zip(en_sents, tgt_sents))
  else:
    beads = gale_church([len(s) for s in en_sents], [len(s) for s in tgt_sents], ratio)
    candidates = [(en_sents[e[0]], tgt_sents[t[0]]) for e, t in beads if len(e) == len(t) == 1]
  return [(e, t) for e, t in candidates if _plausible_lengths(e, t, ratio, max_z)]


_ANCHOR = re.compile(r"\w{4,}|\d+")
MIN_ANCHOR_SHARE = 0.3  # used for rendered HTML manuals (see align_blocks)


def _anchors(text: str) -> set[str]:
  return set(_ANCHOR.findall(text.casefold()))


def _length_correlation(pairs: Sequence[tuple[str, str]]) -> float:
  """Pearson correlation of the log lengths of paired blocks (0 when either is constant)."""
  en = np.log1p([len(e) for e, _ in pairs])
  tgt = np.log1p([len(t) for _, t in pairs])
  if en.std() == 0 or tgt.std() == 0:
    return 0.0
  return float(np.corrcoef(en, tgt)[0, 1])


def _plausible_lengths(en: str, tgt: str, ratio: float, max_z: float) -> bool:
  mean = (len(en) + len(tgt) / ratio) / 2
  return mean > 0 and abs(ratio * len(en) - len(tgt)) / math.sqrt(_GC_VARIANCE * mean) <= max_z


# ----------------------------------------------------------------------------- cleaning

_INLINE_TAGS = (
    "a abbr acronym application b big blockquote body br center cite code command div em "
    "emphasis envar filename font guibutton guilabel guimenu guimenuitem guisubmenu h1 h2 h3 "
    "h4 h5 h6 html i img kbd keycap li link literal nobr ol option p parameter pre q qt "
    "replaceable s samp small span strike strong sub sup systemitem tt u ul ulink userinput "
    "var").split()
_MARKUP = re.compile(r"</?(?:%s)(?:\s[^<>]*)?/?>" % "|".join(_INLINE_TAGS), re.I)
_ENTITY = re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_ACRONYM_AMP = re.compile(r"\b[A-Z]&[A-Z]\b")


def strip_markup(text: str) -> str:
  """Removes inline markup (Pango/HTML/DocBook tags) and decodes entities.

  Unknown angle-bracket words such as ``<Ctrl>`` or ``<file>`` are kept; the latter is
  rejected later as a placeholder.
  """
  text = _MARKUP.sub("", text)
  return html.unescape(text) if _ENTITY.search(text) else text


def strip_accelerators(text: str, underscores: bool = True) -> str:
  """Removes keyboard-accelerator markers: GTK ``_``, Qt/KDE ``&`` and LibreOffice ``~``.

  A marker is a single ``_``/``~`` or an ``&`` directly before a letter or digit; ``&&`` is
  Qt's escaped ampersand. Strings with several underscores are left alone (they look like
  identifiers and are rejected as code), and so are acronyms like ``Q&A``. With
  ``underscores=False`` underscores are never touched (see :func:`normalize_pair`).
  """
  if underscores and text.count("_") == 1:
    text = re.sub(r"_(?=\w)", "", text)
  if text.count("~") == 1:
    text = re.sub(r"~(?=\w)", "", text)
  if "&" in text and not _ACRONYM_AMP.search(text):
    text = re.sub(r"&(?!&)(?=\w)", "", text).replace("&&", "&")
  return text


def normalize(text: str, underscores: bool = True) -> str:
  """Markup and accelerators stripped, runs of spaces collapsed; newlines are kept so that
  multi-line messages can still be recognised and rejected. GCC's quote markers
  ``%<…%>`` become the quotes it prints."""
  text = strip_accelerators(strip_markup(text), underscores)
  text = text.replace("%<", "‘").replace("%>", "’")
  text = _INVISIBLE.sub("", text)
  lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.strip().split("\n")]
  return "\n".join(lines)


_UNDERSCORED = re.compile(r"\w+_\w+")
_SHORTCUT_SUFFIX = re.compile(r"\|[^|\s]{1,2}$")  # LyX: "Open...|O"
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]\.|\d+\.)(?:\d+\.)*\d*\.?\s+")  # "12.1.1.2. ", "A.3 "


def normalize_pair(en: str, tgt: str) -> tuple[str, str]:
  """:func:`normalize` both sides, plus conventions that involve both.

  Drops LyX-style ``|X`` shortcut suffixes and the ``context|`` prefix of old-style
  (sgettext) messages, which only the English side carries, and strips a section number
  that both sides start with ("12.1.1.2. Setting up RAID"). An underscored word that
  appears on both sides is an identifier ("default_value"), not a mnemonic, and is kept
  (so that the pair is then rejected as code).
  """
  en, tgt = _SHORTCUT_SUFFIX.sub("", en), _SHORTCUT_SUFFIX.sub("", tgt)
  if "|" in en and "|" not in tgt:
    en = en.rsplit("|", 1)[1]
  underscores = not set(_UNDERSCORED.findall(en)) & set(_UNDERSCORED.findall(tgt))
  en, tgt = normalize(en, underscores), normalize(tgt, underscores)
  en_num, tgt_num = _SECTION_NUMBER.match(en), _SECTION_NUMBER.match(tgt)
  if en_num and tgt_num and en_num.group().strip() == tgt_num.group().strip():
    en, tgt = en[en_num.end():], tgt[tgt_num.end():]
  return en, tgt


_PLACEHOLDER = re.compile(
    r"%(?:\(\w+\)|\d+\$)?[-+#0q]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[A-Za-z]"  # printf, strftime, GCC %qD
    r"|%\d+|%[A-Za-z_]\w*%"                  # Qt %1, %VAR%
    r"|\{\w*(?::[^{}]*)?\}|\{\{|\}\}"        # {0} {name} {} {{
    r"|\$\{?[A-Za-z_]\w*\}?|@\w+@"           # $VAR ${VAR} @VAR@
    r"|<[a-z][a-z0-9_-]*>"                   # <file> style metavariables
)
_URL = re.compile(r"\b(?:https?|ftp|file|mailto|sftp|smb)://|\bwww\.\w|[\w.+-]+@[\w-]+\.[\w.-]+",
                  re.I)
_CREDITS = re.compile(
    r"^(?:translator[-_ ]?credits?|translators?|translated by|translation credits|"
    r"your names?|your e-?mails?|names? of translators|e-?mails? of translators|"
    r"roles_of_translators|credit_for_translators|translator\(s\)|about translators)$", re.I)
_IDENTIFIER = re.compile(r"\w_\w|\w::\w|\w\(\)|\b[a-z]+[A-Z]\w*[a-z]\w*\(|^[-/.]\w|--\w")
_DIGITS = re.compile(r"\d+")
_LETTER = re.compile(r"[^\W\d_]")
_NON_WORD = re.compile(r"[\W_]+")
MIN_WORDS, MAX_WORDS = 3, 50
MIN_RATIO, MAX_RATIO = 0.5, 2.5  # target/English characters
MIN_LETTER_SHARE = 0.6


def reject_reason(en: str, tgt: str, context: str = "") -> str | None:
  """Why a normalised pair should be dropped, or None to keep it.

  Each rule removes a kind of entry that hurt the reference corpus: not a sentence
  ('multiline', 'words', 'symbols', 'code'), not translatable text ('placeholder', 'url',
  'credits'), or not a translation of the English ('untranslated', 'numbers', 'ratio').
  """
  if not en or not tgt:
    return "empty"
  if "\n" in en or "\n" in tgt:
    return "multiline"
  if _CREDITS.match(context.strip()) or _CREDITS.match(en.strip(" .:")):
    return "credits"
  if _URL.search(en) or _URL.search(tgt):
    return "url"
  if _PLACEHOLDER.search(en) or _PLACEHOLDER.search(tgt):
    return "placeholder"
  if not MIN_WORDS <= len(en.split()) <= MAX_WORDS:
    return "words"
  for text in (en, tgt):
    visible = len(text) - sum(map(str.isspace, text))
    if len(_LETTER.findall(text)) < MIN_LETTER_SHARE * visible:
      return "symbols"
  if _IDENTIFIER.search(en) or _IDENTIFIER.search(tgt):
    return "code"
  if fold(en) == fold(tgt):
    return "untranslated"
  if sorted(_DIGITS.findall(en)) != sorted(_DIGITS.findall(tgt)):
    return "numbers"
  if not MIN_RATIO <= len(tgt) / len(en) <= MAX_RATIO:
    return "ratio"
  return None


def clean_pair(en: str, tgt: str, context: str = "") -> tuple[str, str] | None:
  """The normalised pair, or None if :func:`reject_reason` rejects it."""
  en, tgt = normalize_pair(en, tgt)
  return None if reject_reason(en, tgt, context) else (en, tgt)


# ----------------------------------------------------------------------------- dedup / split


def fold(text: str) -> str:
  """Case- and punctuation-folded form: the identity of an English string for dedup/splits.

  Everything but letters and digits (punctuation, symbols, ``_``, spacing) separates words.
  """
  return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def dedup(pairs: Iterable[Pair]) -> list[Pair]:
  """One pair per folded English string, keeping its most frequent translation.

  Ties go to the lexicographically smallest string and the package is the smallest name
  that produced the chosen pair, so the result does not depend on the input order. The
  result is sorted by folded English.
  """
  groups: dict[str, list[Pair]] = collections.defaultdict(list)
  for pair in pairs:
    groups[fold(pair.en)].append(pair)
  result = []
  for key in sorted(groups):
    group = groups[key]
    tgt = _most_common(p.tgt for p in group)
    en = _most_common(p.en for p in group if p.tgt == tgt)
    chosen = min((p for p in group if p.tgt == tgt and p.en == en),
                 key=lambda p: (p.package, p.origin))
    result.append(chosen)
  return result


def _most_common(values: Iterable[str]) -> str:
  counts = collections.Counter(values)
  return min(counts, key=lambda v: (-counts[v], v))


def split_key(en: str, salt: str) -> bytes:
  """Salted hash of the folded English: it alone decides which split a string lands in."""
  return hashlib.sha256(f"{salt}\0{fold(en)}".encode("utf-8")).digest()


def split_pairs(pairs: Sequence[Pair], n_test: int, n_validation: int, salt: str,
                held_out_fraction: float) -> dict[str, list[Pair]]:
  """Splits de-duplicated pairs into train/validation/test by a salted hash of the English.

  Read as a number in [0, 1), the hash makes a pair a held-out candidate when it is below
  ``held_out_fraction``; all other pairs are train. Among the candidates, ranked by hash,
  the first ``n_test`` are test and the next ``n_validation`` validation; any further
  candidates are left out of every split. So whatever packages are added or removed, a
  string that was ever held out never becomes train and a train string never becomes test
  or validation; adding packages can only move a test string to validation or out. (Only a
  corpus so small that fewer than two candidates exist borrows the next-ranked pairs, so
  that no split is empty.) When there are fewer candidates than ``n_test + n_validation``
  they are shared in proportion. Each split is sorted by folded English.
  """
  ranked = sorted(pairs, key=lambda p: (split_key(p.en, salt), p.en))
  limit = int(held_out_fraction * 2 ** 64)
  n_candidates = sum(int.from_bytes(split_key(p.en, salt)[:8], "big") < limit for p in ranked)
  if len(ranked) >= 3:
    n_candidates = max(n_candidates, 2)
  if n_candidates < n_test + n_validation:
    share = round(n_candidates * n_test / (n_test + n_validation))
    n_test = min(max(share, 1), n_candidates - 1) if n_candidates >= 2 else n_candidates
    n_validation = n_candidates - n_test
  splits = {"test": ranked[:n_test], "validation": ranked[n_test:n_test + n_validation],
            "train": ranked[n_candidates:]}
  return {name: sorted(split, key=lambda p: (fold(p.en), p.en)) for name, split in splits.items()}


# ----------------------------------------------------------------------------- package trees


@dataclasses.dataclass(frozen=True)
class DocRule:
  """Where a two-language document family lives inside package trees.

  ``tgt_glob`` and ``en_glob`` have the same number of ``*``; a target-language file maps to
  the English file by substituting what the stars matched. ``{lang}`` is the language code,
  ``{LANG}`` its upper-case region (de → DE), as used by e.g. ``de-DE``.
  """

  origin: str  # "lohelp", "mallard", "kde" or "html"
  tgt_glob: str
  en_glob: str


DOC_RULES = (
    DocRule("lohelp", "usr/share/libreoffice/help/{lang}/*.html",
            "usr/share/libreoffice/help/en-US/*.html"),
    DocRule("mallard", "usr/share/help/{lang}/*.page", "usr/share/help/C/*.page"),
    DocRule("kde", "usr/share/doc/HTML/{lang}/*/index.cache.bz2",
            "usr/share/doc/HTML/en/*/index.cache.bz2"),
    DocRule("html", "usr/share/gimp/2.0/help/{lang}/*.html", "usr/share/gimp/2.0/help/en/*.html"),
    DocRule("html", "usr/share/debian-reference/*.{lang}.html",
            "usr/share/debian-reference/*.en.html"),
    DocRule("html", "usr/share/doc/debian-handbook/html/{lang}-{LANG}/*.html",
            "usr/share/doc/debian-handbook/html/en-US/*.html"),
    DocRule("html", "usr/share/doc/debian/FAQ/{lang}/*.{lang}.html",
            "usr/share/doc/debian/FAQ/*.en.html"),
    DocRule("html", "usr/share/doc/maint-guide-{lang}/html/*.{lang}.html",
            "usr/share/doc/maint-guide/html/*.en.html"),
    DocRule("html", "usr/share/developers-reference/{lang}/*.html",
            "usr/share/developers-reference/*.html"),
)
MO_GLOBS = ("*/{lang}/LC_MESSAGES/*.mo", "*/{lang}_{LANG}/LC_MESSAGES/*.mo")
QM_GLOBS = ("*_{lang}.qm", "*.{lang}.qm", "*_{lang}_{LANG}.qm")


def _fill(glob: str, lang: str) -> str:
  return glob.format(lang=lang, LANG=lang.upper())


def tar_patterns(lang: str) -> list[str]:
  """``tar --wildcards`` patterns for every file the extractors read (``*`` matches ``/``)."""
  globs = [*MO_GLOBS, *QM_GLOBS]
  for rule in DOC_RULES:
    globs += [rule.tgt_glob, rule.en_glob]
  return sorted({"*" + _fill(g, lang) if g.startswith("usr/") else _fill(g, lang) for g in globs})


def _glob_regex(glob: str) -> re.Pattern:
  """A path regex for ``glob`` where each ``*`` is a capturing group (it may match ``/``)."""
  parts = [re.escape(p) for p in glob.split("*")]
  return re.compile("(.*)".join(parts) + r"\Z", re.S)


class Job(NamedTuple):
  """One unit of extraction work: a catalog, or an English/target document pair."""

  origin: str
  package: str
  tgt_path: str
  en_path: str = ""


def find_jobs(trees: Mapping[str, str | os.PathLike], lang: str) -> list[Job]:
  """Finds every catalog and two-language document in unpacked package trees.

  ``trees`` maps a package name to the directory it was unpacked into (containing ``usr/``).
  English and target documents may come from different packages (``libreoffice-help-en-us``
  and ``libreoffice-help-de``); the pair is attributed to the package of the translation.
  """
  index: dict[str, str] = {}  # relative path -> absolute path (first package wins)
  owner: dict[str, str] = {}
  for package in sorted(trees):
    root = os.fspath(trees[package])
    for dirpath, _, files in os.walk(root):
      for file in files:
        path = os.path.join(dirpath, file)
        if os.path.islink(path):
          continue
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if rel not in index:
          index[rel], owner[rel] = path, package
  mo = [_glob_regex(_fill(g, lang)) for g in MO_GLOBS]
  qm = [_glob_regex(_fill(g, lang)) for g in QM_GLOBS]
  docs = [(rule, _glob_regex(_fill(rule.tgt_glob, lang)), _fill(rule.en_glob, lang))
          for rule in DOC_RULES]
  jobs = []
  for rel in sorted(index):
    name = "/" + rel
    if rel.endswith(".mo") and any(r.match(name) for r in mo):
      jobs.append(Job("mo", owner[rel], index[rel]))
    elif rel.endswith(".qm") and any(r.match(os.path.basename(rel)) for r in qm):
      jobs.append(Job("qm", owner[rel], index[rel]))
    else:
      for rule, regex, en_glob in docs:
        match = regex.match(rel)
        if match:
          en_rel = _substitute_stars(en_glob, match.groups())
          if en_rel in index and en_rel != rel:
            jobs.append(Job(rule.origin, owner[rel], index[rel], index[en_rel]))
          break
  return jobs


def _substitute_stars(glob: str, values: Sequence[str]) -> str:
  parts = glob.split("*")
  return parts[0] + "".join(v + p for v, p in zip(values, parts[1:]))


def _read(path: str) -> bytes:
  with open(path, "rb") as f:
    return f.read()


def raw_pairs(job: Job) -> list[tuple[str, str, str]]:
  """(English, target, context) candidates of one job, before cleaning."""
  if job.origin in ("mo", "qm"):
    parse = parse_mo if job.origin == "mo" else parse_qm
    return [(e.source, e.translation, e.context) for e in parse(_read(job.tgt_path), job.tgt_path)]
  if job.origin == "lohelp":
    en = lohelp_paragraphs(_read(job.en_path).decode("utf-8", errors="replace"))
    tgt = lohelp_paragraphs(_read(job.tgt_path).decode("utf-8", errors="replace"))
    ratio = (sum(map(len, tgt.values())) + 1) / (sum(map(len, en.values())) + 1)
    pairs = [p for k in en if k in tgt for p in sentence_pairs(en[k], tgt[k], ratio)]
  elif job.origin == "mallard":
    pairs = align_blocks(mallard_blocks(_read(job.en_path), job.en_path),
                         mallard_blocks(_read(job.tgt_path), job.tgt_path))
  elif job.origin == "kde":
    en_pages = kde_cache_pages(_read(job.en_path), job.en_path)
    tgt_pages = kde_cache_pages(_read(job.tgt_path), job.tgt_path)
    pairs = []
    for page in sorted(set(en_pages) & set(tgt_pages)):
      pairs += align_blocks(html_blocks(en_pages[page]), html_blocks(tgt_pages[page]),
                            min_anchor_share=MIN_ANCHOR_SHARE)
  elif job.origin == "html":
    pairs = align_blocks(html_blocks(_read(job.en_path).decode("utf-8", errors="replace")),
                         html_blocks(_read(job.tgt_path).decode("utf-8", errors="replace")),
                         min_anchor_share=MIN_ANCHOR_SHARE)
  else:
    raise ValueError(f"unknown job origin {job.origin!r}")
  return [(en, tgt, "") for en, tgt in pairs]


def job_pairs(job: Job) -> tuple[list[Pair], collections.Counter]:
  """Cleaned pairs of one job and counts of why candidates were dropped.

  A file that cannot be parsed is skipped with a warning naming it (counted as
  'bad_file'): one corrupt catalog must not sink a build over hundreds of packages.
  """
  stats: collections.Counter = collections.Counter()
  try:
    candidates = raw_pairs(job)
  except (L10nFormatError, OSError, UnicodeError, EOFError) as err:
    logging.warning("Skipping unreadable %s file: %s", job.origin, err)
    stats["bad_file"] += 1
    return [], stats
  pairs = []
  for en, tgt, context in candidates:
    en_n, tgt_n = normalize_pair(en, tgt)
    reason = reject_reason(en_n, tgt_n, context)
    if reason:
      stats[reason] += 1
    else:
      pairs.append(Pair(en_n, tgt_n, job.package, job.origin))
  stats["kept"] += len(pairs)
  return pairs, stats


def extract_tree_pairs(trees: Mapping[str, str | os.PathLike], lang: str,
                       processes: int = 1) -> tuple[list[Pair], collections.Counter]:
  """All cleaned (not yet de-duplicated) pairs of the given unpacked package trees.

  With ``processes > 1`` jobs run in a process pool; results are collected in job order, and
  :func:`dedup` does not depend on order anyway.
  """
  jobs = find_jobs(trees, lang)
  # Big document pairs first, so the pool does not end on one long straggler.
  jobs.sort(key=lambda j: (j.origin in ("mo", "qm"), j))
  stats: collections.Counter = collections.Counter()
  pairs: list[Pair] = []
  if processes > 1 and len(jobs) > 1:
    # Not "fork": the builder usually runs inside a process where JAX has already
    # started its thread pools, and forking a multithreaded process can deadlock.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(processes) as pool:
      results = pool.imap(job_pairs, jobs, chunksize=4)
      for job_result, job_stats in results:
        pairs += job_result
        stats += job_stats
  else:
    for job in jobs:
      job_result, job_stats = job_pairs(job)
      pairs += job_result
      stats += job_stats
  stats.update(f"jobs_{j.origin}" for j in jobs)
  return pairs, stats

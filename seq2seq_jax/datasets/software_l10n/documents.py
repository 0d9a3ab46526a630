"""Text blocks of documentation shipped in two languages.

LibreOffice help (paragraphs keyed by ``id``, so they pair up directly), GNOME Mallard
pages, KDE handbook caches and plain HTML manuals (GIMP, Debian's own). Except for
LibreOffice help the blocks carry no ids and are paired by :mod:`.alignment`.
"""

from __future__ import annotations

import bz2
import html
import re
import xml.etree.ElementTree as ET

from seq2seq_jax.datasets.software_l10n.catalogs import L10nFormatError
from seq2seq_jax.datasets.software_l10n.cleaning import squash

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

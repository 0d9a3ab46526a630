"""Normalisation and filtering of candidate pairs, and the folded identity of a string.

Pairs are normalised (accelerators, inline markup, whitespace) and then filtered by the
rules that mattered for quality (:func:`reject_reason`). :func:`fold` is the case- and
punctuation-folded English that de-duplication and the split hash are keyed on.
"""

from __future__ import annotations

import html
import re

_WS = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff\u00b6]")  # soft hyphen, ZW*, pilcrow


def squash(text: str) -> str:
  """Collapses all whitespace (newlines included) and drops invisible/pilcrow characters."""
  return _WS.sub(" ", _INVISIBLE.sub("", text)).strip()


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


def fold(text: str) -> str:
  """Case- and punctuation-folded form: the identity of an English string for dedup/splits.

  Everything but letters and digits (punctuation, symbols, ``_``, spacing) separates words.
  """
  return " ".join(_NON_WORD.sub(" ", text.casefold()).split())

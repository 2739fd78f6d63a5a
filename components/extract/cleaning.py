"""Turn one raw database value or text line into one clean passage, or say why it was dropped.

What real exports contain and what happens to it:
- HTML tags and entities (`<p>`, `<br/>`, `&nbsp;`, `&amp;`): parsed by BeautifulSoup; block
  elements become spaces, `<script>`/`<style>` vanish with their content. A `<` that does not open
  a known HTML tag (`若 a<b，则 c>d`) is text, not markup, and is kept.
- Whitespace of every kind (`\\r`, `\\n` inside a value, tabs, U+00A0, U+3000, U+2028/U+2029):
  each run becomes one ASCII space; ends are stripped. So a passage is always one line.
- Zero-width and control characters: removed (BERT's tokenizer drops them anyway).
- Optionally, punctuation absent from Google's Chinese BERT vocab (curly quotes, the ellipsis,
  em and en dashes) is mapped to forms it covers, so it does not become `[UNK]`.
Then what is left must hold text (a letter, digit or CJK character), be between --min_chars and
--max_chars characters long, and not repeat an earlier passage (`Deduplicator`).

Bad rows (invalid UTF-8, absurdly long values: export glitches, not text) are skipped and counted
like any other drop, never fatal by themselves; `Cleaner.check_bad_fraction` stops the stage at the
end when more than --max_bad_fraction of the rows were bad, naming the first one.
"""

import hashlib
import re

from bs4 import BeautifulSoup

from components.common.errors import UserError
from components.common.text import remove_invisible
from components.extract.arguments import ExtractArguments

# Why a row did not make it into the corpus; the manifest counts each.
NULL = "null"                    # SQL NULL
EMPTY = "empty"                  # only whitespace and invisible/control characters
MARKUP_ONLY = "markup_only"      # had content, but nothing was left after removing markup
NO_TEXT = "no_text"              # only punctuation, symbols or emoji: no letter, digit or CJK
TOO_SHORT = "too_short"          # shorter than --min_chars after cleaning
DUPLICATE = "duplicate"          # same cleaned passage seen before
INVALID_UTF8 = "invalid_utf8"    # bad row: undecodable bytes (with --errors strict)
TOO_LONG = "too_long"            # bad row: longer than --max_chars after cleaning
DROP_REASONS = (NULL, EMPTY, MARKUP_ONLY, NO_TEXT, TOO_SHORT, DUPLICATE, INVALID_UTF8, TOO_LONG)
BAD_REASONS = (INVALID_UTF8, TOO_LONG)

# HTML elements we recognise as markup; anything else after `<` is text (`a<b`, `x<3`).
HTML_TAGS = (
    "a abbr address article aside b big blockquote body br caption center code col colgroup dd "
    "del div dl dt em font footer h1 h2 h3 h4 h5 h6 head header hr html i img input ins label "
    "li link meta nav ol p pre q s section small span strike strong style sub sup table tbody "
    "td tfoot th thead title tr tt u ul script noscript iframe figure figcaption mark wbr"
).split()
BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "div", "dl",
    "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul",
}
_TAG_NAMES = "|".join(sorted(HTML_TAGS, key=len, reverse=True))
_LOOKS_LIKE_MARKUP = re.compile(
    rf"</?(?:{_TAG_NAMES})(?:[\s/>]|$)|<!--|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);",
    re.IGNORECASE)
_LONE_LT = re.compile(rf"<(?!/?(?:{_TAG_NAMES})(?:[\s/>]|$)|!--)", re.IGNORECASE)

# `\s` in Python covers \r \n \t \v \f, U+00A0, U+3000, U+2028, U+2029, U+0085 and the other
# Unicode spaces.
_WHITESPACE = re.compile(r"\s+")

# Characters Google's Chinese BERT vocab lacks, mapped to ones it has (one character for one, so
# passage lengths stay the same). "⋯" (U+22EF) is in the vocab; "…" (U+2026) is not.
PUNCTUATION_MAP = str.maketrans({
    "\u201c": '"', "\u201d": '"',     # “ ”
    "\u2018": "'", "\u2019": "'",     # ‘ ’
    "\u2026": "\u22ef",               # … → ⋯
    "\u2014": "-", "\u2013": "-",     # — –
    "\u2015": "-", "\u2010": "-",     # ― ‐
})
_UNCOVERED = re.compile("[" + "".join(chr(c) for c in PUNCTUATION_MAP) + "]")


def strip_markup(text):
    """HTML tags and entities → plain text; a no-op (and fast) for text without markup."""
    if ("<" not in text and "&" not in text) or not _LOOKS_LIKE_MARKUP.search(text):
        return text
    soup = BeautifulSoup(_LONE_LT.sub("&lt;", text), "html.parser")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    # Block boundaries separate words ("end</p><p>Start"); inline tags (<b>) must not split them.
    for tag in soup.find_all(BLOCK_TAGS):
        tag.insert_before(" ")
        tag.insert_after(" ")
    return soup.get_text()


def clean_passage(text, normalize_punctuation=True):
    """Markup, whitespace, invisible characters and (optionally) uncovered punctuation removed."""
    text = strip_markup(text)
    text = remove_invisible(text)
    text = _WHITESPACE.sub(" ", text).strip()
    if normalize_punctuation and _UNCOVERED.search(text):  # translate() is slow; most rows skip
        text = text.translate(PUNCTUATION_MAP)
    return text


def value_to_text(value, errors):
    """A database value as str: bytes are decoded as UTF-8, numbers formatted; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors=errors)
    return str(value)


class BadRow:
    """A row a source could not even decode; `where` says which (file, line, byte offset)."""

    def __init__(self, reason, where):
        self.reason, self.where = reason, where


class Deduplicator:
    """Exact de-duplication by a 16-byte BLAKE2b digest of each kept passage.

    A set of 128-bit ints costs about 60 bytes per distinct passage (10 M passages: ~600 MB), far
    less than keeping the passages; a collision is practically impossible at 2^-128 per pair.
    """

    def __init__(self):
        self._seen = set()

    def is_new(self, passage):
        key = int.from_bytes(hashlib.blake2b(passage.encode("utf-8"), digest_size=16).digest())
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


class Cleaner:
    """Cleans a stream of raw values; `clean(value)` returns the passage or None, counting drops."""

    # Defaults: the extract stage's declaration.
    def __init__(self, min_chars=ExtractArguments.min_chars, max_chars=ExtractArguments.max_chars,
                 normalize_punctuation=ExtractArguments.normalize_punctuation,
                 dedup=ExtractArguments.dedup, errors=ExtractArguments.errors,
                 max_bad_fraction=ExtractArguments.max_bad_fraction):
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.normalize_punctuation = normalize_punctuation
        self.errors = errors
        self.max_bad_fraction = max_bad_fraction
        self.dedup = Deduplicator() if dedup else None
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.first_bad = None
        self.rows_read = 0
        self.rows_kept = 0
        self.characters = 0

    def clean(self, value):
        self.rows_read += 1
        reason, text = self._reason(value)
        if reason is not None:
            self.dropped[reason] += 1
            return None
        self.rows_kept += 1
        self.characters += len(text)
        return text

    def _reason(self, value):
        """(drop reason or None, cleaned text)."""
        if isinstance(value, BadRow):
            return self._bad(value.reason, value.where), None
        try:
            text = value_to_text(value, self.errors)
        except UnicodeDecodeError as err:
            return self._bad(INVALID_UTF8, f"row {self.rows_read}: invalid UTF-8 at byte "
                                           f"offset {err.start} of the value"), None
        if text is None:
            return NULL, None
        if not text.strip():
            return EMPTY, None
        raw, text = text, clean_passage(text, self.normalize_punctuation)
        if not text:
            # Told apart only here, on the rare rows that clean to nothing: the common path is fast.
            return (MARKUP_ONLY if remove_invisible(raw).strip() else EMPTY), None
        if not any(ch.isalnum() for ch in text):
            return NO_TEXT, None
        if len(text) < self.min_chars:
            return TOO_SHORT, None
        if len(text) > self.max_chars:
            return self._bad(TOO_LONG, f"row {self.rows_read}: {len(text)} characters"), None
        if self.dedup is not None and not self.dedup.is_new(text):
            return DUPLICATE, None
        return None, text

    def _bad(self, reason, where):
        self.first_bad = self.first_bad or where
        return reason

    def check_bad_fraction(self, where):
        """Stop with the counts when more than max_bad_fraction of the rows read were bad."""
        bad = sum(self.dropped[r] for r in BAD_REASONS)
        if bad and bad > self.max_bad_fraction * self.rows_read:
            counts = ", ".join(f"{self.dropped[r]} {r}" for r in BAD_REASONS if self.dropped[r])
            raise UserError(f"{bad} of {self.rows_read} rows are bad ({counts}; "
                            f"{100 * bad / self.rows_read:.1f} % > --max_bad_fraction "
                            f"{self.max_bad_fraction}); first: {self.first_bad}", where=where,
                            fix="fix the source, pass --errors replace for bad bytes, or raise "
                                "--max_bad_fraction")

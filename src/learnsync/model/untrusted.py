"""Untrusted text: the one set of rules for the strings and numbers that come from Coursera or
360Learning, and for upstream text that leaves learnsync in a CSV file or on a terminal
(docs/security.md#untrusted-text).

Inbound, applied where the rows of each API are built, before anything stores, hashes or sends
them — the tolerant converters of the Coursera rows (:mod:`learnsync.model.coursera`, which the
client's pydantic rows and the extract step's ``LightRow`` share) and the per-item results of a
360Learning bulk operation (:class:`learnsync.model.bulk.BulkResult`):

- :func:`clean_line` (every string but descriptions): C0 and C1 control characters and DEL
  removed, tab / line feed / carriage return turned into a space; :func:`clean_text`
  (descriptions): the same, but tab and line feed kept and ``\\r\\n`` / ``\\r`` made ``\\n``.
  Both replace each lone surrogate (``\\ud800``: valid JSON, not encodable as UTF-8) with U+FFFD
  (a split surrogate pair is joined into its character);
- :func:`clean_json`: every string (keys included) of a raw JSON value cleaned like
  :func:`clean_line`, nesting cut at :data:`MAX_DEPTH`;
- :func:`bounded_int`: integers outside the signed 64-bit range (a database ``BIGINT``/``INTEGER``)
  count as invalid.

The limits the mapping applies (docs/mapping.md) are the ``MAX_*`` constants below: 360Learning
documents no maximum length for any ``ExternalCourseDTO`` string (docs/api-notes.md), so the
text limits are learnsync's decision — far above any real Coursera value, low enough that one
item cannot weigh megabytes; the identifier limits are the store's column sizes.

Outbound: :func:`csv_cell` (formula injection, OWASP) and :func:`terminal_text` (escape
sequences and other invisible characters shown as visible escapes).

Pure and cheap: a clean string costs one ``str.isprintable`` call.
"""

from __future__ import annotations

import re
from typing import Any

# --- limits ---------------------------------------------------------------------------------

# identifiers, as the store's columns hold them (content_items / stat_items / run_items)
MAX_ID_LENGTH = 255  # an externalId "{contentType}~{contentId}"
MAX_EMAIL_LENGTH = 320  # a learner (stat_items.learner)
MAX_CODE_LENGTH = 64  # a Coursera languageCode or contentType as received
MAX_REMOTE_ID_LENGTH = 64  # a 360Learning resource id (24 hexadecimal characters in practice)

# texts sent to 360Learning (truncated to the limit, ending with "…")
MAX_NAME_LENGTH = 500
MAX_DESCRIPTION_LENGTH = 10_000
MAX_SUBJECT_LENGTH = 255
MAX_SUBJECTS = 100
MAX_SOURCE_NAME_LENGTH = 255
MAX_SOURCES = 20
MAX_URL_LENGTH = 2_048  # a longer URL is not a URL (never truncated)
MAX_ERROR_LENGTH = 1_000  # a 360Learning per-item error, as stored and shown

# numbers
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_SAFE_INTEGER = 2**53 - 1  # the largest integer a JSON number carries exactly (JavaScript)

MAX_DEPTH = 32  # nesting kept of a raw JSON value (Coursera's extraMetadata.definition)

ELLIPSIS = "…"

# --- inbound ----------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n|[\t\n\r]")
# C0 controls, DEL, C1 controls (tab, line feed and carriage return are handled before)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_TAB_LF = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _fix_surrogates(value: str) -> str:
    """Lone surrogates → U+FFFD; two halves of a pair → their character."""
    if _SURROGATE.search(value) is None:
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_line(value: str) -> str:
    """A one-line string: control characters removed (tab and line breaks become a space), lone
    surrogates replaced with U+FFFD. Not trimmed (the mapping trims)."""
    if value.isprintable():
        return value
    value = _fix_surrogates(value)
    return _CONTROL.sub("", _LINE_BREAK.sub(" ", value))


def clean_text(value: str) -> str:
    """A multi-line text (a description): as :func:`clean_line`, but tab and line feed kept and
    ``\\r\\n`` / ``\\r`` made ``\\n``."""
    if value.isprintable():
        return value
    value = _fix_surrogates(value)
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_BUT_TAB_LF.sub("", value)


def clean_json(value: Any, depth: int = 0) -> Any:
    """A raw JSON value with every string (keys included) cleaned by :func:`clean_line`; objects
    and arrays nested deeper than :data:`MAX_DEPTH` become empty. Numbers, booleans and null as
    they are (each rule that reads a number checks it)."""
    if isinstance(value, str):
        return clean_line(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return {}
        return {
            (clean_line(k) if isinstance(k, str) else k): clean_json(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return []
        return [clean_json(v, depth + 1) for v in value]
    return value


def bounded_int(value: int) -> int | None:
    """``value`` when a signed 64-bit integer holds it, else ``None``."""
    return value if INT64_MIN <= value <= INT64_MAX else None


def truncate(text: str, limit: int) -> str:
    """``text`` when at most ``limit`` characters, else its first characters (trailing blanks
    dropped) and ``…``, ``limit`` characters at most."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


# --- outbound ---------------------------------------------------------------------------------

# a spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection); a
# carriage return is a line feed once cleaned, so a leading line feed is prefixed too
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: object) -> str:
    """A CSV cell of upstream text: cleaned (:func:`clean_text`), and prefixed with ``'`` when it
    starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return (or a line feed), so a
    spreadsheet shows it as text instead of evaluating it."""
    text = clean_text(str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


# control characters (escape sequences start with ESC or C1 CSI), lone surrogates, the bidi
# controls (they reorder what follows) and the Unicode line / paragraph separators
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_text(value: object) -> str:
    """Upstream text for a terminal: every control character, lone surrogate, bidi control and
    line separator shown as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``), so a value can
    neither move the cursor, recolour, retitle nor reorder the output, nor break a line."""
    text = str(value)
    if text.isprintable():
        return text
    return _INVISIBLE.sub(_visible, text)

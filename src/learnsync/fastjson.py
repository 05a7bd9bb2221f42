"""JSON for the big bodies (report pages, bulk bodies and results): orjson, about three times
faster than the standard library on megabyte bodies, with the standard library as the fallback for
what orjson refuses (integers beyond 64 bits). Decoding errors are ``ValueError`` either way —
never ``RecursionError``, however deep the nesting.

For what an API sends (``learnsync.http``): ``loads(…, replace_invalid_utf8=True)`` decodes a body
with invalid UTF-8 with U+FFFD in place of the bad bytes (one bad row must not cost the page), and
:func:`shape` measures the nesting and the number of arrays and objects *before* decoding, at C
speed, so a hostile body is refused before it becomes millions of Python objects.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import orjson

# every byte but the structural ones, for bytes.translate(…, delete)
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"')
_OPEN_CLOSE = bytes.maketrans(b"[]{}", b"()()")


def loads(data: bytes | str, *, replace_invalid_utf8: bool = False) -> Any:
    """Decode JSON; raises ``ValueError`` for text that is not JSON.

    ``replace_invalid_utf8``: bytes that are not UTF-8 become U+FFFD instead of failing the
    whole text (the standard's ``errors="replace"``).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    if replace_invalid_utf8 and isinstance(data, bytes):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return loads(data.decode("utf-8", errors="replace"))
    try:
        return json.loads(data)  # the standard library decides (e.g. numbers beyond 64 bits)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's ``JSONResponse`` renders it."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(
            obj, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")


class Shape(NamedTuple):
    """What :func:`shape` measured. ``depth``: the deepest nesting of arrays and objects (0 for a
    scalar), at most ``limit + 1`` (meaning: deeper than ``limit``); ``None`` when the brackets do
    not balance (not JSON: the decoder says so). ``containers``: how many arrays and objects."""

    depth: int | None
    containers: int


def shape(data: bytes, limit: int) -> Shape:
    """The nesting depth (counted up to ``limit + 1``) and the number of arrays and objects of
    JSON ``data``, without decoding it. Exact for valid JSON; about a third of orjson's decoding
    time (C-speed passes over the bytes, one per level of depth)."""
    if b"\\" in data:  # escaped backslashes, then escaped quotes: neither delimits a string
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(_OPEN_CLOSE, _NOT_STRUCTURE)  # only ( ) and " are left
    # drop the strings, with the brackets they contain. Two adjacent quotes are an empty string
    # or the end of one string and the start of the next: removing them keeps what is inside a
    # string inside one. What is left is a string with brackets in it (rare): split it off.
    structure = structure.replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    containers = len(structure) // 2
    for depth in range(limit + 1):
        if not structure:
            return Shape(depth, containers)
        peeled = structure.replace(b"()", b"")  # the innermost level, everywhere at once
        if len(peeled) == len(structure):
            return Shape(None, containers)  # unbalanced
        structure = peeled
    return Shape(limit + 1, containers)  # peeled limit + 1 levels: deeper than the limit

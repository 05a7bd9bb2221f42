"""JSON for the big bodies (report pages, bulk bodies and results): orjson, about three times
faster than the standard library on megabyte bodies, with the standard library as the fallback for
what orjson refuses (integers beyond 64 bits). Decoding errors are ``ValueError`` either way."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises ``ValueError`` for text that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # the standard library decides (e.g. numbers beyond 64 bits)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as Starlette's ``JSONResponse`` renders it."""
    try:
        return orjson.dumps(obj)
    except TypeError:  # e.g. integers beyond 64 bits
        return json.dumps(
            obj, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8")

"""Cursor pagination as 360Learning does it: bare arrays, ``Link: <…next=…>; rel="next"``.

The ``next`` token carries the original filters and the cursor, so a client follows the absolute
URL without re-sending filters. A page function gets (filters, cursor, size) and returns the page
and the next cursor (``None`` on the last page).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request

from learnsync.sandbox.threesixty.errors import failure

PageFn = Callable[[dict[str, str], int, int], tuple[list[Any], int | None]]


def _encode(filters: dict[str, str], cursor: int) -> str:
    raw = json.dumps({"q": filters, "c": cursor}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[dict[str, str], int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return {str(k): str(v) for k, v in data["q"].items()}, int(data["c"])
    except (ValueError, KeyError, TypeError) as exc:
        raise failure(400, "invalidInput", "invalid pagination token") from exc


def filters_of(request: Request) -> tuple[dict[str, str], int]:
    """The request's filters and cursor: from the ``next`` token when there is one."""
    token = request.query_params.get("next")
    if token is not None:
        return _decode(token)
    return {k: v for k, v in request.query_params.items()}, 0


def slice_page(items: Sequence[Any], cursor: int, size: int) -> tuple[list[Any], int | None]:
    page = list(items[cursor : cursor + size])
    return page, (cursor + size if cursor + size < len(items) else None)


def link_header(request: Request, filters: dict[str, str], cursor: int | None) -> dict[str, str]:
    if cursor is None:
        return {}
    base = str(request.base_url).rstrip("/")
    return {"Link": f'<{base}{request.url.path}?next={_encode(filters, cursor)}>; rel="next"'}

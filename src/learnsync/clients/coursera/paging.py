"""Coursera's ``start``/``limit`` paging as one small strategy (dlt-style).

The paging facts: docs/api-notes.md#coursera-envelope-and-paging.

Rules, and why:

- ``paging.next`` is followed whether it is a decimal string (the documented wire type) or a
  number (legacy answers); it is sent back as ``start``. No ``next`` → the last page.
- A ``next`` that is not an integer, or that does not advance past the current ``start``, raises
  :class:`~learnsync.errors.PagingError`: following it would loop forever or re-read rows.
- An empty page that still carries a ``next`` raises ``PagingError`` too: the server claims more
  rows but sends none, and a silently short catalog would make learnsync archive live content.
- When ``next`` is absent but fewer rows than ``paging.total`` were read, the fetch ends with a
  logged warning: ``total`` is an estimate that moves while the data changes between pages, and
  the cursor is the authority on where the data ends.
- A read stops with ``PagingError`` when a page still announces a ``next`` after ``max_pages``
  pages (``MAX_PAGES``, 10,000: ten million rows at the 1,000 a page learnsync asks for): a
  cursor that advances forever would otherwise never end the run.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from learnsync.errors import PagingError

log = logging.getLogger("learnsync.coursera")

API = "Coursera"
MAX_PAGES = 10_000  # pages of one read (docs/clients.md#limits-on-upstreams)


def _as_offset(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


class OffsetPaginator:
    """Tracks ``start`` across pages of one listing; ``update`` says whether to fetch another."""

    def __init__(
        self, page_size: int = 1000, *, route: str = "", max_pages: int = MAX_PAGES
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.page_size = page_size
        self.route = route
        self.max_pages = max_pages
        self.start = 0
        self.fetched = 0
        self.pages = 0
        self.total: int | None = None

    def params(self) -> dict[str, str]:
        return {"start": str(self.start), "limit": str(self.page_size)}

    def _fail(self, message: str, body: Any = None) -> PagingError:
        return PagingError(f"Coursera {self.route}: {message}", code="paging", body=body, api=API)

    def update(self, paging: Any, count: int) -> bool:
        """Record a page of ``count`` elements with envelope ``paging``; True if another follows."""
        self.fetched += count
        self.pages += 1
        paging = paging if isinstance(paging, dict) else {}
        total = _as_offset(paging.get("total"))
        if total is not None:
            self.total = total
        raw_next = paging.get("next")
        if raw_next is None or raw_next == "":
            if self.total is not None and self.fetched < self.total:
                log.warning(
                    "Coursera %s: the last page came after %d of %d rows; the total moved "
                    "while paging or is an estimate",
                    self.route,
                    self.fetched,
                    self.total,
                )
            return False
        nxt = _as_offset(raw_next)
        if nxt is None:
            raise self._fail(f"paging.next {raw_next!r} is not an integer offset", paging)
        if nxt <= self.start:
            raise self._fail(
                f"paging.next {nxt} does not advance past start {self.start}; stopping "
                "instead of looping",
                paging,
            )
        if count == 0:
            raise self._fail(
                f"an empty page at start {self.start} still announced paging.next {nxt}", paging
            )
        if self.pages >= self.max_pages:
            raise self._fail(
                f"page {self.pages:,} ({self.fetched:,} rows) still announced paging.next {nxt}; "
                f"{self.max_pages:,} pages is the limit of one read — a paging cursor that never "
                "ends? Stopping",
                paging,
            )
        self.start = nxt
        return True

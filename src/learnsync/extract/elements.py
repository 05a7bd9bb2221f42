"""Page elements that are not JSON objects, counted instead of silently lost.

The Coursera client builds a row from each element of a page that is a JSON object and skips
the others (with a log line only); its ``on_page(fetched, total)`` callback counts every element
of the pages read so far, objects or not. :func:`with_non_objects` compares the two: for each
element the client skipped it yields a *placeholder* row — one with no field at all, which the
mapping skips with its usual reason (content: ``missing_id``, counted in the run's warning about
rows without an id; statistics: ``missing_content_id``, in the report's skipped list) — so the
report accounts for it (docs/security.md#untrusted-text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from learnsync.model.ports import OnPage

T = TypeVar("T")


def with_non_objects(
    read: Callable[[OnPage], Iterator[T]],
    placeholder: Callable[[], T],
    on_page: OnPage | None = None,
) -> Iterator[T]:
    """``read(page_callback)``'s rows, then one ``placeholder()`` per element of the pages that was
    not a row (at the end of the read: neither pipeline depends on the rows' order). ``on_page``
    receives the client's callbacks unchanged. A client that does not call back yields no
    placeholder."""
    fetched = 0

    def page(count: int, total: int | None) -> None:
        nonlocal fetched
        fetched = count
        if on_page is not None:
            on_page(count, total)

    rows = read(page)
    yielded = 0
    try:
        for row in rows:
            yielded += 1
            yield row
        for _ in range(fetched - yielded):
            yield placeholder()
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()

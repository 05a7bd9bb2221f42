"""Property: Coursera's ``start``/``limit`` paging ends, whatever cursors the server sends.

A server that answers a cycle of cursors forever (strings, numbers, ``None``, junk, repeats) must
see the client stop within one lap of the cycle — normally on a missing ``next``, or with
:class:`~learnsync.errors.PagingError` — and never ask for a ``start`` it asked for before
(re-reading rows) or fail any other way. A normal end means every row was handed out and no page
that announced more came empty. A cursor that does advance is always followed: the rows
of a well-behaved server all arrive.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsync.clients.coursera import CourseraClient
from learnsync.clients.coursera.paging import OffsetPaginator
from learnsync.config import CourseraSettings
from learnsync.errors import PagingError
from learnsync.http import RetryPolicy

# offsets small enough to repeat often, in every JSON form a server may send
_OFFSETS = st.integers(min_value=-2, max_value=12)
CURSORS = st.one_of(
    st.none(),
    st.just(""),
    _OFFSETS,
    _OFFSETS.map(str),
    _OFFSETS.map(lambda n: f" {n} "),
    _OFFSETS.map(float),
    st.sampled_from([True, False, 1.5, "abc", "1e3", "0x10", [], {}]),
)
# one page of the cycle: (its cursor, how many elements it carries)
PAGES = st.lists(st.tuples(CURSORS, st.integers(0, 3)), min_size=1, max_size=12)


class CyclingServer:
    """Answers the pages of ``cycle`` in turn, forever; counts what it was asked."""

    def __init__(self, cycle: list[tuple[Any, int]], limit: int) -> None:
        self.cycle = cycle
        self.limit = limit  # more requests than this: the client is looping
        self.starts: list[int] = []
        self.served = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            body = {"access_token": "at", "token_type": "Bearer", "expires_in": 3600}
            return httpx.Response(200, json=body)
        self.starts.append(int(request.url.params["start"]))
        assert len(self.starts) <= self.limit, f"still paging after {self.limit} pages"
        cursor, count = self.cycle[(len(self.starts) - 1) % len(self.cycle)]
        self.served += count
        paging = {} if cursor is None else {"next": cursor}
        elements = [{"id": f"Course~{len(self.starts)}-{i}"} for i in range(count)]
        return httpx.Response(200, json={"elements": elements, "paging": paging})


def _client(server: CyclingServer) -> CourseraClient:
    settings = CourseraSettings(
        org_id="org",
        client_id="cid",
        client_secret="secret",
        refresh_token="refresh",
        api_base="https://api.test/api",
        token_url="https://accounts.test/oauth2/v1/token",
    )
    return CourseraClient(
        settings,
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(max_attempts=1),
        requests_per_second=1e9,
    )


def _first_stop(cycle: list[tuple[Any, int]]) -> int:
    """Pages a correct client reads of ``cycle`` served in a loop: at most one lap plus one (the
    lap's cursors cannot keep advancing when they come round again)."""
    return len(cycle) + 1


@given(cycle=PAGES, fetch_ahead=st.booleans())
def test_paging_ends_within_one_lap_of_any_cursor_cycle(
    cycle: list[tuple[Any, int]], fetch_ahead: bool
) -> None:
    server = CyclingServer(cycle, limit=_first_stop(cycle))
    rows: list[Any] = []
    with _client(server) as client:
        try:
            for row in client.iter_enrollment_reports(
                page_size=3, row_factory=dict, fetch_ahead=fetch_ahead
            ):
                rows.append(row)
        except PagingError:
            ended_normally = False
        else:
            ended_normally = True
    # never the same start twice, never backwards: no row is read twice
    assert server.starts == sorted(set(server.starts)), server.starts
    if ended_normally:
        # it stopped because the last page said so, and handed out every row it was sent
        last_cursor = cycle[(len(server.starts) - 1) % len(cycle)][0]
        assert last_cursor is None or last_cursor == "", (cycle, server.starts)
        assert len(rows) == server.served
        # and no page that announced more rows came empty (a silently short catalog)
        read = [cycle[i % len(cycle)] for i in range(len(server.starts) - 1)]
        assert all(count > 0 for _, count in read), (cycle, server.starts)


@given(
    steps=st.lists(st.integers(1, 50), max_size=15),
    forms=st.lists(st.sampled_from([int, str, float]), min_size=15, max_size=15),
    total_off=st.integers(-3, 3),
)
def test_advancing_cursors_are_always_followed(
    steps: list[int], forms: list[Any], total_off: int
) -> None:
    """A server whose ``next`` always advances is read to its end: no false alarm, no early stop
    (also when ``total`` is off: it is an estimate)."""
    pager = OffsetPaginator(10, route="contents")
    offsets = [sum(steps[: i + 1]) for i in range(len(steps))]
    pages = 0
    while True:
        pages += 1
        index = pages - 1
        nxt = forms[index](offsets[index]) if index < len(offsets) else None
        paging = {"total": max(len(offsets) + 1 + total_off, 0)}
        if nxt is not None:
            paging["next"] = nxt
        if not pager.update(paging, 1):
            break
        assert pager.start == offsets[index]
    assert pages == len(offsets) + 1


@pytest.mark.parametrize(
    "cursor", [0, "0", " 0 ", 0.0, "-1", "abc", True, 1.5, float("nan"), float("inf"), [], {}]
)
def test_a_cursor_that_does_not_advance_is_refused(cursor: Any) -> None:
    with pytest.raises(PagingError):
        OffsetPaginator(10, route="contents").update({"next": cursor}, 1)

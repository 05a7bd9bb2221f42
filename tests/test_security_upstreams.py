"""Hostile or broken upstreams: each attack of issue 10 (finding 6, and the invalid UTF-8 of
finding 7) against the real clients, and the clear error it ends with, within its limit.

The server is a small threaded HTTP server on 127.0.0.1 (real sockets: the size, time and
"what did the server manage to send" checks need them); httpx.MockTransport is used where the
socket is not the point. Waiting is on a fake clock where the code lets it be injected (polling,
retries, rate limits); only the deadlines run on the real clock, with deadlines of a second.
"""

from __future__ import annotations

import gzip
import http.server
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from learnsync import fastjson
from learnsync.clients.coursera import CourseraClient
from learnsync.clients.coursera.client import MAX_PAGE_ELEMENTS, REPORTS_DEADLINE
from learnsync.clients.coursera.paging import MAX_PAGES as COURSERA_MAX_PAGES
from learnsync.clients.threesixty import ThreeSixtyClient
from learnsync.clients.threesixty.bulk import MAX_RESULTS, OPERATION_WAIT
from learnsync.clients.threesixty.client import MAX_PAGE_ITEMS
from learnsync.clients.threesixty.client import MAX_PAGES as THREESIXTY_MAX_PAGES
from learnsync.config import CourseraSettings, ThreeSixtySettings
from learnsync.errors import ApiError, PagingError
from learnsync.http import (
    MAX_BODY_BYTES,
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    REQUEST_DEADLINE,
    HttpSession,
)
from learnsync.model.bulk import BatchFailed, BulkStopped

MiB = 1 << 20
ORG = "org1"
OP_ID = "0123456789abcdef01234567"
CONTENTS = rf"GET /api/businesses\.v1/{ORG}/contents"


class FakeTime:
    """The injected clock and sleep: they move only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.waited = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if seconds > 1e-3:  # not the (disabled) rate limiter's nanosecond spacing
            self.waited += seconds


# -- the hostile server ----------------------------------------------------------------------


class Exchange:
    """One request to the hostile server, and the means to answer it badly."""

    def __init__(self, handler: _Handler, server: Hostile) -> None:
        self.handler = handler
        self.server = server
        self.method = handler.command
        self.path = handler.path
        self.headers = handler.headers
        self.body = handler.body

    def head(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        fields = {"Connection": "close", **(headers or {})}
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in fields.items())]
        self.raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.head(status, headers)
        self.raw(body)

    def raw(self, data: bytes) -> bool:
        """Write ``data``; False once the client hung up (counted: ``server.sent``)."""
        try:
            self.handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        self.server.sent += len(data)
        return True

    def json(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else fastjson.dumps(body)
        fields = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        self.head(status, {**fields, **(headers or {})})
        self.raw(data)

    def drip(self, data: bytes, every: float) -> None:
        """``data`` one byte at a time, a byte every ``every`` seconds, until the client hangs up
        or the test ends."""
        for i in range(len(data)):
            if self.server.stopping.wait(every) or not self.raw(data[i : i + 1]):
                return


Route = Callable[[Exchange], None]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _any(self) -> None:
        self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.server.hostile.dispatch(Exchange(self, self.server.hostile))

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the handler threads: nothing outlives a test
    hostile: Hostile

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.hostile.errors.append(error)


class Hostile:
    """``routes``: ``"METHOD /path"`` regex → what to do. Token endpoints of both APIs answer
    by default. ``seen``: every request line; ``authorized``: those with a bearer token;
    ``sent``: bytes written before the client hung up; ``done``: set when a route has ended."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[str] = []
        self.authorized: list[str] = []
        self.sent = 0
        self.errors: list[BaseException | None] = []
        self.stopping = threading.Event()
        self.done = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hostile = self
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def dispatch(self, exchange: Exchange) -> None:
        line = f"{exchange.method} {exchange.path}"
        self.seen.append(line)
        if exchange.headers.get("Authorization", "").startswith("Bearer "):
            self.authorized.append(line)
        path = line.split("?", 1)[0]
        if path in ("POST /oauth2/v1/token", "POST /api/v2/oauth2/token"):
            exchange.json({"access_token": "at-TOKEN-1", "expires_in": 3600})
            return
        try:
            for pattern, route in self.routes.items():
                if re.fullmatch(pattern, path):
                    route(exchange)
                    return
            exchange.json({"error": "no route"}, 404)
        finally:
            self.done.set()

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def coursera(self, **kw: Any) -> CourseraClient:
        settings = CourseraSettings(
            org_id=ORG,
            client_id="cid",
            client_secret="cs-SECRET-1",
            refresh_token="rt-REFRESH-1",
            api_base=f"{self.base}/api",
            token_url=f"{self.base}/oauth2/v1/token",
        )
        fake = FakeTime()
        kw = {"requests_per_second": 1e9, **kw}
        return CourseraClient(settings, sleep=fake.sleep, clock=fake.time, **kw)

    def threesixty(self, fake: FakeTime | None = None, **kw: Any) -> ThreeSixtyClient:
        settings = ThreeSixtySettings(
            client_id="cid", client_secret="tsx-SECRET-1", base_url=self.base
        )
        fake = fake or FakeTime()
        rates = {"reads_per_second": 1e9, "writes_per_second": 1e9}
        return ThreeSixtyClient(settings, sleep=fake.sleep, clock=fake.time, **{**rates, **kw})


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    try:
        yield server
    finally:
        server.close()
    assert server.errors == []


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text, text
    return text


# -- huge bodies -----------------------------------------------------------------------------


def test_a_huge_announced_body_is_refused_before_it_is_read(hostile: Hostile) -> None:
    """A 1.5 GB answer: refused on its Content-Length; the server manages to send no more than
    the sockets' buffers hold before the client hangs up."""

    def huge(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": "application/json", "Content-Length": str(1_500_000_000)})
        start = hostile.sent
        chunk = b"0" * (256 * 1024)
        while hostile.sent - start < 1_500_000_000 and ex.raw(chunk):
            pass

    hostile.routes[CONTENTS] = huge
    with hostile.coursera() as client, pytest.raises(ApiError) as info:
        list(client.iter_contents())
    assert hostile.done.wait(10)
    message = one_line(info.value)
    assert message.startswith("Coursera contents: the answer to GET /api/businesses.v1/org1/")
    assert "announces 1.397 GiB, more than 32 MiB, the limit of one answer" in message
    assert info.value.code == "answerTooLarge" and info.value.api == "Coursera"
    assert hostile.sent < MAX_BODY_BYTES  # the body was never read: only what buffers took
    assert hostile.seen.count("GET /api/businesses.v1/org1/contents?start=0&limit=1000") == 1


def test_an_endless_body_is_cut_at_the_limit(hostile: Hostile) -> None:
    """No Content-Length, no end: read up to 32 MiB, then the connection is closed."""

    def endless(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": "application/json"})  # the body ends when the server does
        ex.raw(b'{"elements": [')
        chunk = b"0," * (128 * 1024)
        while not hostile.stopping.is_set() and ex.raw(chunk):
            pass

    hostile.routes[CONTENTS] = endless
    with hostile.coursera() as client, pytest.raises(ApiError) as info:
        list(client.iter_contents())
    assert hostile.done.wait(10)
    assert "is larger than 32 MiB, the limit of one answer; not read further" in one_line(
        info.value
    )
    # the client read the 32 MiB, and no more than the socket buffers took after it
    assert MAX_BODY_BYTES < hostile.sent < MAX_BODY_BYTES + 24 * MiB


def test_the_limit_counts_decoded_bytes_a_gzip_bomb_is_refused(hostile: Hostile) -> None:
    bomb = gzip.compress(b" " * (40 * MiB), compresslevel=9)  # ~40 KiB on the wire
    hostile.routes[CONTENTS] = lambda ex: ex.send(
        200, {"Content-Encoding": "gzip", "Content-Length": str(len(bomb))}, bomb
    )
    with hostile.coursera() as client, pytest.raises(ApiError, match="larger than 32 MiB"):
        list(client.iter_contents())
    assert len(bomb) < MiB


def test_a_body_that_is_not_the_encoding_it_claims_is_a_clear_error(hostile: Hostile) -> None:
    hostile.routes[CONTENTS] = lambda ex: ex.send(
        200, {"Content-Encoding": "gzip", "Content-Length": "9"}, b"not gzip!"
    )
    with hostile.coursera() as client, pytest.raises(ApiError) as info:
        list(client.iter_contents())
    assert one_line(info.value).startswith(
        "Coursera contents: the answer to GET /api/businesses.v1/org1/contents could not be "
        "decoded ("
    )
    assert info.value.code == "answerUndecodable"


def test_the_session_limit_is_a_knob(hostile: Hostile) -> None:
    hostile.routes[r"GET /api/v2/integrations"] = lambda ex: ex.json([{"x": "y" * 600_000}] * 2)
    with hostile.threesixty(max_body_bytes=MiB) as target, pytest.raises(ApiError) as info:
        target.list_integrations()
    message = one_line(info.value)
    assert message.startswith("360Learning integrations: the answer to GET /api/v2/integrations")
    assert "announces 1.144 MiB, more than 1 MiB" in message


# -- huge pages ------------------------------------------------------------------------------


def test_a_page_of_three_million_elements_is_refused(hostile: Hostile) -> None:
    page = b'{"elements": [' + b",".join([b"1"] * 3_000_000) + b'], "paging": {}}'
    hostile.routes[CONTENTS] = lambda ex: ex.json(page)
    with hostile.coursera() as client, pytest.raises(PagingError) as info:
        list(client.iter_contents())
    assert one_line(info.value) == (
        "Coursera contents: the page at start 0 holds 3,000,000 elements, more than 5,000, the "
        "limit of one page (learnsync asked for 1,000); refusing it"
    )
    assert MAX_PAGE_ELEMENTS == 5_000


def test_three_million_objects_are_refused_before_they_are_decoded(hostile: Hostile) -> None:
    page = b'{"elements": [' + b",".join([b"{}"] * 3_000_000) + b'], "paging": {}}'
    hostile.routes[CONTENTS] = lambda ex: ex.json(page)
    with hostile.coursera() as client, pytest.raises(ApiError) as info:
        list(client.iter_contents())
    why = "holds 3,000,003 arrays and objects, more than 1,000,000, the limit of one answer"
    assert f"{why}; not decoded" in one_line(info.value)
    assert info.value.code == "answerTooComplex" and MAX_JSON_CONTAINERS == 1_000_000


def test_a_360learning_listing_page_over_its_size_is_refused(hostile: Hostile) -> None:
    hostile.routes[r"GET /api/v2/integrations"] = lambda ex: ex.json([{}] * (MAX_PAGE_ITEMS + 1))
    with hostile.threesixty() as target, pytest.raises(PagingError) as info:
        target.list_integrations()
    assert one_line(info.value) == (
        "360Learning integrations: page 1 holds 1,001 items, more than 1,000, the limit of one "
        "page; refusing it"
    )


def test_more_bulk_results_than_items_a_request_carries_are_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})
        return httpx.Response(200, json=[{"status": "success"}] * 10_001)

    settings = ThreeSixtySettings(client_id="c", client_secret="s-SECRET", base_url="https://h")
    with (
        ThreeSixtyClient(settings, transport=httpx.MockTransport(answer)) as target,
        pytest.raises(ApiError, match=r"10,001 bulk results .* more than 10,000"),
    ):
        target.results(f"https://h/api/v2/bulk/operations/{OP_ID}")


def test_bulk_results_may_echo_what_was_sent_but_no_more(hostile: Hostile) -> None:
    """A results answer echoes the items sent: it may pass the limit of one answer by twice the
    submit's body (here 1 MiB + 2 × ~1.5 MiB), never by more."""
    submitted: list[bytes] = []
    echo = {"on": True}

    def submit(ex: Exchange) -> None:
        submitted.append(ex.body)
        ex.json({}, 202, {"Location": f"/api/v2/bulk/operations/{OP_ID}"})

    def results(ex: Exchange) -> None:
        items = fastjson.loads(submitted[-1])["input"]
        if echo["on"]:
            ex.json([{"status": "success", "resourceId": "r", "input": i} for i in items])
        else:  # far more than was sent
            ex.json([{"status": "success", "junk": "j" * (8 * MiB)}])

    hostile.routes[r"PUT /api/v2/bulk/integrations/i/courses"] = submit
    hostile.routes[rf"GET /api/v2/bulk/operations/{OP_ID}"] = lambda ex: ex.json(
        {"_id": OP_ID, "status": "completed"}
    )
    hostile.routes[rf"GET /api/v2/bulk/operations/{OP_ID}/results"] = results
    batch = [{"externalId": f"c{i}", "description": "d" * 15_000} for i in range(100)]
    with hostile.threesixty(max_body_bytes=MiB) as target:
        ((_, outcome),) = target.run_batches("upsert_courses", "i", [batch])
        assert len(submitted[-1]) > MiB and all(r.ok for r in outcome)
        echo["on"] = False
        with pytest.raises(BulkStopped, match=r"more than 3\.\d+ MiB, the limit of one answer"):
            list(target.run_batches("upsert_courses", "i", [batch]))


# -- slow answers: the deadline --------------------------------------------------------------


def body_drip(ex: Exchange) -> None:
    ex.head(200, {"Content-Length": "100000"})
    ex.drip(b"x" * 100_000, 0.02)


def headers_drip(ex: Exchange) -> None:
    ex.drip(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 9000, 0.02)


def silence(ex: Exchange) -> None:
    ex.server.stopping.wait(30)


@pytest.mark.parametrize("attack", [body_drip, headers_drip, silence])
def test_a_slow_answer_fails_at_its_deadline(hostile: Hostile, attack: Route) -> None:
    """One byte every 20 ms never trips the 60 s idle read timeout; the 1 s deadline of the
    attempt — connect, send, headers and whole body — ends it, and it is not retried."""
    hostile.routes[CONTENTS] = attack
    with hostile.coursera(deadline=1.0) as client:
        assert client.session.bounded  # httpx's transport: its sockets follow the deadline
        started = time.monotonic()
        with pytest.raises(ApiError) as info:
            list(client.iter_contents())
        took = time.monotonic() - started
    assert 1.0 <= took < 1.9  # not the 60 s of the idle read timeout, nor 6 attempts
    message = one_line(info.value)
    assert message.startswith(
        "Coursera contents: GET /api/businesses.v1/org1/contents did not complete within its "
        "deadline of 1 s (connect, send and the whole answer; "
    )
    assert info.value.code == "deadlineExceeded" and info.value.status == 0
    assert sum(line.startswith("GET /api/businesses.v1/") for line in hostile.seen) == 1


def test_the_report_pages_have_their_own_longer_deadline(hostile: Hostile) -> None:
    with hostile.coursera() as client:
        assert client.session.deadline == 300.0 and client.reports_deadline == 600.0


def test_a_caller_given_transport_gets_the_deadline_between_chunks() -> None:
    """MockTransport (or an in-process simulator): no socket to bound, the session checks the
    deadline between the chunks of the body."""

    class Drip(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                time.sleep(0.02)
                yield b" "

    session = HttpSession(
        api="Coursera",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Drip())),
        deadline=0.3,
    )
    assert not session.bounded
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"did not complete within its deadline of 0\.3 s"):
        session.send("GET", "https://h/x", kind="x")
    assert time.monotonic() - started < 0.6
    session.close()


# -- endless paging --------------------------------------------------------------------------


def test_a_coursera_cursor_that_never_ends_stops_at_the_page_limit(hostile: Hostile) -> None:
    def forever(ex: Exchange) -> None:
        start = int(re.search(r"start=(\d+)", ex.path).group(1))  # type: ignore[union-attr]
        ex.json({"elements": [{"id": f"c{start}"}], "paging": {"next": str(start + 1)}})

    hostile.routes[CONTENTS] = forever
    with hostile.coursera(max_pages=25) as client, pytest.raises(PagingError) as info:
        list(client.iter_contents())
    assert one_line(info.value) == (
        "Coursera contents: page 25 (25 rows) still announced paging.next 25; 25 pages is the "
        "limit of one read — a paging cursor that never ends? Stopping"
    )
    assert len(hostile.authorized) == 25


def test_a_coursera_cursor_that_never_ends_stops_when_fetching_ahead(hostile: Hostile) -> None:
    def forever(ex: Exchange) -> None:
        start = int(re.search(r"start=(\d+)", ex.path).group(1))  # type: ignore[union-attr]
        ex.json({"elements": [{}], "paging": {"next": str(start + 1)}})

    hostile.routes[rf"GET /api/businesses\.v1/{ORG}/enrollmentReports"] = forever
    with hostile.coursera(max_pages=10) as client, pytest.raises(PagingError, match="10 pages"):
        list(client.iter_enrollment_reports(row_factory=dict, fetch_ahead=True))


def test_a_360learning_listing_that_never_ends_stops_at_the_page_limit(hostile: Hostile) -> None:
    def forever(ex: Exchange) -> None:
        cursor = re.search(r"cursor=(\d+)", ex.path)
        n = int(cursor.group(1)) if cursor else 0
        ex.json(
            [{"_id": str(n)}], headers={"Link": f'</api/v2/courses?cursor={n + 1}>; rel="next"'}
        )

    hostile.routes[r"GET /api/v2/courses"] = forever
    with hostile.threesixty(max_pages=30) as target, pytest.raises(PagingError) as info:
        target.archived_course_ids("g" * 24)
    assert one_line(info.value) == (
        "360Learning courses: page 30 still links a next page; 30 pages is the limit of one "
        "listing — a paging cursor that never ends? Stopping"
    )
    assert len(hostile.authorized) == 30


# -- a bulk operation that never finishes ----------------------------------------------------


def test_a_bulk_operation_that_never_finishes_stops_the_run_at_its_budget(
    hostile: Hostile,
) -> None:
    status = {"now": "running"}
    hostile.routes[r"PUT /api/v2/bulk/integrations/i/courses"] = lambda ex: ex.json(
        {}, 202, {"Location": f"/api/v2/bulk/operations/{OP_ID}"}
    )
    hostile.routes[rf"GET /api/v2/bulk/operations/{OP_ID}"] = lambda ex: ex.json(
        {"_id": OP_ID, "status": status["now"]}
    )
    hostile.routes[rf"GET /api/v2/bulk/operations/{OP_ID}/results"] = lambda ex: ex.json(
        [{"status": "success", "resourceId": "r1", "input": {"externalId": "x"}}]
    )
    fake = FakeTime()
    with hostile.threesixty(fake) as target, pytest.raises(BulkStopped) as info:
        list(target.run_batches("upsert_courses", "i", [[{"externalId": "x"}]]))
    polls = hostile.seen.count(f"GET /api/v2/bulk/operations/{OP_ID}")
    assert fake.waited == OPERATION_WAIT == 900.0  # the whole budget, not a second more
    assert polls == 188  # docs/waiting.md: 8 growing pauses, then 5 s ones, one at the end
    assert one_line(info.value) == (
        f"the 360Learning bulk operation {OP_ID} was still running after 900s ({polls} polls); "
        "it may finish later — run again to send what it did not apply"
    )
    assert info.value.unknown == [[{"externalId": "x"}]]  # reported failed, sent by the next run
    # the next run: the operation finishes this time
    status["now"] = "completed"
    with hostile.threesixty() as target:
        ((_, results),) = target.run_batches("upsert_courses", "i", [[{"externalId": "x"}]])
    assert results[0].ok and results[0].resource_id == "r1"


# -- deeply nested JSON ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 500])
def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error(
    hostile: Hostile, status: int
) -> None:
    deep = b'{"elements": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    hostile.routes[CONTENTS] = lambda ex: ex.json(deep, status)
    with hostile.coursera() as client, pytest.raises(ApiError) as info:
        list(client.iter_contents())
    why = "nests arrays and objects deeper than 64 levels, the limit; not decoded"
    assert f"(HTTP {status}) {why}" in one_line(info.value)
    assert info.value.code == "answerTooDeep" and MAX_JSON_DEPTH == 64


def test_nesting_up_to_the_limit_is_read(hostile: Hostile) -> None:
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH - 3):  # the envelope, the list and the row are 3 levels
        nested = [nested]
    hostile.routes[CONTENTS] = lambda ex: ex.json({"elements": [{"id": "c1", "x": nested}]})
    with hostile.coursera() as client:
        (row,) = client.iter_contents()
    assert row.id == "c1"


def test_a_deep_bulk_operation_answer_stops_the_pipeline_cleanly(hostile: Hostile) -> None:
    hostile.routes[r"PUT /api/v2/bulk/integrations/i/courses"] = lambda ex: ex.json(
        {}, 202, {"Location": f"/api/v2/bulk/operations/{OP_ID}"}
    )
    hostile.routes[rf"GET /api/v2/bulk/operations/{OP_ID}"] = lambda ex: ex.json(
        b'{"status": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    )
    with hostile.threesixty() as target, pytest.raises(BulkStopped, match="deeper than 64"):
        list(target.run_batches("upsert_courses", "i", [[{"externalId": "x"}]]))


# -- a bulk Location elsewhere ---------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://app.test/api/v2/bulk/operations/" + OP_ID,  # same host, plain HTTP
        "https://app.test:8443/api/v2/bulk/operations/" + OP_ID,  # same host, another port
        "https://evil.test/api/v2/bulk/operations/" + OP_ID,
        "//evil.test/api/v2/bulk/operations/" + OP_ID,  # scheme-relative
    ],
)
def test_a_bulk_location_off_the_configured_origin_is_refused(location: str) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path == "/api/v2/oauth2/token":
            return httpx.Response(200, json={"access_token": "at-SECRET-1", "expires_in": 3600})
        if request.method == "PUT":
            return httpx.Response(202, headers={"Location": location})
        return httpx.Response(200, json={"_id": OP_ID, "status": "completed"})

    settings = ThreeSixtySettings(
        client_id="c", client_secret="s-SECRET", base_url="https://app.test"
    )
    with (
        ThreeSixtyClient(settings, transport=httpx.MockTransport(answer)) as target,
        pytest.raises(ApiError) as info,
    ):
        target.submit("upsert_courses", "i", [{"externalId": "x"}])
    assert "refusing to send the token there" in one_line(info.value)
    assert info.value.code == "foreignOrigin"
    assert [str(r.url) for r in sent] == [
        "https://app.test/api/v2/oauth2/token",
        "https://app.test/api/v2/bulk/integrations/i/courses",
    ]
    # and no request of the client goes there, whichever way it is asked to
    with (
        ThreeSixtyClient(settings, transport=httpx.MockTransport(answer)) as target,
        pytest.raises(ApiError, match="only the origin of \\[threesixty\\] base_url"),
    ):
        target.get_operation(str(httpx.URL("https://app.test").join(location)))
    assert all(r.url.scheme == "https" and r.url.host == "app.test" for r in sent)
    assert all(r.url.port in (None, 443) for r in sent)


def test_a_location_on_the_same_origin_spelled_differently_is_followed() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/oauth2/token":
            return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3600})
        return httpx.Response(202, headers={"Location": f"HTTPS://App.Test:443/op/{OP_ID}"})

    settings = ThreeSixtySettings(
        client_id="c", client_secret="s-SECRET", base_url="https://app.test"
    )
    with ThreeSixtyClient(settings, transport=httpx.MockTransport(answer)) as target:
        url = target.submit("upsert_courses", "i", [{"externalId": "x"}])
    assert url.lower() == f"https://app.test:443/op/{OP_ID}"


def test_a_location_on_another_port_of_the_same_host_gets_no_request(hostile: Hostile) -> None:
    """Real sockets: a second server on 127.0.0.1, another port, never hears from the client."""
    other = Hostile()
    try:
        hostile.routes[r"PUT /api/v2/bulk/integrations/i/courses"] = lambda ex: ex.json(
            {}, 202, {"Location": f"{other.base}/api/v2/bulk/operations/{OP_ID}"}
        )
        with hostile.threesixty() as target, pytest.raises(BatchFailed) as info:
            list(target.run_batches("upsert_courses", "i", [[{"externalId": "x"}]]))
    finally:
        other.close()
    assert other.seen == []
    # accepted, so perhaps applied: that batch fails alone and the next run sends it again
    assert one_line(info.value) == (
        f"360Learning pointed to a bulk operation on another origin ({other.base}, not the one "
        "of [threesixty] base_url); refusing to send the token there; its 1 items may not have "
        "been applied (the next run sends them again)"
    )


# -- invalid UTF-8 ---------------------------------------------------------------------------


def test_a_row_with_invalid_utf8_does_not_cost_the_catalog(hostile: Hostile) -> None:
    rows = [
        b'{"id": "c1", "name": "Good one", "contentType": "Course"}',
        b'{"id": "c2", "name": "Caf\xe9 \xff\xfe broken", "contentType": "Course"}',  # latin-1
        b'{"id": "c3", "name": "\xc3\x89lan \xe2\x82", "contentType": "Course"}',  # cut short
        b'{"id": "c4", "name": "\xc3\x89tude", "contentType": "Course"}',  # valid UTF-8
    ]
    page = b'{"elements": [' + b",".join(rows) + b'], "paging": {"total": 4}}'
    hostile.routes[CONTENTS] = lambda ex: ex.json(page)
    with hostile.coursera() as client:
        contents = list(client.iter_contents())
    assert [c.id for c in contents] == ["c1", "c2", "c3", "c4"]
    assert [c.name for c in contents] == [
        "Good one",
        "Caf\ufffd \ufffd\ufffd broken",
        "\xc9lan \ufffd",
        "\xc9tude",
    ]


def test_the_client_hands_the_replaced_characters_to_the_next_layer(hostile: Hostile) -> None:
    """Raw report rows (``row_factory=dict``: no model in between): U+FFFD where the bytes were
    bad, the rest of the row and of the page as sent."""
    page = (
        b'{"elements": [{"id": "e1", "userEmail": "a@x.test"}, '
        b'{"id": "e2", "userEmail": "b\xc0\xafx@x.test", "programName": "ok"}], "paging": {}}'
    )
    hostile.routes[rf"GET /api/businesses\.v1/{ORG}/enrollmentReports"] = lambda ex: ex.json(page)
    with hostile.coursera() as client:
        rows = list(client.iter_enrollment_reports(row_factory=dict))
    assert rows == [
        {"id": "e1", "userEmail": "a@x.test"},
        {"id": "e2", "userEmail": "b\ufffd\ufffdx@x.test", "programName": "ok"},
    ]


def test_invalid_utf8_in_a_360learning_answer_keeps_the_rest(hostile: Hostile) -> None:
    hostile.routes[r"GET /api/v2/integrations"] = lambda ex: ex.json(
        b'[{"_id": "i1", "externalPlatform": "Cours\xe9ra", "groupId": "g"}]'
    )
    with hostile.threesixty() as target:
        (found,) = target.list_integrations()
    assert found == {"_id": "i1", "externalPlatform": "Cours\ufffdra", "groupId": "g"}


# -- the limits are what the documentation says ----------------------------------------------


def test_the_limits_hold_their_documented_values() -> None:
    """docs/clients.md#limits-on-upstreams and docs/waiting.md state these numbers."""
    assert (32 * MiB, 300.0, 600.0) == (MAX_BODY_BYTES, REQUEST_DEADLINE, REPORTS_DEADLINE)
    assert (MAX_JSON_DEPTH, MAX_JSON_CONTAINERS) == (64, 1_000_000)
    assert (MAX_PAGE_ELEMENTS, COURSERA_MAX_PAGES) == (5_000, 10_000)
    assert (MAX_PAGE_ITEMS, THREESIXTY_MAX_PAGES, MAX_RESULTS) == (1_000, 1_000, 10_000)
    assert OPERATION_WAIT == 900.0

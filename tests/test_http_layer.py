"""The shared HTTP layer: the one retry policy, Retry-After, rate limits, counters, secrets."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from learnsync.errors import ApiError
from learnsync.http import HttpSession, RateLimiter, RetryPolicy, TokenBucket, retry_after
from learnsync.http.tokens import TokenCache
from learnsync.http.urls import same_origin


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _resp(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {})


# -- should_retry: the rule table ------------------------------------------------------------

POLICY = RetryPolicy()
READ_ERR = httpx.ReadTimeout("read timed out")
CONNECT_ERR = httpx.ConnectError("refused")


@pytest.mark.parametrize(
    ("idempotent", "status", "error", "expected"),
    [
        (True, 429, None, True),
        (True, 502, None, True),
        (True, 503, None, True),
        (True, 504, None, True),
        (True, 500, None, True),  # a read that failed on the server: safe to repeat
        (False, 500, None, False),  # a write that failed half-way: never repeated blindly
        (True, 400, None, False),
        (True, 401, None, False),
        (True, 404, None, False),
        (True, 200, None, False),
        (False, 429, None, True),  # refused before doing anything
        (False, 503, None, True),
        (False, 502, None, False),  # the gateway may have forwarded it
        (False, 504, None, False),
        (True, None, READ_ERR, True),
        (True, None, httpx.RemoteProtocolError("peer closed"), True),
        (True, None, httpx.ReadError("reset"), True),
        (True, None, CONNECT_ERR, True),
        (False, None, CONNECT_ERR, True),  # never left this process
        (False, None, httpx.ConnectTimeout("slow"), True),
        (False, None, httpx.PoolTimeout("pool"), True),
        (False, None, READ_ERR, False),  # may have reached the server
        (False, None, httpx.RemoteProtocolError("peer closed"), False),
        (True, None, httpx.UnsupportedProtocol("ftp"), False),
        (True, None, httpx.LocalProtocolError("bad"), False),
    ],
)
def test_should_retry_table(
    idempotent: bool, status: int | None, error: Exception | None, expected: bool
) -> None:
    response = _resp(status) if status is not None else None
    got = POLICY.should_retry(attempt=1, idempotent=idempotent, response=response, error=error)
    assert got is expected


def test_should_retry_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(attempt=2, idempotent=True, response=_resp(503))
    assert not policy.should_retry(attempt=3, idempotent=True, response=_resp(503))


def test_idempotent_methods() -> None:
    assert [m for m in ("GET", "PUT", "DELETE", "POST", "PATCH") if POLICY.is_idempotent(m)] == [
        "GET",
        "PUT",
        "DELETE",
    ]


# -- delay -----------------------------------------------------------------------------------


def test_backoff_doubles_and_caps_without_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, random=lambda: 0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_shrinks_the_wait_within_bounds() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.5, random=lambda: 1.0)
    assert policy.delay(1) == pytest.approx(0.5)
    assert policy.delay(2) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0", 0.0), ("2.5", 2.5), ("-4", 0.0), ("soon", None), ("", None)],
)
def test_retry_after_seconds(header: str, expected: float | None) -> None:
    assert retry_after(_resp(429, {"Retry-After": header}), now=0.0) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(datetime(2025, 3, 1, 12, 0, 7, tzinfo=UTC), usegmt=True)
    assert retry_after(_resp(503, {"Retry-After": header}), now=now.timestamp()) == 7.0
    past = format_datetime(datetime(2025, 3, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert retry_after(_resp(503, {"Retry-After": past}), now=now.timestamp()) == 0.0


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0, random=lambda: 0.0)
    assert policy.delay(1, _resp(429, {"Retry-After": "4"})) == 4.0
    assert policy.delay(1, _resp(429, {"Retry-After": "3600"})) == 10.0


def test_429_without_header_waits_at_least_a_second() -> None:
    policy = RetryPolicy(base_delay=0.1, random=lambda: 0.0)
    assert policy.delay(1, _resp(429)) == 1.0
    assert policy.delay(1, _resp(503)) == pytest.approx(0.1)


# -- the session -----------------------------------------------------------------------------


def _session(handler, fake: FakeTime, **kw) -> HttpSession:  # type: ignore[no-untyped-def]
    return HttpSession(
        api="Test",
        transport=httpx.MockTransport(handler),
        sleep=fake.sleep,
        clock=fake.time,
        retry=kw.pop("retry", RetryPolicy(random=lambda: 0.0)),
        **kw,
    )


def test_session_retries_a_burst_then_returns_and_counts_every_attempt() -> None:
    answers = iter([503, 502, 429, 200])
    fake = FakeTime()
    session = _session(lambda req: httpx.Response(next(answers)), fake)
    response = session.send("GET", "https://x.test/a", kind="things")
    assert response.status_code == 200
    assert session.request_count == 4
    assert session.request_counts == {("GET", "things"): 4}
    assert fake.sleeps == [0.5, 1.0, 2.0]  # the 429 waits its backoff (≥ 1 s)


def test_session_honours_retry_after() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)])
    fake = FakeTime()
    session = _session(lambda req: next(answers), fake)
    assert session.send("GET", "https://x.test/a", kind="k").status_code == 200
    assert fake.sleeps == [7.0]


def test_session_gives_up_and_returns_last_answer() -> None:
    fake = FakeTime()
    session = _session(lambda req: httpx.Response(503), fake, retry=RetryPolicy(max_attempts=3))
    assert session.send("GET", "https://x.test/a", kind="k").status_code == 503
    assert session.request_count == 3
    assert len(fake.sleeps) == 2


def test_session_transport_errors_exhausted_raise_api_error_status_0() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake = FakeTime()
    session = _session(handler, fake, retry=RetryPolicy(max_attempts=4, random=lambda: 0.0))
    with pytest.raises(ApiError) as info:
        session.send("GET", "https://x.test/a", kind="k")
    assert info.value.status == 0
    assert info.value.code == "ReadTimeout"
    assert "after 4 attempts" in info.value.message
    assert session.request_count == 4


def test_dropped_connection_is_retried_for_get_not_for_post() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return httpx.Response(200)

    fake = FakeTime()
    assert _session(handler, fake).send("GET", "https://x.test", kind="k").status_code == 200
    calls["n"] = 0
    with pytest.raises(ApiError) as info:
        _session(handler, fake).send("POST", "https://x.test", kind="k", json={})
    assert "not retried" in info.value.message
    assert calls["n"] == 1


def test_connect_error_is_retried_even_for_post() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(202)

    fake = FakeTime()
    response = _session(handler, fake).send("POST", "https://x.test", kind="k", json={})
    assert response.status_code == 202
    assert calls["n"] == 3


def test_scrub_replaces_every_known_secret() -> None:
    session = HttpSession(api="Test")
    session.add_secret("s3cr3t-value")
    session.add_secret("tok-abcdef")
    scrubbed = session.scrub({"a": ["x s3cr3t-value y"], "tok-abcdef": 1})
    assert "s3cr3t-value" not in str(scrubbed) and "tok-abcdef" not in str(scrubbed)
    assert scrubbed == {"a": ["x [redacted] y"], "[redacted]": 1}


# -- rate limits -----------------------------------------------------------------------------


def test_token_bucket_spaces_requests_to_the_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10.0, clock=fake.time, sleep=fake.sleep)
    for _ in range(21):
        bucket.acquire()
    # the first is free; 20 more at 10/s take 2 seconds
    assert fake.now - 1_700_000_000.0 == pytest.approx(2.0)


def test_token_bucket_burst_is_saved_up_to_its_size() -> None:
    fake = FakeTime()
    bucket = TokenBucket(5.0, burst=5.0, clock=fake.time, sleep=fake.sleep)
    fake.now += 100  # idle time does not bank more than the burst
    for _ in range(5):
        bucket.acquire()
    assert fake.sleeps == []
    bucket.acquire()
    assert sum(fake.sleeps) == pytest.approx(0.2)


def test_limiter_separates_reads_and_writes() -> None:
    fake = FakeTime()
    limiter = RateLimiter.threesixty(clock=fake.time, sleep=fake.sleep)
    for _ in range(51):
        limiter.acquire("GET")
    reads = fake.now - 1_700_000_000.0
    assert reads == pytest.approx(1.0)
    for _ in range(11):
        limiter.acquire("POST")
    assert fake.now - 1_700_000_000.0 - reads == pytest.approx(1.0, abs=0.11)


def test_token_bucket_is_thread_safe() -> None:
    bucket = TokenBucket(400.0)
    start = time.monotonic()
    threads = [
        threading.Thread(target=lambda: [bucket.acquire() for _ in range(50)]) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 tokens at 400/s: about half a second, never much less
    assert time.monotonic() - start >= 199 / 400 - 0.02


@pytest.mark.parametrize(
    ("body", "renewed_after"),
    [
        ({"expires_in": 3600}, 3300.0),  # five minutes before expiry
        ({"expires_in": "1800"}, 1500.0),  # a numeric string counts
        ({"expires_in": 120}, 60.0),  # shorter than ten minutes: half-way
        ({"expires_in": 0}, 900.0),  # not positive: the default lifetime (1,200 s here)
        ({"expires_in": "soon"}, 900.0),
        ({}, 900.0),
        (None, 900.0),
    ],
)
def test_token_cache_renews_before_expiry(body: Any, renewed_after: float) -> None:
    now = [1000.0]
    cache = TokenCache(lambda: now[0], default_lifetime=1200.0)
    assert cache.get() is None
    assert cache.put("tok", body) == "tok"
    now[0] += renewed_after - 0.001
    assert cache.get() == "tok"
    now[0] += 0.002
    assert cache.get() is None
    cache.put("tok", body)
    cache.clear()
    assert cache.get() is None


# -- where a token may go ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.test/api/v2/x", True),
        ("HTTPS://App.Test:443/api", True),  # the default port, spelled out
        ("http://app.test/api", False),  # same host, plain HTTP: the reported hole
        ("https://app.test:8443/api", False),
        ("https://app.test.evil/api", False),
        ("https://evil.test/api", False),
        ("https://app.test:notaport/api", False),
        ("/api/v2/x", False),  # relative: resolve it first
        ("ftp://app.test/x", False),
    ],
)
def test_same_origin_compares_scheme_host_and_port(url: str, expected: bool) -> None:
    assert same_origin(url, "https://app.test") is expected


def test_the_default_transport_is_bound_by_the_deadline() -> None:
    """The deadline reaches into httpx's pool (learnsync.http.deadline.bind): an httpx upgrade
    that moves it fails here, not silently."""
    session = HttpSession(api="x")
    try:
        assert session.bounded
    finally:
        session.close()
    given = HttpSession(api="x", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    try:
        assert not given.bounded
    finally:
        given.close()


def test_a_read_timeout_before_the_deadline_is_still_retried() -> None:
    fake = FakeTime()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("idle", request=request)
        return httpx.Response(200, json={"ok": True})

    session = _session(handler, fake)
    assert session.send("GET", "https://h/x", kind="x").json() == {"ok": True}
    assert len(calls) == 2

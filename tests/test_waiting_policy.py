"""One waiting policy (docs/waiting.md): each waiting loop has one budget, and that budget is what
happens — asserted on a fake clock with the exact time waited and the exact request count.

The transport is ``httpx.MockTransport``; the clock only moves when the code under test sleeps.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from learnsync.clients.threesixty import ThreeSixtyClient
from learnsync.config import ThreeSixtySettings, parse_config
from learnsync.errors import ApiError
from learnsync.http import HttpSession, RetryPolicy
from learnsync.http.waiting import Budget
from learnsync.model.bulk import BulkStopped
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack

BASE = "https://app.test"
BUSY = {"error": {"code": "bulkOperationsConcurrencyLimitReached", "message": "3 max"}}
OP_URL = f"{BASE}/api/v2/bulk/operations/{'1' * 24}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.start = self.now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if seconds > 1e-3:  # not the rate limiter's spacing
            self.sleeps.append(seconds)

    @property
    def waited(self) -> float:
        return self.now - self.start


Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A scripted 360Learning: the token, then ``handler`` for everything else (counted)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/oauth2/token":
            body = {"access_token": "tok", "token_type": "Bearer", "expires_in": 36000}
            return httpx.Response(200, json=body)
        self.calls.append(f"{request.method} {request.url.path}")
        return self.handler(request)


def client(server: Server, clock: FakeClock, **kw: Any) -> ThreeSixtyClient:
    settings = ThreeSixtySettings(
        client_id="c", client_secret="secret-1234", group_id="a" * 24, author_id="b" * 24,
        base_url=BASE,
    )  # fmt: skip
    return ThreeSixtyClient(
        settings,
        transport=httpx.MockTransport(server),
        retry=kw.pop("retry", RetryPolicy(random=lambda: 0.0)),
        sleep=clock.sleep,
        clock=clock.time,
        reads_per_second=1e9,
        writes_per_second=1e9,
        **kw,
    )


def session(handler: Handler, clock: FakeClock, **policy: Any) -> HttpSession:
    return HttpSession(
        api="test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(random=lambda: 0.0, **policy),
        sleep=clock.sleep,
        clock=clock.time,
    )


# -- bulk-slot waiting -----------------------------------------------------------------------


def test_slots_held_by_others_longer_than_the_budget_give_up_after_exactly_the_budget() -> None:
    """Was: 2,113 s (35 min) and 727 requests for a documented "up to 10 minutes"."""
    clock = FakeClock()
    server = Server(lambda request: httpx.Response(429, json=BUSY))
    target = client(server, clock)
    with pytest.raises(ApiError) as info:
        list(target.run_batches("upsert_courses", "i" * 24, [[{"externalId": "a"}]]))
    assert clock.waited == 600.0
    # 1, 2, 4, 8, 16, then 30 s pauses: 24 pauses in 600 s, a submit before each and at the end
    assert clock.sleeps[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert len(clock.sleeps) == 24
    assert len(server.calls) == 25
    assert target.request_count == 26  # and the token
    err = info.value
    assert isinstance(err, BulkStopped) and err.not_sent == [[{"externalId": "a"}]]
    assert err.status == 429 and err.code == "bulkOperationsConcurrencyLimitReached"
    assert "\n" not in err.message
    assert "held all 3 bulk slots" in err.message and "600s" in err.message
    assert "run again later" in err.message


def test_slot_budget_is_configurable_and_exact() -> None:
    clock = FakeClock()
    server = Server(lambda request: httpx.Response(429, json=BUSY))
    with pytest.raises(ApiError):
        list(
            client(server, clock, concurrency_patience=10.0).run_batches(
                "import_stats", "i", [[{"x": 1}]]
            )
        )
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert clock.waited == 10.0
    assert len(server.calls) == 5


def test_retries_of_503_inside_slot_waiting_consume_the_slot_budget() -> None:
    """The HTTP retry loop inside slot waiting does not restart a budget of its own per attempt:
    its waits are cut to what is left of the slot budget."""
    clock = FakeClock()
    answers = iter(
        [httpx.Response(429, json=BUSY)] * 2
        + [httpx.Response(503, json={"error": "unavailable"})] * 50
    )
    server = Server(lambda request: next(answers))
    with pytest.raises(BulkStopped) as info:
        list(
            client(server, clock, concurrency_patience=5.0).run_batches(
                "import_stats", "i", [[{"x": 1}]]
            )
        )
    # slot pauses 1 + 2 (= 3 s), then 503s retried with 0.5, 1.0 and the last 0.5 s left
    assert clock.sleeps == [1.0, 2.0, 0.5, 1.0, 0.5]
    assert clock.waited == 5.0
    assert len(server.calls) == 6
    assert info.value.status == 503


def test_retry_after_on_a_busy_submit_is_honoured_within_the_slot_budget() -> None:
    clock = FakeClock()
    answers = iter([httpx.Response(429, json=BUSY, headers={"Retry-After": "7"})] * 100)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return next(answers)
        raise AssertionError("nothing is accepted")

    server = Server(handler)
    with pytest.raises(BulkStopped):
        list(
            client(server, clock, concurrency_patience=20.0).run_batches(
                "upsert_courses", "i", [[{"externalId": "a"}]]
            )
        )
    assert clock.sleeps == [7.0, 7.0, 6.0]
    assert clock.waited == 20.0


def test_slots_freed_within_the_budget_send_the_batch() -> None:
    clock = FakeClock()
    ops: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            if clock.waited < 100:
                return httpx.Response(429, json=BUSY)
            ops["1" * 24] = 0
            return httpx.Response(202, headers={"Location": OP_URL})
        if request.url.path.endswith("/results"):
            return httpx.Response(200, json=[{"status": "success", "resourceId": "c1"}])
        return httpx.Response(200, json={"_id": "1" * 24, "status": "completed"})

    server = Server(handler)
    out = list(client(server, clock).run_batches("upsert_courses", "i", [[{"externalId": "a"}]]))
    assert out[0][1][0].ok
    # 1+2+4+8+16+30+30+30 = 121 s ≥ 100: the ninth submit is accepted
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert server.calls.count("PUT /api/v2/bulk/integrations/i/courses") == 9


# -- operation polling -----------------------------------------------------------------------


def test_operation_polling_stops_at_its_budget() -> None:
    clock = FakeClock()
    server = Server(
        lambda request: httpx.Response(200, json={"_id": "1" * 24, "status": "running"})
    )
    target = client(server, clock, wait_timeout=60.0)
    with pytest.raises(ApiError) as info:
        target.wait(OP_URL)
    assert clock.waited == 60.0  # was: past the hour's end by up to one pause
    # 0.2 × 1.5ⁿ up to 5 s (9.85 s in 8 pauses), then 5 s pauses, the last one cut to the end
    assert clock.sleeps[:9] == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0125, 1.51875,
                                               2.278125, 3.4171875, 5.0])  # fmt: skip
    assert len(clock.sleeps) == 19
    assert clock.sleeps[-1] == pytest.approx(60.0 - 9.8515625 - 10 * 5.0)
    assert len(server.calls) == 20  # a poll before each pause and one at the deadline
    assert "still running after 60s (20 polls)" in info.value.message


def test_http_retries_of_a_poll_consume_the_polling_budget() -> None:
    clock = FakeClock()
    server = Server(lambda request: httpx.Response(502))
    with pytest.raises(ApiError) as info:
        client(server, clock, wait_timeout=10.0).wait(OP_URL)
    # the poll's retries (0.5, 1, 2, 4, …) are cut to the 10 s polling budget, not 15.5 s more
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 2.5]
    assert clock.waited == 10.0
    assert len(server.calls) == 6
    assert info.value.status == 502


def test_poll_pauses_never_pass_the_budget_when_polls_are_slow() -> None:
    clock = FakeClock()

    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 2.0  # each poll takes 2 s of the budget
        return httpx.Response(200, json={"_id": "1" * 24, "status": "queued"})

    server = Server(slow)
    with pytest.raises(ApiError):
        client(server, clock, wait_timeout=30.0, poll_initial=5.0).wait(OP_URL)
    # the last poll starts at the deadline at the latest (and takes its 2 s)
    assert clock.waited <= 30.0 + 2.0
    assert sum(clock.sleeps) + 2.0 * len(server.calls) == clock.waited


# -- HTTP retries ----------------------------------------------------------------------------


def test_retry_after_is_honoured_but_capped_by_the_request_budget() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, headers={"Retry-After": "50"})

    response = session(handler, clock).send("GET", f"{BASE}/x", kind="x")
    assert response.status_code == 429
    assert clock.sleeps == [50.0, 50.0, 20.0]  # 120 s in all (RetryPolicy.max_total_wait)
    assert clock.waited == 120.0
    assert len(calls) == 4  # was: 6 requests and 250 s


def test_retry_after_beyond_its_cap_is_cut_to_the_cap_then_to_the_budget() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "3600"})

    session(handler, clock, max_total_wait=100.0).send("GET", f"{BASE}/x", kind="x")
    assert clock.sleeps == [60.0, 40.0]
    assert len(calls) == 3


def test_429_without_retry_after_backs_off_from_one_second() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, json={"error": "tooManyRequests"})

    session(handler, clock).send("GET", f"{BASE}/x", kind="x")
    assert clock.sleeps == [1.0, 1.0, 2.0, 4.0, 8.0]
    assert len(calls) == 6


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: httpx.Response(502),
        lambda request: (_ for _ in ()).throw(httpx.RemoteProtocolError("dropped")),
        lambda request: (_ for _ in ()).throw(httpx.ReadTimeout("slow")),
    ],
    ids=["5xx", "dropped connection", "slow answer"],
)
def test_get_failures_use_the_attempts_budget(failure: Handler) -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return failure(request)

    try:
        session(handler, clock).send("GET", f"{BASE}/x", kind="x")
    except ApiError as exc:
        assert exc.status == 0 and "after 6 attempts" in exc.message
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert len(calls) == 6


def test_a_slow_answer_to_a_bulk_submit_is_not_repeated() -> None:
    clock = FakeClock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow")

    with pytest.raises(ApiError):
        session(handler, clock).send("PUT", f"{BASE}/x", kind="bulk", idempotent=False)
    assert clock.sleeps == [] and len(calls) == 1


def test_an_outer_budget_caps_the_request_retries() -> None:
    clock = FakeClock()
    outer = Budget(3.0, clock=clock.time, sleep=clock.sleep)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    session(handler, clock).send("GET", f"{BASE}/x", kind="x", budget=outer)
    assert clock.sleeps == [0.5, 1.0, 1.5]
    assert outer.expired and outer.waited == 3.0
    assert len(calls) == 4


def test_budget_nesting_never_multiplies() -> None:
    clock = FakeClock()
    outer = Budget(10.0, clock=clock.time, sleep=clock.sleep)
    for _ in range(5):  # five inner loops, each "of 6 s": together still 10 s
        inner = outer.child(6.0)
        while not inner.expired:
            inner.sleep(4.0)
    assert clock.waited == 10.0 and outer.waited == 10.0


def test_a_fake_sleep_that_does_not_move_the_clock_still_ends_the_budget() -> None:
    slept: list[float] = []
    budget = Budget(5.0, clock=lambda: 0.0, sleep=slept.append)
    while not budget.expired:
        budget.sleep(2.0)
    assert slept == [2.0, 2.0, 1.0]


def test_patterns_used_by_the_docs_exist() -> None:
    """docs/waiting.md names these knobs; keep them real."""
    text = (Path(__file__).parent.parent / "docs" / "waiting.md").read_text(encoding="utf-8")
    for knob in ("max_attempts", "max_total_wait", "concurrency_patience", "wait_timeout",
                 "slot_wait_initial", "slot_wait_max", "max_retry_after"):  # fmt: skip
        assert re.search(rf"`[^`]*\b{knob}\b[^`]*`", text), knob
        assert (
            hasattr(RetryPolicy(), knob) or knob in ThreeSixtyClient.__init__.__code__.co_varnames
        )
    assert "RetryPolicy" in text and "Budget" in text


# -- the same budgets against the 360Learning simulator's fault injection -------------------


def test_slot_budget_against_the_simulator_fault_injection(stack: Stack) -> None:
    """The simulator (``conftest``'s, on real sockets) answers every bulk submit with the
    concurrency 429 (``sandbox/faults.py``); on its fake clock the client waits exactly its
    budget."""
    settings = parse_config(tomllib.loads(stack.config_toml())).threesixty
    clock = FakeClock()
    with ThreeSixtyClient(
        settings,
        retry=RetryPolicy(random=lambda: 0.0),
        sleep=clock.sleep,
        clock=clock.time,
        reads_per_second=1e9,
        writes_per_second=1e9,
    ) as target:
        integration, _ = target.ensure_integration(
            name="waiting-test", group_id=settings.group_id, author_id=settings.author_id
        )
        fault = stack.threesixty.faults.add(
            Fault(path=r"/api/v2/bulk/integrations/[^/]+/courses$", status=429, body=BUSY, times=-1)
        )
        with pytest.raises(BulkStopped, match="held all 3 bulk slots"):
            list(target.run_batches("upsert_courses", integration["_id"], [[{"externalId": "x"}]]))
    assert fault.hits == 25
    assert clock.waited == 600.0
    assert clock.sleeps[-1] == 600.0 - (1 + 2 + 4 + 8 + 16) - 18 * 30.0

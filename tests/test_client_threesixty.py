"""The 360Learning client through httpx.MockTransport: a small scripted 360Learning."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from learnsync.clients.threesixty import ThreeSixtyClient, chunked, limit_for, scope_for
from learnsync.config import ThreeSixtySettings
from learnsync.errors import ApiError, AuthError, BulkOperationError, ConfigError, PagingError
from learnsync.http import RetryPolicy
from learnsync.model.bulk import BatchFailed, BulkResult

BASE = "https://app.test"
SECRET = "tsx-SECRET-1234"
GROUP = "a" * 24
AUTHOR = "b" * 24


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if seconds > 1e-3:  # not the (disabled) rate limiter's nanosecond spacing
            self.sleeps.append(seconds)


class Fake360:
    """Token, integrations (Link paging), bulk operations with a 3-slot concurrency limit."""

    def __init__(self) -> None:
        self.expires_in: Any = 3600
        self.tokens = 0
        self.token_status: tuple[int, Any] | None = None
        self.requests: list[httpx.Request] = []
        self.integrations: list[dict[str, Any]] = []
        self.page_size = 2
        self.relative_links = False
        self.reserved = {"Coursera"}
        self.ops: dict[str, dict[str, Any]] = {}
        self.polls_to_finish = 2
        self.fail_ops: set[int] = set()  # submission indexes that end in error
        self.max_unfinished = 0
        self.submit_script: list[httpx.Response] = []  # answers that pre-empt submits
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}

    def unfinished(self) -> int:
        return sum(1 for op in self.ops.values() if op["status"] not in ("completed", "error"))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/v2/oauth2/token":
            if self.token_status:
                return httpx.Response(self.token_status[0], json=self.token_status[1])
            self.tokens += 1
            body = {"token_type": "Bearer", "access_token": f"tok-{self.tokens}"}
            return httpx.Response(200, json={**body, "expires_in": self.expires_in})
        assert request.headers["360-api-version"] == "v2.0"
        assert request.headers["Accept"] == "application/json"
        if request.headers.get("Authorization") != f"Bearer tok-{self.tokens}":
            return httpx.Response(401, json={"error": "invalid_token"})
        for pattern, route in self.routes.items():
            if re.fullmatch(pattern, f"{request.method} {path}"):
                return route(request)
        if path == "/api/v2/integrations":
            return self.integrations_route(request)
        if path.startswith("/api/v2/bulk/integrations/"):
            return self.submit(request)
        m = re.fullmatch(r"/api/v2/bulk/operations/(\w+)(/results)?", path)
        if m:
            return self.operation(m.group(1), bool(m.group(2)))
        return httpx.Response(404, json={"error": {"code": "notFound", "message": path}})

    def integrations_route(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            body = json.loads(request.content)
            if body["externalPlatform"] in self.reserved:
                err = {"code": "reservedPlatformName", "message": "reserved"}
                return httpx.Response(400, json={"error": err})
            if any(
                i["externalPlatform"] == body["externalPlatform"]
                and i["groupId"] == body["groupId"]
                for i in self.integrations
            ):
                err = {"code": "duplicateExternalPlatform", "message": "dup"}
                return httpx.Response(400, json={"error": err})
            created = {"_id": f"{len(self.integrations):024x}", **body}
            self.integrations.append(created)
            return httpx.Response(201, json=created)
        name = request.url.params.get("externalPlatform[eq]")
        rows = [i for i in self.integrations if name is None or i["externalPlatform"] == name]
        start = int(request.url.params.get("next", "0"))
        chunk = rows[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(rows):
            # the cursor keeps the filter (docs/api-notes.md#360learning-pagination)
            query = f"next={start + self.page_size}" + (
                f"&externalPlatform%5Beq%5D={name}" if name else ""
            )
            link = f"/api/v2/integrations?{query}"
            if not self.relative_links:
                link = BASE + link
            headers["Link"] = f'<{link}>; rel="next"'
        return httpx.Response(200, json=chunk, headers=headers)

    def submit(self, request: httpx.Request) -> httpx.Response:
        if self.submit_script:
            return self.submit_script.pop(0)
        if self.unfinished() >= 3:
            err = {"code": "bulkOperationsConcurrencyLimitReached", "message": "3 max"}
            return httpx.Response(429, json={"error": err})
        index = len(self.ops)
        op_id = f"{index + 1:024x}"
        items = json.loads(request.content)["input"]
        self.ops[op_id] = {
            "_id": op_id,
            "status": "pending",
            "polls": 0,
            "index": index,
            "input": items,
        }
        self.max_unfinished = max(self.max_unfinished, self.unfinished())
        return httpx.Response(202, headers={"Location": f"{BASE}/api/v2/bulk/operations/{op_id}"})

    def operation(self, op_id: str, results: bool) -> httpx.Response:
        op = self.ops[op_id]
        if results:
            if op["status"] not in ("completed", "error"):
                err = {"code": "bulkOperationNotRun", "message": "not yet"}
                return httpx.Response(400, json={"error": err})
            out = []
            for item in op["input"]:
                if item.get("bad"):
                    out.append({"input": item, "status": "error", "errorMessage": "bad item"})
                else:
                    rid = "c" + str(item.get("externalId", ""))
                    out.append({"input": item, "status": "success", "resourceId": rid})
            return httpx.Response(200, json=out)
        op["polls"] += 1
        if op["polls"] >= self.polls_to_finish:
            op["status"] = "error" if op["index"] in self.fail_ops else "completed"
            if op["status"] == "error":
                op["errorMessage"] = "the import crashed"
        else:
            op["status"] = "running"
        public = {k: v for k, v in op.items() if k not in ("polls", "index", "input")}
        return httpx.Response(200, json=public)


def settings(**kw: Any) -> ThreeSixtySettings:
    base = dict(client_id="tid", client_secret=SECRET, group_id=GROUP, author_id=AUTHOR)
    return ThreeSixtySettings(**{**base, "base_url": BASE, **kw})


def client_for(server: Fake360, fake: FakeTime | None = None, **kw: Any) -> ThreeSixtyClient:
    fake = fake or FakeTime()
    return ThreeSixtyClient(
        settings(),
        transport=httpx.MockTransport(server),
        retry=kw.pop("retry", RetryPolicy(random=lambda: 0.0)),
        sleep=fake.sleep,
        clock=fake.time,
        # no client-side spacing unless a test is about it: sleeps then show only retry/poll waits
        reads_per_second=kw.pop("reads_per_second", 1e9),
        writes_per_second=kw.pop("writes_per_second", 1e9),
        **kw,
    )


def course(i: int, **extra: Any) -> dict[str, Any]:
    return {"externalId": f"Course~{i}", "name": f"C{i}", **extra}


# -- token -----------------------------------------------------------------------------------


def test_token_request_is_json_client_credentials() -> None:
    server = Fake360()
    client_for(server).list_integrations()
    token_request = server.requests[0]
    assert token_request.url == f"{BASE}/api/v2/oauth2/token"
    assert json.loads(token_request.content) == {
        "grant_type": "client_credentials",
        "client_id": "tid",
        "client_secret": SECRET,
    }


@pytest.mark.parametrize("expires_in", [3600, "3600"])
def test_token_renewed_five_minutes_before_expiry(expires_in: Any) -> None:
    server = Fake360()
    server.expires_in = expires_in
    fake = FakeTime()
    client = client_for(server, fake)
    client.list_integrations()
    fake.now += 3600 - 301
    client.list_integrations()
    assert server.tokens == 1
    fake.now += 2
    client.list_integrations()
    assert server.tokens == 2


def test_401_reauthenticates_once() -> None:
    server = Fake360()
    client = client_for(server)
    client.list_integrations()
    server.tokens += 1  # the platform revoked tok-1: the next one it will issue is tok-3
    assert client.list_integrations() == []
    assert server.tokens == 3
    assert client.request_counts[("GET", "integrations")] == 3


def test_401_twice_is_auth_error() -> None:
    server = Fake360()
    server.routes["GET /api/v2/groups/.*"] = lambda r: httpx.Response(
        401, json={"error": "invalid_token"}
    )
    with pytest.raises(AuthError, match="still active"):
        client_for(server).get_group(GROUP)
    assert server.tokens == 2


def test_invalid_client_is_actionable_auth_error() -> None:
    server = Fake360()
    server.token_status = (401, {"error": "invalid_client"})
    with pytest.raises(AuthError) as info:
        client_for(server).list_integrations()
    assert "refused the client credentials (invalid_client)" in info.value.message
    assert "[threesixty] client_id and client_secret" in info.value.message


# -- 403 scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v2/bulk/operations/" + "1" * 24, "bulkOperations:read"),
        ("GET", "/api/v2/bulk/operations/" + "1" * 24 + "/results", "bulkOperations:read"),
        ("PUT", "/api/v2/bulk/integrations/x/courses", "integrations:bulk"),
        ("DELETE", "/api/v2/bulk/integrations/x/courses", "integrations:bulk"),
        ("POST", "/api/v2/bulk/integrations/x/stats", "integrations:bulk"),
        ("GET", "/api/v2/integrations", "integrations:read"),
        ("GET", "/api/v2/integrations/x/courses/Course~1", "integrations:read"),
        ("POST", "/api/v2/integrations", "integrations:write"),
        ("PATCH", "/api/v2/integrations/x", "integrations:write"),
        ("PUT", "/api/v2/courses/x/archive", "courses:write"),
        ("GET", "/api/v2/courses/x", "courses:read"),
        ("GET", "/api/v2/courses/x/tags", "tags:read"),
        ("GET", "/api/v2/courses/stats", "courseStats:read"),
        ("GET", "/api/v2/users", "users:read"),
        ("GET", "/api/v2/groups/x", "groups:read"),
        ("POST", "/api/v2/bulk/groups/catalog", "groups:bulk"),
    ],
)
def test_scope_for_route(method: str, path: str, scope: str) -> None:
    assert scope_for(method, path) == scope


def test_403_names_the_missing_scope() -> None:
    server = Fake360()
    server.routes[r"GET /api/v2/bulk/operations/\w+"] = lambda r: httpx.Response(
        403, json={"error": {"code": "invalid_scope", "message": "nope"}}
    )
    client = client_for(server)
    with pytest.raises(AuthError) as info:
        client.wait(f"{BASE}/api/v2/bulk/operations/{'1' * 24}")
    assert info.value.message == (
        "360Learning refused GET /api/v2/bulk/operations/…: the API credential lacks the scope "
        "bulkOperations:read — add it in the API v2 admin panel"
    )


# -- Link paging -----------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [False, True])
def test_list_integrations_follows_link_pages(relative: bool) -> None:
    server = Fake360()
    server.relative_links = relative
    server.integrations = [
        {"_id": f"{i:024x}", "externalPlatform": "X", "groupId": GROUP} for i in range(5)
    ]
    client = client_for(server)
    assert [i["_id"] for i in client.list_integrations("X")] == [f"{i:024x}" for i in range(5)]
    assert client.request_counts[("GET", "integrations")] == 3


def test_link_repeating_itself_is_paging_error() -> None:
    server = Fake360()
    link = f'<{BASE}/api/v2/integrations?next=abc>; rel="next"'
    server.routes["GET /api/v2/integrations"] = lambda r: httpx.Response(
        200, json=[{"_id": "1"}], headers={"Link": link}
    )
    with pytest.raises(PagingError, match="looping"):
        client_for(server).list_integrations("X")


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.test/x",  # another host
        BASE.replace("https://", "http://") + "/api/v2/integrations?next=2",  # https → http
    ],
)
def test_link_to_another_origin_is_refused(link: str) -> None:
    server = Fake360()
    server.routes["GET /api/v2/integrations"] = lambda r: httpx.Response(
        200, json=[], headers={"Link": f'<{link}>; rel="next"'}
    )
    with pytest.raises(PagingError, match="another origin"):
        client_for(server).find_integration("X", GROUP)


# -- ensure_integration ----------------------------------------------------------------------


def test_ensure_creates_with_the_spec_defaults() -> None:
    server = Fake360()
    integration, warnings = client_for(server).ensure_integration(
        name="Coursera for Business", group_id=GROUP, author_id=AUTHOR
    )
    assert warnings == []
    assert server.integrations == [integration]
    assert integration["defaultCompletion"] is True
    assert integration["defaultProgress"] == 0
    assert integration["noGroupPropagation"] is False


def test_ensure_reuses_same_name_same_group_and_warns_on_defaults() -> None:
    server = Fake360()
    other_group = {"_id": "1" * 24, "externalPlatform": "CB", "groupId": "c" * 24}
    mine = {"_id": "2" * 24, "externalPlatform": "CB", "groupId": GROUP, "defaultProgress": 50}
    server.integrations = [other_group, mine]
    integration, warnings = client_for(server).ensure_integration(
        name="CB", group_id=GROUP, author_id=AUTHOR
    )
    assert integration == mine
    assert len(warnings) == 1 and "defaultProgress=50" in warnings[0]
    assert not any(r.method == "POST" and "integrations" in r.url.path for r in server.requests)


def test_ensure_treats_duplicate_as_exists() -> None:
    server = Fake360()
    existing = {"_id": "2" * 24, "externalPlatform": "CB", "groupId": GROUP}
    calls = {"n": 0}

    def racing_list(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1  # first list: not there yet; created by someone else meanwhile
        return httpx.Response(200, json=[] if calls["n"] == 1 else [existing])

    server.routes["GET /api/v2/integrations"] = racing_list
    server.integrations = [existing]
    integration, _ = client_for(server).ensure_integration(
        name="CB", group_id=GROUP, author_id=AUTHOR
    )
    assert integration == existing
    assert calls["n"] == 2


def test_ensure_reserved_name_is_config_error() -> None:
    server = Fake360()
    with pytest.raises(ConfigError, match=r"choose another integration_name in \[threesixty\]"):
        client_for(server).ensure_integration(name="Coursera", group_id=GROUP, author_id=AUTHOR)


# -- bulk ------------------------------------------------------------------------------------


def test_submit_poll_results() -> None:
    server = Fake360()
    fake = FakeTime()
    client = client_for(server, fake, poll_initial=0.2, poll_max=5.0)
    server.polls_to_finish = 4
    url = client.submit("upsert_courses", "i" * 24, [course(1), course(2, bad=True)])
    submit = server.requests[-1]
    assert (submit.method, submit.url.path) == (
        "PUT",
        f"/api/v2/bulk/integrations/{'i' * 24}/courses",
    )
    assert client.wait(url)["status"] == "completed"
    assert fake.sleeps == pytest.approx([0.2, 0.3, 0.45])
    assert client.results(url) == [
        BulkResult(course(1), True, "cCourse~1"),
        BulkResult(course(2, bad=True), False, None, "bad item"),
    ]


def test_poll_backoff_is_capped() -> None:
    server = Fake360()
    server.polls_to_finish = 12
    fake = FakeTime()
    client = client_for(server, fake, poll_initial=1.0, poll_max=2.0)
    client.wait(client.submit("import_stats", "i", [{"x": 1}]))
    assert max(fake.sleeps) == 2.0
    assert fake.sleeps[:3] == [1.0, 1.5, 2.0]


@pytest.mark.parametrize(
    ("kind", "method"), [("archive_courses", "DELETE"), ("import_stats", "POST")]
)
def test_bulk_kinds_methods(kind: str, method: str) -> None:
    server = Fake360()
    client_for(server).submit(kind, "i", [{"externalId": "x"}])
    assert server.requests[-1].method == method
    assert json.loads(server.requests[-1].content) == {"input": [{"externalId": "x"}]}


def test_oversized_batches_are_rejected_before_any_request() -> None:
    server = Fake360()
    client = client_for(server)
    with pytest.raises(ValueError, match="at most 1000"):
        list(client.run_batches("archive_courses", "i", [[{"externalId": "x"}] * 1001]))
    with pytest.raises(ValueError, match="at most 10000"):
        client.submit("upsert_courses", "i", [course(1)] * 10_001)
    assert server.requests == []


def test_chunked_sizes() -> None:
    items = [{"i": i} for i in range(2500)]
    assert [len(c) for c in chunked(items, limit_for("archive_courses"))] == [1000, 1000, 500]
    assert [len(c) for c in chunked(items, limit_for("upsert_courses"))] == [2500]


def test_run_batches_keeps_three_in_flight_and_yields_in_order() -> None:
    server = Fake360()
    server.polls_to_finish = 3
    batches = [[course(b * 10 + i) for i in range(3)] for b in range(7)]
    client = client_for(server)
    out = list(client.run_batches("upsert_courses", "i", iter(batches)))
    assert [batch for batch, _ in out] == batches
    assert all(r.ok and r.input == item for b, rs in out for item, r in zip(b, rs, strict=True))
    assert server.max_unfinished == 3
    assert len(server.ops) == 7


def test_run_batches_never_exceeds_max_in_flight_argument() -> None:
    server = Fake360()
    batches = [[course(b)] for b in range(5)]
    list(client_for(server).run_batches("import_stats", "i", batches, max_in_flight=2))
    assert server.max_unfinished == 2
    with pytest.raises(ValueError):
        client_for(server).run_batches("import_stats", "i", batches, max_in_flight=4)


def test_concurrency_429_from_others_waits_then_submits() -> None:
    server = Fake360()
    busy = {"error": {"code": "bulkOperationsConcurrencyLimitReached", "message": "busy"}}
    server.submit_script = [httpx.Response(429, json=busy) for _ in range(8)]
    fake = FakeTime()
    client = client_for(server, fake)
    out = list(client.run_batches("upsert_courses", "i", [[course(1)]]))
    assert out[0][1][0].ok
    assert client.request_counts[("PUT", "bulk_upsert_courses")] == 9


def test_concurrency_429_with_own_operations_waits_for_the_oldest() -> None:
    server = Fake360()
    server.polls_to_finish = 2
    client = client_for(server)
    # another process holds one slot for the whole run
    server.ops["f" * 24] = {
        "_id": "f" * 24,
        "status": "running",
        "polls": -(10**9),
        "index": -1,
        "input": [],
    }
    batches = [[course(b)] for b in range(5)]
    out = list(client.run_batches("upsert_courses", "i", batches))
    assert [b for b, _ in out] == batches
    assert server.max_unfinished == 3  # 2 of ours + the foreign one


def test_operation_ending_in_error_raises_with_the_unapplied_batches() -> None:
    server = Fake360()
    server.fail_ops = {1}
    batches = [[course(b)] for b in range(5)]
    client = client_for(server)
    yielded = []
    with pytest.raises(BulkOperationError) as info:
        for batch, _results in client.run_batches("upsert_courses", "i", batches):
            yielded.append(batch)
    err = info.value
    assert isinstance(err, BatchFailed)
    assert yielded == batches[:1]
    assert err.batch == batches[1]
    assert err.in_flight == batches[2:4]
    assert "the import crashed" in err.message


def test_bulk_api_disabled_is_retried_then_clear_api_error() -> None:
    server = Fake360()
    disabled = {"error": {"code": "bulkAPIDisabled", "message": "maintenance"}}
    server.submit_script = [httpx.Response(503, json=disabled) for _ in range(6)]
    fake = FakeTime()
    with pytest.raises(ApiError) as info:
        client_for(server, fake).submit("import_stats", "i", [{"x": 1}])
    assert info.value.status == 503 and info.value.code == "bulkAPIDisabled"
    assert "temporarily disabled" in info.value.message
    assert len(fake.sleeps) == 5


def test_bulk_submit_not_repeated_after_a_read_timeout() -> None:
    server = Fake360()

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    server.routes["PUT /api/v2/bulk/.*"] = timeout
    client = client_for(server)
    with pytest.raises(ApiError, match="not retried"):
        client.submit("upsert_courses", "i", [course(1)])
    assert client.request_counts[("PUT", "bulk_upsert_courses")] == 1


def test_results_are_aligned_to_the_batch() -> None:
    server = Fake360()
    batch = [course(1), course(2), course(3)]

    def shuffled(request: httpx.Request) -> httpx.Response:
        out = [
            {"input": batch[2], "status": "success", "resourceId": "r3"},
            {"input": batch[0], "status": "success", "resourceId": "r1"},
        ]
        return httpx.Response(200, json=out)

    server.routes[r"GET /api/v2/bulk/operations/\w+/results"] = shuffled
    out = list(client_for(server).run_batches("upsert_courses", "i", [batch]))
    results = out[0][1]
    assert [r.resource_id for r in results] == ["r1", None, "r3"]
    assert results[1].ok is False and results[1].input == batch[1]


def test_location_on_another_host_is_refused() -> None:
    server = Fake360()
    server.submit_script = [httpx.Response(202, headers={"Location": "https://evil.test/op/1"})]
    with pytest.raises(ApiError, match="another origin"):
        client_for(server).submit("import_stats", "i", [{"x": 1}])


def test_rate_limit_is_applied_to_writes() -> None:
    server = Fake360()
    fake = FakeTime()
    client = client_for(server, fake, writes_per_second=10.0)
    server.routes[r"PUT /api/v2/courses/\w+/archive"] = lambda r: httpx.Response(200, json={})
    start = fake.now
    for i in range(21):
        client.set_course_archived(f"{i:024x}", False)
    assert fake.now - start >= 2.0 - 1e-6  # 10 writes per second


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_in_any_message_or_log(caplog: pytest.LogCaptureFixture) -> None:
    echo = {"error": {"code": "x", "message": f"echo {SECRET} tok-1"}}
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for status in (400, 401, 403, 404, 429, 500, 503):
            server = Fake360()
            server.routes["GET /api/v2/groups/.*"] = lambda r, s=status: httpx.Response(
                s, json=echo
            )
            client = client_for(server)
            with pytest.raises(Exception) as info:
                client.get_group(GROUP)
            texts += [str(info.value), repr(getattr(info.value, "body", None))]
        server = Fake360()
        server.token_status = (401, {"error": "invalid_client", "echo": SECRET})
        with pytest.raises(AuthError) as info:
            client_for(server).list_integrations()
        texts.append(str(info.value))
        texts.append(repr(settings()))
    texts.append(caplog.text)
    for secret in (SECRET, "tok-1", "tok-2"):
        assert not any(secret in t for t in texts), secret

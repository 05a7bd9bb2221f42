"""The Coursera client through httpx.MockTransport: tokens, paging, retries, errors, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from learnsync.clients.coursera import CourseraClient, build_authorize_url, exchange_code
from learnsync.config import CourseraSettings
from learnsync.errors import ApiError, AuthError, ConfigError, PagingError
from learnsync.http import RetryPolicy
from learnsync.model.coursera import Content, EnrollmentRow

SECRET = "cs-SECRET-4242"
REFRESH = "rt-REFRESH-9999"
API = "https://api.test/api"
TOKEN_URL = "https://accounts.test/oauth2/v1/token"
ORG = "org123"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def settings(**kw: Any) -> CourseraSettings:
    base = dict(
        org_id=ORG,
        client_id="cid",
        client_secret=SECRET,
        refresh_token=REFRESH,
        api_base=API,
        token_url=TOKEN_URL,
    )
    return CourseraSettings(**{**base, **kw})


Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A scripted Coursera: a token endpoint plus whatever ``routes`` answer."""

    def __init__(self, api: Handler, *, expires_in: Any = 1800) -> None:
        self.api = api
        self.expires_in = expires_in
        self.tokens_issued = 0
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_headers: list[httpx.Headers] = []
        self.token_answer: httpx.Response | None = None
        self.api_requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v1/token":
            self.token_forms.append(parse_qs(request.content.decode()))
            self.token_headers.append(request.headers)
            if self.token_answer is not None:
                return self.token_answer
            self.tokens_issued += 1
            body = {
                "access_token": f"at-{self.tokens_issued}",
                "token_type": "Bearer",
                "expires_in": self.expires_in,
            }
            return httpx.Response(200, json=body)
        self.api_requests.append(request)
        return self.api(request)


def client_for(server: Server, fake: FakeTime | None = None, **kw: Any) -> CourseraClient:
    fake = fake or FakeTime()
    return CourseraClient(
        kw.pop("settings", settings()),
        transport=httpx.MockTransport(server),
        retry=RetryPolicy(random=lambda: 0.0),
        sleep=fake.sleep,
        clock=fake.time,
        **kw,
    )


def page(elements: list[Any], nxt: Any = None, total: int | None = None) -> httpx.Response:
    paging: dict[str, Any] = {}
    if nxt is not None:
        paging["next"] = nxt
    if total is not None:
        paging["total"] = total
    return httpx.Response(200, json={"elements": elements, "paging": paging, "linked": {}})


def paged(rows: list[dict[str, Any]], *, numeric: bool = False) -> Handler:
    """Serve ``rows`` honouring start/limit like Coursera, ``next`` as string (or number)."""

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("start", "0"))
        limit = int(request.url.params.get("limit", "100"))
        chunk = rows[start : start + limit]
        nxt = start + limit if start + limit < len(rows) else None
        if nxt is not None and not numeric:
            nxt = str(nxt)
        return page(chunk, nxt, len(rows))

    return handler


ROWS = [{"id": f"Course~c{i}", "contentId": f"c{i}", "contentType": "Course"} for i in range(7)]


# -- tokens ----------------------------------------------------------------------------------


def test_refresh_token_flow_form_and_bearer() -> None:
    server = Server(paged(ROWS))
    with client_for(server) as client:
        list(client.iter_contents(page_size=3))
    assert server.token_forms == [
        {
            "grant_type": ["refresh_token"],
            "refresh_token": [REFRESH],
            "client_id": ["cid"],
            "client_secret": [SECRET],
        }
    ]
    assert {r.headers["Authorization"] for r in server.api_requests} == {"Bearer at-1"}
    assert [r.url.params["start"] for r in server.api_requests] == ["0", "3", "6"]


def test_client_credentials_flow_uses_basic_auth() -> None:
    server = Server(paged(ROWS))
    client = client_for(server, settings=settings(auth="client_credentials", refresh_token=""))
    list(client.iter_contents())
    assert server.token_forms == [{"grant_type": ["client_credentials"]}]
    assert server.token_headers[0]["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("expires_in", [1800, "1800", 1800.0])
def test_token_cached_until_five_minutes_before_expiry(expires_in: Any) -> None:
    server = Server(paged(ROWS), expires_in=expires_in)
    fake = FakeTime()
    client = client_for(server, fake)
    client.get_organization()
    fake.now += 1800 - 301
    client.get_organization()
    assert server.tokens_issued == 1
    fake.now += 2
    client.get_organization()
    assert server.tokens_issued == 2
    assert client.request_counts[("POST", "token")] == 2


def test_401_reauthenticates_once_then_succeeds() -> None:
    answers = iter([httpx.Response(401, json={"errorCode": "UNAUTHORIZED"}), page([])])
    server = Server(lambda r: next(answers))
    client = client_for(server)
    assert client.get_organization() == {}
    assert server.tokens_issued == 2
    assert server.api_requests[1].headers["Authorization"] == "Bearer at-2"


def test_401_twice_is_auth_error() -> None:
    server = Server(lambda r: httpx.Response(401))
    with pytest.raises(AuthError) as info:
        client_for(server).get_organization()
    assert info.value.exit_code == 3
    assert len(server.api_requests) == 2  # exactly one re-try


def test_refused_refresh_token_says_what_to_do() -> None:
    server = Server(paged(ROWS))
    server.token_answer = httpx.Response(400, json={"error": "invalid_grant"})
    with pytest.raises(AuthError) as info:
        list(client_for(server).iter_contents())
    assert "learnsync coursera authorize" in info.value.message
    assert "[coursera] refresh_token" in info.value.message


def test_refused_client_names_the_keys() -> None:
    server = Server(paged(ROWS))
    server.token_answer = httpx.Response(401, json={"error": "invalid_client"})
    with pytest.raises(AuthError, match=r"client_id and\s+client_secret"):
        list(client_for(server).iter_contents())


# -- errors ----------------------------------------------------------------------------------


def test_403_is_auth_error_about_org_or_entitlement() -> None:
    server = Server(lambda r: httpx.Response(403, json={"errorCode": None}))
    with pytest.raises(AuthError, match="org_id is wrong or the app is not entitled"):
        list(client_for(server).iter_contents())


def test_404_unknown_org_is_config_error() -> None:
    server = Server(lambda r: httpx.Response(404))
    with pytest.raises(ConfigError, match=r"check \[coursera\] org_id") as info:
        client_for(server).get_organization()
    assert info.value.exit_code == 2


def test_400_on_program_filter_points_at_program_id() -> None:
    body = {"errorCode": None, "message": "bad program", "details": None}
    server = Server(lambda r: httpx.Response(400, json=body))
    with pytest.raises(ConfigError, match="not a program slug"):
        list(client_for(server).iter_enrollment_reports(program_id="my-slug"))


def test_500_is_api_error_with_status_code_body() -> None:
    body = {"errorCode": "BOOM", "message": "internal", "details": None}
    server = Server(lambda r: httpx.Response(500, json=body))
    with pytest.raises(ApiError) as info:
        list(client_for(server).iter_contents())
    assert (info.value.status, info.value.code, info.value.body) == (500, "BOOM", body)


def test_429_with_retry_after_then_success() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}), *[page(ROWS)]])
    server = Server(lambda r: next(answers))
    fake = FakeTime()
    assert len(list(client_for(server, fake).iter_contents())) == 7
    assert 3.0 in fake.sleeps


def test_5xx_burst_and_timeouts_and_drops_are_retried() -> None:
    script: list[Any] = [
        httpx.Response(503),
        httpx.Response(502),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.Response(504),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if script:
            step = script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        return paged(ROWS)(request)

    server = Server(handler)
    client = client_for(server)
    assert [c.content_id for c in client.iter_contents()] == [f"c{i}" for i in range(7)]
    assert client.request_counts[("GET", "contents")] == 6


def test_retries_exhausted_surface_as_api_error() -> None:
    server = Server(lambda r: httpx.Response(503))
    with pytest.raises(ApiError) as info:
        list(client_for(server).iter_contents())
    assert info.value.status == 503
    assert len(server.api_requests) == 6


# -- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("numeric", [False, True])
def test_paging_follows_string_or_number_next(numeric: bool) -> None:
    server = Server(paged(ROWS, numeric=numeric))
    seen: list[tuple[int, int | None]] = []
    rows = list(
        client_for(server).iter_contents(page_size=2, on_page=lambda f, t: seen.append((f, t)))
    )
    assert [r.content_id for r in rows] == [f"c{i}" for i in range(7)]
    assert seen == [(2, 7), (4, 7), (6, 7), (7, 7)]
    assert all(isinstance(r, Content) for r in rows)


@pytest.mark.parametrize(
    ("nxt", "message"),
    [
        ("0", "does not advance"),
        (2, "does not advance"),
        ("abc", "not an integer"),
        (True, "not an integer"),
        ("1.5", "not an integer"),
    ],
)
def test_paging_fails_loudly_on_bad_cursor(nxt: Any, message: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start"])
        if start == 0:
            return page(ROWS[:2], "2", 7)
        return page(ROWS[2:4], nxt, 7)

    with pytest.raises(PagingError, match=message):
        list(client_for(Server(handler)).iter_contents(page_size=2))


def test_empty_page_that_announces_more_is_an_error() -> None:
    server = Server(lambda r: page([], "100", 500))
    with pytest.raises(PagingError, match="empty page"):
        list(client_for(server).iter_contents())


def test_short_of_total_without_next_stops_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(lambda r: page(ROWS[:3], None, 10))
    with caplog.at_level(logging.WARNING):
        rows = list(client_for(server).iter_contents())
    assert len(rows) == 3
    assert "3 of 10" in caplog.text


def test_non_object_elements_are_skipped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    server = Server(lambda r: page([ROWS[0], "junk", 42, None, ROWS[1]]))
    with caplog.at_level(logging.WARNING):
        rows = list(client_for(server).iter_contents())
    assert [r.content_id for r in rows] == ["c0", "c1"]
    assert caplog.text.count("skipped") == 3


def test_body_that_is_not_an_envelope_is_api_error() -> None:
    server = Server(lambda r: httpx.Response(200, json=["not", "an", "envelope"]))
    with pytest.raises(ApiError, match="envelope"):
        list(client_for(server).iter_contents())


# -- request shapes --------------------------------------------------------------------------


def test_enrollment_reports_parameters() -> None:
    server = Server(lambda r: page([{"id": "a~b~c", "isCompleted": "true", "externalId": 42}]))
    after = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = list(
        client_for(server).iter_enrollment_reports(
            program_id="prog1", last_activity_after=after, page_size=500
        )
    )
    params = server.api_requests[0].url.params
    assert server.api_requests[0].url.path == f"/api/businesses.v1/{ORG}/enrollmentReports"
    assert dict(params) == {
        "q": "byProgramId",
        "programId": "prog1",
        "includeS12n": "true",
        "lastActivityAfter": str(int(after.timestamp() * 1000)),
        "start": "0",
        "limit": "500",
    }
    assert rows == [
        EnrollmentRow.model_validate({"id": "a~b~c", "isCompleted": True, "externalId": "42"})
    ]


def test_enrollment_reports_get_a_long_read_timeout() -> None:
    timeouts: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"])
        return page([])

    client = client_for(Server(handler))
    list(client.iter_enrollment_reports(include_s12n=False))
    list(client.iter_contents())
    assert timeouts[0]["read"] >= 60
    assert timeouts[1]["read"] >= 60


def test_contents_program_filter() -> None:
    server = Server(lambda r: page([]))
    client = client_for(server)
    list(client.iter_contents(program_id="p1"))
    assert dict(server.api_requests[0].url.params) == {
        "q": "byProgramIds",
        "programIds": "p1",
        "start": "0",
        "limit": "1000",
    }
    assert client.request_counts[("GET", "contents")] == 1


# -- authorize helpers -----------------------------------------------------------------------


def test_build_authorize_url() -> None:
    url = httpx.URL(build_authorize_url(settings(), "http://localhost:9876/callback", "xyz"))
    assert str(url).startswith("https://accounts.test/oauth2/v1/auth?")
    assert dict(url.params) == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "http://localhost:9876/callback",
        "scope": "view_profile access_business_api",
        "state": "xyz",
        "access_type": "offline",
    }


def test_exchange_code_returns_refresh_token() -> None:
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return httpx.Response(
            200, json={"access_token": "a", "expires_in": 1800, "refresh_token": "new-rt"}
        )

    got = exchange_code(settings(), "the-code", "http://cb", transport=httpx.MockTransport(handler))
    assert got == "new-rt"
    assert forms[0]["grant_type"] == ["authorization_code"]
    assert forms[0]["code"] == ["the-code"]


def test_exchange_code_refused() -> None:
    handler = lambda r: httpx.Response(400, json={"error": "invalid_grant"})  # noqa: E731
    with pytest.raises(AuthError, match="authorize` again"):
        exchange_code(settings(), "c0de-xyz", "http://cb", transport=httpx.MockTransport(handler))


# -- secrets ---------------------------------------------------------------------------------


def test_no_secret_in_any_message_or_log(caplog: pytest.LogCaptureFixture) -> None:
    """Every failure path, with a server that echoes secrets back: none may leak."""
    echo = {"error": "invalid_grant", "message": f"bad {REFRESH} / {SECRET}"}
    scenarios: list[tuple[Server, Callable[[CourseraClient], Any]]] = []
    s1 = Server(paged(ROWS))
    s1.token_answer = httpx.Response(400, json=echo)
    scenarios.append((s1, lambda c: list(c.iter_contents())))
    s2 = Server(paged(ROWS))
    s2.token_answer = httpx.Response(500, json=echo)
    scenarios.append((s2, lambda c: list(c.iter_contents())))
    for status in (401, 403, 404, 400, 500, 503):
        scenarios.append(
            (
                Server(lambda r, s=status: httpx.Response(s, json={"message": "at-1 " + SECRET})),
                lambda c: list(c.iter_enrollment_reports(program_id="p")),
            )
        )

    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect with {SECRET}", request=request)

    scenarios.append((Server(boom), lambda c: c.get_organization()))
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for server, action in scenarios:
            client = client_for(server)
            with pytest.raises(Exception) as info:
                action(client)
            err = info.value
            texts += [str(err), repr(err), repr(getattr(err, "body", None))]
            texts.append(repr(client.settings))
    texts.append(caplog.text)
    for secret in (SECRET, REFRESH, "at-1", "at-2"):
        assert not any(secret in t for t in texts), secret

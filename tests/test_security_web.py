"""The admin web surface (issue 10, findings 5 and 9): request bodies are capped before they are
read, every answer carries the Content-Security-Policy and the other security headers, no page
loads anything from another origin, ``/metrics`` takes an optional bearer token, an id beyond
64 bits is a 404, ``learnsync serve`` logs JSON lines only, and the JSON API answers no 500 to
what schemathesis generates from its own OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.errors import LearnsyncError
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.importing import MAX_BYTES as IMPORT_FILE_MAX_BYTES
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app
from learnsync.web.limits import (
    DEFAULT_BODY_LIMIT,
    IMPORT_BODY_LIMIT,
    LOGIN_BODY_LIMIT,
    IdConvertor,
)
from learnsync.web.security import (
    CONTENT_SECURITY_POLICY,
    METRICS_TOKEN_ENV,
    SECURITY_HEADERS,
    SESSION_COOKIE,
)
from service_support import FAKE_PIPELINES, fake_service

PASSWORD = "admin-password-1"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _no_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_TOKEN_ENV, raising=False)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = fake_service(f"sqlite:///{tmp_path / 'web.db'}", PASSWORD)
    yield svc
    svc.runs.wait()
    svc.close()


@pytest.fixture
def client(service: Service) -> TestClient:
    return TestClient(create_app(service), follow_redirects=False)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Service, Stack]]:
    """A service whose integration points at both simulators (pages that read Coursera work)."""
    with running_stack(World(seed=3, catalog_size=30, learners=10, enrollments=30)) as stack:
        svc = Service(
            f"sqlite:///{tmp_path / 'site.db'}", SecretBox.generate(), pipelines=FAKE_PIPELINES
        )
        svc.auth.create_user("admin", PASSWORD)
        raw = tomllib.loads(stack.config_toml(svc.store_url))
        svc.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        try:
            yield svc, stack
        finally:
            svc.runs.wait()
            svc.close()


def _concrete(path: str, value: object = 1) -> str:
    """A route's path with every ``{name}`` / ``{name:id}`` filled (``kind``: content)."""

    def fill(match: re.Match[str]) -> str:
        return "content" if match.group(1) == "kind" else str(value)

    return re.sub(r"\{(\w+)(?::\w+)?\}", fill, path)


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route (HEAD left out), /logout last."""
    found = []
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in sorted((getattr(route, "methods", None) or {"GET"}) - {"HEAD"}):
            found.append((method, path))
    return sorted(found, key=lambda mp: mp[1] == "/logout")


# --------------------------------------------------------------------- request bodies


def _asgi(
    app: FastAPI,
    method: str,
    path: str,
    headers: dict[str, str],
    chunks: Iterator[bytes],
) -> tuple[int, dict[str, str], bytes, int]:
    """Call the app as a server would, the body as ``chunks``: (status, headers, body, how many
    chunks the app asked for)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, body, asked


def _endless(size: int = 64 * 1024, total: int = 400 * MIB, prefix: bytes = b"") -> Iterator[bytes]:
    """``total`` bytes in chunks of ``size``, the first starting with ``prefix``."""
    yield prefix + b"a" * (size - len(prefix))
    for _ in range(total // size - 1):
        yield b"a" * size


def _session_headers(client: TestClient) -> dict[str, str]:
    csrf = admin_login(client, PASSWORD)
    return {"cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}", "x-csrf-token": csrf}


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("path", "limit", "signed_in"),
    [
        ("/login", LOGIN_BODY_LIMIT, False),
        ("/import", IMPORT_BODY_LIMIT, True),
        ("/api/integrations", DEFAULT_BODY_LIMIT, True),
        ("/api/integrations", DEFAULT_BODY_LIMIT, False),
    ],
)
def test_a_declared_body_over_the_limit_is_refused_before_a_byte_is_read(
    client: TestClient, service: Service, path: str, limit: int, signed_in: bool
) -> None:
    headers = {**FORM, **(_session_headers(client) if signed_in else {})}
    status, answer, body, asked = _asgi(
        client.app, "POST", path, {**headers, "content-length": str(400 * MIB)}, _endless()
    )
    assert status == 413
    assert asked == 0  # the app's receive was never called: nothing of the body was read
    assert json.loads(body) == {
        "detail": f"request body too large: at most {limit // 1024} KiB here"
    }
    assert answer["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert len(service.repo.list_integrations()) == 1


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/login", LOGIN_BODY_LIMIT),
        ("/import", IMPORT_BODY_LIMIT),
        ("/integrations/new", DEFAULT_BODY_LIMIT),
        ("/api/integrations", DEFAULT_BODY_LIMIT),
    ],
)
def test_a_chunked_body_is_refused_once_past_the_limit(
    client: TestClient, service: Service, path: str, limit: int
) -> None:
    """No Content-Length (chunked): counted as it arrives, refused at the first chunk past the
    limit — of 400 MiB offered, the app reads a few chunks and answers 413."""
    headers = {**FORM, **(_session_headers(client) if path != "/login" else {})}
    chunk = 16 * 1024
    chunks = _endless(chunk)
    if path == "/api/integrations":
        headers["content-type"] = "application/json"
        chunks = _endless(chunk, prefix=b'{"label": "')
    if path == "/import":  # a well-formed start: the file part, then its endless content
        headers["content-type"] = "multipart/form-data; boundary=xyz"
        chunks = _endless(
            chunk,
            prefix=b"--xyz\r\nContent-Disposition: form-data; name=config; "
            b'filename="c.toml"\r\nContent-Type: text/plain\r\n\r\n',
        )
    status, _answer, body, asked = _asgi(client.app, "POST", path, headers, chunks)
    assert status == 413, body
    assert asked == limit // chunk + 1  # the first chunk past the limit, not one more
    assert b"request body too large" in body
    assert len(service.repo.list_integrations()) == 1


def test_bodies_up_to_the_limit_go_through(client: TestClient) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    padding = "x" * (LOGIN_BODY_LIMIT - 200)
    answer = client.post(
        "/login",
        data={"username": "admin", "password": "wrong", "csrf_token": token[1], "pad": padding},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login?error=1"
    # a config file of 64 KiB reaches the import (which judges it), 16 KiB of framing spare
    csrf = admin_login(client, PASSWORD)
    line = b"# a comment line that fills the file\n"
    big = line * (IMPORT_FILE_MAX_BYTES // len(line))
    assert IMPORT_FILE_MAX_BYTES - len(line) < len(big) <= IMPORT_FILE_MAX_BYTES
    answer = client.post(
        "/import",
        data={"csrf_token": csrf, "label": "Big"},
        files={"config": ("big.toml", big, "text/plain")},
    )
    assert answer.status_code == 400 and "413" not in answer.text
    too_big = client.post(
        "/import",
        data={"csrf_token": csrf, "label": "Big"},
        files={"config": ("big.toml", big * 2, "text/plain")},
    )
    assert too_big.status_code == 413


def test_a_real_server_answers_413_before_the_client_sent_the_body(service: Service) -> None:
    """Over a socket: the 413 arrives after the headers, while the client still has 400 MB to
    send (Content-Length), and after the first KiB past the limit of a chunked body."""
    with serve_in_thread(create_app(service)) as base:
        port = int(base.rsplit(":", 1)[1])
        head = (
            "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"{head}Content-Length: {400 * MIB}\r\n\r\n".encode() + b"a" * 1024)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        assert b"content-security-policy: default-src 'none';" in answer.lower()

        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
            deadline = time.monotonic() + 10
            while not select.select([sock], [], [], 0)[0]:
                assert time.monotonic() < deadline
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1024
                assert sent < 4 * MIB, "the server kept reading"
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413 "), answer
        assert sent >= LOGIN_BODY_LIMIT


# --------------------------------------------------------------------- headers


def _assert_security_headers(answer: httpx.Response, *, hsts: bool = False) -> None:
    what = f"{answer.request.method} {answer.request.url.path} → {answer.status_code}"
    for name, value in SECURITY_HEADERS:
        assert answer.headers.get(name) == value, (what, name, answer.headers.get(name))
    assert ("strict-transport-security" in answer.headers) is hsts, what
    if hsts:
        assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_the_csp_is_the_strict_one() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    names = {name.lower() for name, _ in SECURITY_HEADERS}
    assert {
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
        "cross-origin-opener-policy",
        "permissions-policy",
    } <= names
    assert dict(SECURITY_HEADERS)["X-Frame-Options"] == "DENY"


def test_every_route_answers_with_the_security_headers(site: tuple[Service, Stack]) -> None:
    """Every route, anonymous (redirects, 401) and signed in (pages, API, writes, 404s), and
    the answers of no route: static files, unknown paths, 405, 413, 422."""
    service, _stack = site
    client = TestClient(create_app(service), follow_redirects=False)
    checked = 0
    for method, path in _routes(client.app):
        _assert_security_headers(client.request(method, _concrete(path)))
        checked += 1
    for path in ("/login", "/static/style.css", "/static/live.js", "/nowhere", "/healthz"):
        _assert_security_headers(client.get(path))
    csrf = admin_login(client, PASSWORD)
    statuses = set()
    for method, path in _routes(client.app):
        answer = client.request(method, _concrete(path), headers={"X-CSRF-Token": csrf})
        _assert_security_headers(answer)
        statuses.add(answer.status_code)
        checked += 1
    assert checked >= 60
    assert {200, 202, 303, 400, 422} <= statuses, statuses
    admin_login(client, PASSWORD)
    for answer in (
        client.get("/static/style.css"),
        client.get("/static/live.js"),
        client.get("/no-such-page"),
        client.get("/integrations/99"),
        client.get("/integrations/123456789012345678901234567890"),
        client.get("/api/runs/77"),
        client.delete("/api/integrations"),
        client.post("/api/integrations", content=b"{}" * MIB, headers={"X-CSRF-Token": csrf}),
        client.post("/integrations/1", data={"label": ""}),  # no CSRF token: 403
        client.put(
            "/api/integrations/1/schedules/content", json={}, headers={"X-CSRF-Token": csrf}
        ),
    ):
        _assert_security_headers(answer)
        statuses.add(answer.status_code)
    assert {403, 404, 405, 413} <= statuses


def test_a_500_carries_the_headers_too(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> int:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(service.repo, "count_users", broken)
    for secure in (False, True):
        client = TestClient(
            create_app(service, secure_cookies=secure), raise_server_exceptions=False
        )
        answer = client.get("/healthz")
        assert answer.status_code == 500 and answer.text == "Internal Server Error"
        _assert_security_headers(answer, hsts=secure)


def test_strict_transport_security_when_the_cookies_are_secure(service: Service) -> None:
    client = TestClient(
        create_app(service, secure_cookies=True),
        base_url="https://testserver",
        follow_redirects=False,
    )
    for answer in (
        client.get("/login"),
        client.get("/integrations"),  # a redirect
        client.get("/api/integrations"),  # 401
        client.get("/static/style.css"),
        client.get("/metrics"),
    ):
        _assert_security_headers(answer, hsts=True)
    admin_login(client, PASSWORD)
    _assert_security_headers(client.get("/no-such-page"), hsts=True)
    _assert_security_headers(client.get("/integrations/1"), hsts=True)


# --------------------------------------------------------------------- no CDN, nothing inline

OFF_SITE = re.compile(
    r"""(?:src|href|action|url)\s*[=(]\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I
)


def test_no_page_loads_anything_from_elsewhere_or_inline(site: tuple[Service, Stack]) -> None:
    """No CDN (Swagger UI is gone: /docs and /redoc are 404s) and nothing the CSP would block:
    no inline script or style, no style attribute, no event-handler attribute."""
    service, _stack = site
    client = TestClient(create_app(service), follow_redirects=False)
    pages = {"/login": client.get("/login").text}
    admin_login(client, PASSWORD)
    service.runs.start(1, "content")
    service.runs.wait()
    # redirects, the metrics, the static files' mount
    not_pages = (
        "/",
        "/metrics",
        "/static",
        "/integrations/{integration_id:id}/filters/runs/{run_id:id}",
    )
    for method, path in _routes(client.app):
        if method == "GET" and not path.startswith("/api/") and path not in not_pages:
            # the filters' confirmation page shows a change (no change goes back to the list)
            change = "?which=languages&value=fr" if path.endswith("/filters/confirm") else ""
            answer = client.get(_concrete(path) + change)
            assert answer.status_code == 200, path
            pages[path] = answer.text
    pages["/static/style.css"] = client.get("/static/style.css").text
    pages["/static/live.js"] = client.get("/static/live.js").text
    assert len(pages) >= 15
    for path, text in pages.items():
        assert not OFF_SITE.search(text), (path, OFF_SITE.search(text))
        assert not re.search(r"\bcdn\b|jsdelivr|unpkg|swagger", text, re.I), path
        if path.startswith("/static/"):
            continue
        # only learnsync's own files: a page's own script (live.js, filters.js, …)
        scripts = re.findall(r"<script\b[^>]*>", text)
        assert all(re.fullmatch(r'<script src="/static/[a-z][a-z_-]*\.js">', s) for s in scripts)
        assert "<style" not in text and " style=" not in text, path
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", text), path
        assert "javascript:" not in text.lower(), path
    assert 'rel="stylesheet" href="/static/style.css"' in pages["/login"]
    assert "<svg" in pages["/integrations/{integration_id:id}/statistics"]
    for gone in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(gone).status_code == 404
    assert client.get("/api/openapi.json").json()["info"]["title"] == "learnsync"


def test_the_stylesheet_is_public_the_script_and_the_api_document_are_not(
    client: TestClient,
) -> None:
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/live.js").status_code == 303
    assert client.get("/api/openapi.json").status_code == 401


# --------------------------------------------------------------------- /metrics


def test_metrics_are_anonymous_without_a_token(client: TestClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and "learnsync_integrations 1" in answer.text


@pytest.mark.parametrize("from_env", [True, False])
def test_metrics_need_the_bearer_token_when_one_is_set(
    service: Service, monkeypatch: pytest.MonkeyPatch, from_env: bool
) -> None:
    token = "m3trics-" + "k" * 32
    if from_env:
        monkeypatch.setenv(METRICS_TOKEN_ENV, f"  {token}\n")
        app = create_app(service)
    else:
        app = create_app(service, metrics_token=token)
    client = TestClient(app, follow_redirects=False)
    for headers in (
        {},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
        {"Authorization": "Bearer é".encode()},  # not ASCII: refused, not a 500
        {"Authorization": "Bearer "},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "learnsync_" not in refused.text
        _assert_security_headers(refused)
    # a session is no substitute for the token
    admin_login(client, PASSWORD)
    assert client.get("/metrics").status_code == 401
    for scheme in ("Bearer", "bearer"):
        answer = client.get("/metrics", headers={"Authorization": f"{scheme} {token}"})
        assert answer.status_code == 200 and "learnsync_integrations 1" in answer.text


def test_the_metrics_token_is_compared_in_constant_time(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnsync.web import security

    compared: list[tuple[bytes, bytes]] = []
    real = security.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    client = TestClient(create_app(service, metrics_token="tok-123"))
    assert client.get("/metrics", headers={"Authorization": "Bearer tok-124"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer tok-123"}).status_code == 200
    assert compared == [(b"tok-124", b"tok-123"), (b"tok-123", b"tok-123")]


def test_a_blank_metrics_token_leaves_metrics_anonymous(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(METRICS_TOKEN_ENV, "   ")
    assert TestClient(create_app(service)).get("/metrics").status_code == 200


# --------------------------------------------------------------------- ids

BAD_IDS = [2**63, 2**64, 10**18, 10**30, "-1", "1e3", "0x10", "１"]


def test_every_id_in_a_route_is_the_bounded_id_convertor(client: TestClient) -> None:
    with_ids = 0
    for route in client.app.routes:
        for name, convertor in getattr(route, "param_convertors", {}).items():
            if name.endswith("_id"):
                assert isinstance(convertor, IdConvertor), (route.path, name)
                with_ids += 1
    assert with_ids >= 25
    assert IdConvertor.regex == "[0-9]{1,18}"


def test_an_id_beyond_64_bits_is_a_404(client: TestClient) -> None:
    """Every route with an id, each id replaced by one too large (or not a number): 404, never
    a 500 from the database (``Python int too large to convert to SQLite INTEGER``) or a 422."""
    csrf = admin_login(client, PASSWORD)
    checked = 0
    for method, path in _routes(client.app):
        names = re.findall(r"\{(\w+_id)(?::\w+)?\}", path)
        for name in names:
            for bad in BAD_IDS:
                concrete = _concrete(path.replace(f"{{{name}:id}}", str(bad)))
                answer = client.request(method, concrete, headers={"X-CSRF-Token": csrf}, json={})
                assert answer.status_code == 404, (method, concrete, answer.status_code)
                checked += 1
    assert checked >= 25 * len(BAD_IDS)
    # the largest id a route takes is still a plain "no such ..." 404
    largest = 10**18 - 1
    assert client.get(f"/api/integrations/{largest}").json() == {"detail": "no such integration"}
    assert client.get(f"/api/runs/{largest}").json() == {"detail": "no such run"}
    assert client.get(f"/integrations/1/runs/{largest}").status_code == 404


# --------------------------------------------------------------------- JSON logs

LEARNSYNC = Path(sys.executable).with_name("learnsync")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_logs_only_json_lines(tmp_path: Path) -> None:
    """``learnsync serve`` with a request that makes the app raise (its table is gone) and an
    invalid HTTP request: every stderr line is a JSON object; the traceback is a field."""
    import os

    db = tmp_path / "service.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_")}
    env["LEARNSYNC_SECRET_KEY"] = Fernet.generate_key().decode()
    env["LEARNSYNC_STORE_URL"] = f"sqlite:///{db}"
    port = _free_port()
    process = subprocess.Popen(
        [str(LEARNSYNC), "serve", "--port", str(port), "--no-scheduler"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "learnsync serve did not start"
            time.sleep(0.1)
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE admin_users")
        broken = httpx.get(f"{base}/healthz", timeout=10)
        assert broken.status_code == 500 and broken.text == "Internal Server Error"
        assert broken.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 400")
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    lines = [line for line in err.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {line!r}\n{err}")
    assert all(
        isinstance(r, dict) and {"time", "level", "logger", "message"} <= r.keys() for r in records
    )
    raised = [r for r in records if r["logger"] == "uvicorn.error" and r["level"] == "error"]
    assert raised and "no such table" in raised[0]["exception"], err
    assert any(r["message"] == "Invalid HTTP request received." for r in records), err


# --------------------------------------------------------------------- schemathesis


def test_the_json_api_answers_no_500_to_schemathesis(
    service: Service, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every operation of the service's own OpenAPI document, signed in (session cookie and
    CSRF header), positive and negative examples, derandomized and bounded: no 5xx, no
    exception. Calls that would leave for Coursera or 360Learning are refused here (the upstream
    clients have their own tests): a credential check refuses, the unmatched learners are
    unavailable."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    from learnsync.web import app as web_app
    from learnsync.web import views

    def no_upstream(*_args: object) -> None:
        raise LearnsyncError("not reachable in this test")

    monkeypatch.setattr(web_app, "verify_credentials", lambda _config, _apis: "not checked here")
    monkeypatch.setattr(views, "unmatched_of", no_upstream)
    csrf = admin_login(client, PASSWORD)
    cookies = {SESSION_COOKIE: client.cookies[SESSION_COOKIE]}
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app, cookies=cookies)
    started = time.monotonic()
    calls = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                calls += _fuzz(operation, mode, csrf, cookies, failures)
            except Unsatisfiable:
                # nothing to make invalid: an operation without parameters or body
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n".join(failures)
    assert calls >= 300
    assert time.monotonic() - started < 60


def _fuzz(
    operation: Any, mode: Any, csrf: str, cookies: dict[str, str], failures: list[str]
) -> int:
    """Run one operation's examples (25, derandomized); a 5xx is added to ``failures``."""
    from hypothesis import HealthCheck, given, settings

    calls = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(headers={"X-CSRF-Token": csrf}, cookies=cookies)
        if response.status_code >= 500:
            failures.append(
                f"{operation.label} ({mode.value}) → {response.status_code}: "
                f"{case.path_parameters} {case.query} {case.body!r:.200}"
            )

    check()
    return calls

"""Security of the admin app: anonymous refusal on every route, CSRF, secrets never rendered."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.service.core import Service
from learnsync.web import create_app
from learnsync.web.security import API_PAGES, PUBLIC_PATHS, login_url
from service_support import fake_service

SECRETS = {
    "coursera_client_secret": "cs-SECRET-coursera-1234",
    "coursera_refresh_token": "rt-SECRET-refresh-5678",
    "threesixty_client_secret": "ts-SECRET-360-9012",
}
PASSWORD = "admin-password-1"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = fake_service(f"sqlite:///{tmp_path / 'web.db'}", PASSWORD, **SECRETS)
    yield svc
    svc.close()


@pytest.fixture
def client(service: Service) -> TestClient:
    return TestClient(create_app(service), follow_redirects=False)


def login(client: TestClient) -> str:
    return admin_login(client, PASSWORD)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path).replace("1:path", "1")


def test_every_route_refuses_anonymous(client: TestClient) -> None:
    app = client.app
    checked = 0
    for route in app.routes:
        path = getattr(route, "path", "")
        if path in PUBLIC_PATHS or not path:
            continue
        methods = getattr(route, "methods", None) or {"GET"}
        for method in methods - {"HEAD"}:
            answer = client.request(method, _concrete(path))
            checked += 1
            if method == "GET" and (not path.startswith("/api/") or path in API_PAGES):
                assert answer.status_code == 303, (method, path)
                # to sign in, then back to the page asked for (web/security.py login_url)
                assert answer.headers["location"] == login_url(_concrete(path))
            else:
                assert answer.status_code == 401, (method, path, answer.status_code)
    assert checked >= 15
    for path in ("/static/live.js", "/docs", "/api/openapi.json", "/no-such-page"):
        assert client.get(path).status_code in (303, 401), path


@pytest.mark.parametrize(
    "host", ["x/login?", "x/login#", "x/healthz?a=", "x/metrics/..?", "/login", "x:1/login?"]
)
def test_a_forged_host_header_opens_no_route(client: TestClient, host: str) -> None:
    """Access is decided on the ASGI scope's path, never on a URL rebuilt from the ``Host``
    header (starlette before 1.0.1 rebuilt ``request.url.path`` from it): with a forged Host,
    every route still refuses an anonymous read or write."""
    checked = 0
    for route in client.app.routes:
        path = getattr(route, "path", "")
        if path in PUBLIC_PATHS or not path:
            continue
        for method in (getattr(route, "methods", None) or {"GET"}) - {"HEAD"}:
            answer = client.request(method, _concrete(path), headers={"Host": host})
            checked += 1
            assert answer.status_code in (303, 401, 400), (host, method, path, answer.status_code)
            if answer.status_code == 303:
                assert answer.headers["location"] == login_url(_concrete(path))
    assert checked >= 15
    # the login form's CSRF check too: a forged Host does not make a write look like /login
    answer = client.post(
        "/api/integrations/1/sync/content", headers={"Host": "x/login?", "X-CSRF-Token": "t"}
    )
    assert answer.status_code == 401


def test_public_paths_carry_no_secret_or_name(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    metrics = client.get("/metrics").text
    assert "learnsync_integrations 1" in metrics
    assert "Coursera" not in metrics and "org-1" not in metrics


def test_login_wrong_password_and_cookie_flags(client: TestClient) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    wrong = client.post(
        "/login", data={"username": "admin", "password": "nope", "csrf_token": token}
    )
    assert wrong.headers["location"] == "/login?error=1"
    assert "learnsync_session" not in wrong.cookies
    ok = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )
    cookie = ok.headers["set-cookie"]
    assert "learnsync_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_login_without_csrf_is_refused(client: TestClient) -> None:
    client.get("/login")
    answer = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/integrations/1", {"label": "X"}),
        ("/integrations/new", {"label": "Y"}),
        ("/integrations/1/filters", {"which": "languages", "value": "en"}),
        ("/integrations/1/sync/content", {}),
        ("/logout", {}),
        ("/api/integrations/1/sync/content", {}),
    ],
)
def test_write_without_or_with_wrong_csrf_is_refused(
    client: TestClient, service: Service, path: str, data: dict[str, str]
) -> None:
    login(client)
    assert client.post(path, data=data).status_code == 403
    assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert service.integrations.get(1).label == "Coursera"
    assert service.runs.latest(1) is None


def test_csrf_header_works_for_the_api(client: TestClient, service: Service) -> None:
    token = login(client)
    answer = client.post("/api/integrations/1/sync/content", headers={"X-CSRF-Token": token})
    assert answer.status_code == 202
    service.runs.wait()
    assert service.runs.latest(1).status == "succeeded"


def test_logout_ends_the_session(client: TestClient) -> None:
    token = login(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/integrations").status_code == 303
    assert client.get("/api/integrations").status_code == 401


def test_secrets_never_in_a_response_or_a_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = login(client)
    bodies = [
        client.get(p).text
        for p in (
            "/integrations",
            "/integrations/1",
            "/integrations/1/runs",
            "/api/integrations",
            "/api/integrations/1",
            "/api/openapi.json",
        )
    ]
    # saving the form with blank secrets keeps them, and the answer does not echo them
    form = {
        "csrf_token": token,
        "label": "Coursera",
        "coursera_org_id": "org-1",
        "coursera_client_id": "client-1",
        "threesixty_client_id": "tsl-client",
        "group_id": "a" * 24,
        "author_id": "b" * 24,
    }
    saved = client.post("/integrations/1", data=form)
    assert saved.status_code == 303
    bad = client.post("/integrations/1", data={**form, "group_id": "bad", **SECRETS})
    assert bad.status_code == 400 and "group" in bad.text
    bodies += [bad.text, client.get("/integrations/1").text]
    api = client.get("/api/integrations").json()
    assert api[0]["secrets_set"] == dict.fromkeys(SECRETS, True)
    logs = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for secret in SECRETS.values():
        for body in bodies:
            assert secret not in body
        assert secret not in logs


def test_the_decision_reads_the_scope_path_not_the_host() -> None:
    from starlette.requests import Request

    from learnsync.web.security import scope_path

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/integrations",
        "query_string": b"",
        "headers": [(b"host", b"x/login?")],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
    }
    assert scope_path(Request(scope)) == "/api/integrations"

"""The web routes on the accounts' protections (issue 10, finding 4): a login flood is answered
429 before any password is hashed, and every administrator action lands in the audit log, which
the Audit log page and the JSON API show — never a secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.service import auth as auth_module
from learnsync.service.core import Service
from learnsync.web import create_app
from service_support import fake_service

SECRET = "ts-SECRET-do-not-show-4711"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    svc = fake_service(url, "admin-password-1", threesixty_client_secret=SECRET)
    yield svc
    svc.close()


def _login_form(client: TestClient, password: str) -> int:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/login",
        data={"username": "admin", "password": password, "csrf_token": token.group(1)},
    )
    return answer.status_code


def test_a_login_flood_is_answered_429_before_any_hash(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(service), follow_redirects=False)
    codes = [_login_form(client, f"guess-{n}") for n in range(5)]
    assert codes == [303] * 5  # wrong password: back to the form
    hashed: list[str] = []
    real = auth_module.verify_password

    def counting(*args: object, **kwargs: object) -> object:
        hashed.append("x")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth_module, "verify_password", counting)
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/login", data={"username": "admin", "password": "guess-6", "csrf_token": token.group(1)}
    )
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in answer.text
    assert hashed == []  # refused before the password was hashed
    actions = [e.action for e in service.auth.audit.recent(20)]
    assert actions.count("login_failed") == 5 and "login_locked" in actions


def test_administrator_actions_are_in_the_audit_log_without_a_secret(service: Service) -> None:
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    item = service.integrations.get(1)
    form = {
        "csrf_token": csrf,
        "label": item.label,
        "coursera_org_id": item.coursera_org_id,
        "coursera_client_id": item.coursera_client_id,
        "coursera_api_base": item.coursera_api_base,
        "coursera_token_url": item.coursera_token_url,
        "threesixty_base_url": item.threesixty_base_url,
        "threesixty_client_id": item.threesixty_client_id,
        "group_id": item.group_id,
        "author_id": "c" * 24,  # one setting changed
        "integration_name": item.integration_name,
        "action": "save",
    }
    assert client.post("/integrations/1", data=form).status_code == 303
    assert client.post("/integrations/1/sync/content", data={"csrf_token": csrf}).status_code == 303
    service.runs.wait()
    schedules = {
        "csrf_token": csrf,
        "content_time": "08:45",
        "content_timezone": "Europe/Paris",
        "content_enabled": "1",
        "stats_time": "09:00",
        "stats_timezone": "Europe/Paris",
    }
    assert client.post("/integrations/1/schedules", data=schedules).status_code == 303
    client.headers["X-CSRF-Token"] = csrf
    run = client.post("/api/integrations/1/sync/stats").json()["id"]
    client.post(f"/api/runs/{run}/cancel")

    entries = client.get("/api/audit").json()
    got = [(e["actor"], e["action"], e["integration_id"]) for e in entries]
    assert ("admin", "login", None) in got
    assert ("admin", "settings_changed", 1) in got
    assert ("admin", "sync_now", 1) in got and ("admin", "schedule_changed", 1) in got
    assert ("admin", "cancel", 1) in got
    changed = next(e for e in entries if e["action"] == "settings_changed")
    assert changed["detail"] == "changed: author_id" and changed["client"]
    page = client.get("/audit")
    assert page.status_code == 200 and "Settings saved" in page.text
    assert SECRET not in page.text and SECRET not in str(entries)
    assert "admin-password-1" not in page.text

    client.headers.pop("X-CSRF-Token")
    client.post("/logout", data={"csrf_token": csrf})
    assert service.auth.audit.recent(1)[0].action == "logout"

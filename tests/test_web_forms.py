"""The forms in the form's words (issue 12): every problem at once on its field, the setup
checklist, confirmations, deep links through sign-in, a form kept across an expired session."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.service_models import AdminSession
from learnsync.web import create_app
from learnsync.web.forms import Drafts, config_problem, import_problems
from learnsync.web.security import login_url, safe_next
from service_support import fake_service, settings_form

PASSWORD = "admin-password-1"
SECRETS = {
    "coursera_client_secret": "cs-SECRET-coursera-1234",
    "coursera_refresh_token": "rt-SECRET-refresh-5678",
    "threesixty_client_secret": "ts-SECRET-360-9012",
}
# what an administrator must never read: config keys, environment variables
CONFIG_WORDS = re.compile(
    r"LEARNSYNC_|\[coursera\]|\[threesixty\]|org_id|client_secret\b|missing key"
)


@pytest.fixture
def service(tmp_path: Path) -> Any:
    svc = fake_service(
        f"sqlite:///{tmp_path / 'forms.db'}", PASSWORD, ("admin", "other"), **SECRETS
    )
    yield svc
    svc.close()


@pytest.fixture
def client(service: Service) -> TestClient:
    return TestClient(create_app(service), follow_redirects=False)


def _marked(page: str) -> list[str]:
    """The ids of the fields marked invalid, in page order."""
    return re.findall(r'id="([a-z_]+)"[^>]*aria-invalid="true"', page)


def _summary_links(page: str) -> list[str]:
    found = re.search(r'id="problems">(.*?)</ul>', page, re.S)
    assert found, page
    return re.findall(r'<a href="#([a-z_]+)">', found.group(1))


def _autofocus(page: str) -> list[str]:
    return re.findall(r'id="([a-z_]+)"[^>]*\bautofocus\b', page)


def _text(page: str) -> str:
    return re.sub(r"<[^>]+>", " ", page)


# ---------------------------------------------------------------------- every problem at once


def test_an_empty_new_integration_marks_every_field_at_once(client: TestClient) -> None:
    csrf = admin_login(client, PASSWORD)
    answer = client.post("/integrations/new", data={"csrf_token": csrf, "label": ""})
    assert answer.status_code == 400
    required = [
        "label",
        "coursera_client_id",
        "coursera_client_secret",
        "coursera_org_id",
        "coursera_refresh_token",
        "threesixty_client_id",
        "threesixty_client_secret",
        "group_id",
        "author_id",
    ]
    assert _marked(answer.text) == required
    assert _summary_links(answer.text) == required  # each a link to its field
    assert _autofocus(answer.text) == ["label"]  # the focus on the first
    # each message under its field, named by aria-describedby
    for name in required:
        assert f'aria-describedby="{name}-error {name}-help"' in answer.text, name
        assert f'<p class="field-error" id="{name}-error">' in answer.text, name
    assert "Enter the Organization ID" in answer.text
    assert not CONFIG_WORDS.search(_text(answer.text)), CONFIG_WORDS.search(_text(answer.text))
    assert client.get("/api/integrations").json()[0]["label"] == "Coursera"  # nothing added
    assert len(client.get("/api/integrations").json()) == 1


def test_bad_ids_and_an_unknown_host_are_marked_together(client: TestClient) -> None:
    csrf = admin_login(client, PASSWORD)
    form = {
        "csrf_token": csrf,
        "label": "Coursera",
        "coursera_org_id": "org-1",
        "coursera_client_id": "client-1",
        "threesixty_client_id": "tsl-client",
        "group_id": "not-an-id",
        "author_id": "b" * 23,
        "threesixty_base_url": "https://evil.example.com",
        "coursera_token_url": "http://accounts.coursera.org/token",
    }
    answer = client.post("/integrations/new", data={**form, **SECRETS})
    assert answer.status_code == 400
    # the Advanced section opens when one of its fields is marked
    assert _marked(answer.text) == [
        "coursera_token_url",
        "threesixty_base_url",
        "group_id",
        "author_id",
    ]
    assert _autofocus(answer.text) == ["coursera_token_url"]
    assert "<details open>" in answer.text
    text = _text(answer.text)
    assert "24 characters" in text and "evil.example.com is not a 360Learning host" in text
    assert "ask the operator of learnsync to allow this host" in text
    assert not CONFIG_WORDS.search(text)
    # what was typed stays in the form; secrets never come back
    assert 'value="not-an-id"' in answer.text
    for secret in SECRETS.values():
        assert secret not in answer.text
    assert len(client.get("/api/integrations").json()) == 1  # nothing added


def test_a_changed_endpoint_asks_for_its_secrets_on_their_fields(client: TestClient) -> None:
    csrf = admin_login(client, PASSWORD)
    form = {
        "csrf_token": csrf,
        "label": "Coursera",
        "coursera_org_id": "org-1",
        "coursera_client_id": "client-1",
        "threesixty_client_id": "tsl-client",
        "group_id": "a" * 24,
        "author_id": "b" * 24,
        "threesixty_base_url": "https://app.us.360learning.com",
    }
    answer = client.post("/integrations/1", data=form)
    assert answer.status_code == 400
    assert _marked(answer.text) == ["threesixty_client_secret"]
    assert "The Platform URL changed: enter the API Client secret again" in answer.text


def test_saving_confirms_and_the_confirmation_shows_once(client: TestClient) -> None:
    csrf = admin_login(client, PASSWORD)
    form = {
        "csrf_token": csrf,
        "action": "save",
        "label": "Coursera",
        "coursera_org_id": "org-2",
        "coursera_client_id": "client-1",
        "threesixty_client_id": "tsl-client",
        "group_id": "a" * 24,
        "author_id": "b" * 24,
    }
    saved = client.post("/integrations/1", data=form)
    assert (saved.status_code, saved.headers["location"]) == (303, "/integrations/1")
    page = client.get("/integrations/1").text
    assert "Settings saved." in page and 'value="org-2"' in page
    assert "Settings saved." not in client.get("/integrations/1").text  # once


def test_schedules_mark_both_problems_and_save_neither(client: TestClient, service: Any) -> None:
    csrf = admin_login(client, PASSWORD)
    before = {s.kind: (s.time_of_day, s.timezone) for s in service.repo.list_schedules(1)}
    form = {
        "csrf_token": csrf,
        "content_time": "07:15",
        "content_timezone": "Mars/Olympus",
        "content_enabled": "1",
        "stats_time": "25:99",
        "stats_timezone": "Europe/Paris",
        "stats_enabled": "1",
    }
    answer = client.post("/integrations/1/schedules", data=form)
    assert answer.status_code == 400
    assert _marked(answer.text) == ["content_timezone", "stats_time"]
    assert _autofocus(answer.text) == ["content_timezone"]
    assert "“Mars/Olympus” is not a time zone" in answer.text
    assert 'value="Mars/Olympus"' in answer.text and 'value="07:15"' in answer.text
    after = {s.kind: (s.time_of_day, s.timezone) for s in service.repo.list_schedules(1)}
    assert after == before  # the valid content time was not saved alone
    good = {**form, "content_timezone": "America/New_York", "stats_time": "09:30"}
    saved = client.post("/integrations/1/schedules", data=good)
    assert (saved.status_code, saved.headers["location"]) == (303, "/integrations/1/schedules")
    assert "Schedules saved." in client.get("/integrations/1/schedules").text


def _upload(client: TestClient, csrf: str, text: str, label: str = "Second") -> Any:
    return client.post(
        "/import",
        data={"csrf_token": csrf, "label": label},
        files={"config": ("learnsync.toml", text.encode(), "application/toml")},
    )


GOOD_TOML = """
[coursera]
org_id = "org-1"
client_id = "c"
client_secret = "s"
refresh_token = "r"
[threesixty]
client_id = "t"
client_secret = "s"
group_id = "cccccccccccccccccccccccc"
author_id = "dddddddddddddddddddddddd"
integration_name = "Imported"
"""


def test_import_of_a_broken_file_says_what_in_words(client: TestClient, service: Any) -> None:
    csrf = admin_login(client, PASSWORD)
    missing = _upload(
        client, csrf, GOOD_TOML.replace('group_id = "cccccccccccccccccccccccc"\n', "")
    )
    assert missing.status_code == 400
    assert _marked(missing.text) == ["config"]
    assert "The file has no Synchronized group ID: add it, then import again." in missing.text
    assert "LEARNSYNC_" not in missing.text  # an upload does not read the environment
    assert '<small class="code">([threesixty] group_id)</small>' in missing.text  # small print
    broken = _upload(client, csrf, GOOD_TOML.replace('org_id = "org-1"', "org_id = org-1"))
    assert broken.status_code == 400
    assert "The file is not a valid config file (TOML): check line 3, column" in broken.text
    bad_id = _upload(client, csrf, GOOD_TOML.replace("d" * 24, "nope"))
    assert "In the file, the Author ID must be a 360Learning id" in bad_id.text
    typo = _upload(client, csrf, GOOD_TOML.replace("author_id", "autor_id"))
    assert "The file has no Author ID" in typo.text
    assert len(service.repo.list_integrations()) == 1  # nothing imported
    done = _upload(client, csrf, GOOD_TOML)
    assert done.status_code == 303
    assert (
        "Config file imported: a new integration was added."
        in client.get(done.headers["location"]).text
    )


def test_config_messages_in_words() -> None:
    problem = config_problem(
        "integration 'X': missing key 'org_id' in [coursera]: set it in the file or in the "
        "environment variable LEARNSYNC_COURSERA_ORG_ID"
    )
    assert (problem.field, problem.message) == (
        "coursera_org_id",
        "The Organization ID is missing: enter it.",
    )
    unknown = import_problems("the uploaded file: unknown key 'group' in [threesixty] (…)", "A")
    assert unknown.errors == {
        "config": "The file has a setting learnsync does not know: check its spelling, or "
        "remove it."
    }


# ---------------------------------------------------------------------- sign-in and session


def test_logout_says_so_on_the_sign_in_page(client: TestClient) -> None:
    csrf = admin_login(client, PASSWORD)
    out = client.post("/logout", data={"csrf_token": csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    page = client.get("/login").text
    assert "You are signed out." in page
    assert "You are signed out." not in client.get("/login").text


def _login(client: TestClient, next_path: str | None, password: str = PASSWORD) -> Any:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token
    data = {"username": "admin", "password": password, "csrf_token": token.group(1)}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login", data=data)


def test_a_deep_link_survives_sign_in(client: TestClient) -> None:
    asked = client.get("/integrations/1/schedules?x=1")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=" + quote("/integrations/1/schedules?x=1", "")
    page = client.get(asked.headers["location"]).text
    assert '<input type="hidden" name="next" value="/integrations/1/schedules?x=1">' in page
    # a wrong password keeps where to go
    wrong = _login(client, "/integrations/1/schedules?x=1", password="nope-nope-nope")
    assert wrong.headers["location"] == "/login?error=1&next=" + quote(
        "/integrations/1/schedules?x=1", ""
    )
    signed_in = _login(client, "/integrations/1/schedules?x=1")
    assert signed_in.headers["location"] == "/integrations/1/schedules?x=1"
    assert client.get(signed_in.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example.com/x",
        "https://evil.example.com/",
        "/\\evil.example.com",
        "\\\\evil.example.com",
        "javascript:alert(1)",
        "/login",
        "/ok\r\nSet-Cookie: x=1",
        "evil.example.com",
        "/" + "a" * 3000,
    ],
)
def test_sign_in_goes_nowhere_but_this_site(client: TestClient, target: str) -> None:
    assert safe_next(target) is None
    assert login_url(target) == "/login"
    answer = _login(client, target)
    assert (answer.status_code, answer.headers["location"]) == (303, "/integrations")
    page = client.get("/login?next=" + quote(target, "")).text
    assert 'name="next"' not in page


def _expire_sessions(service: Any) -> None:
    """Every session idle for an hour (past the 30 min idle timeout, within its lifetime)."""
    table = AdminSession.__table__
    with service.repo.engine.begin() as conn:
        conn.execute(update(table).values(last_seen_at=service.repo.now() - timedelta(hours=1)))


def _settings_post(csrf: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "action": "save",
        "label": "Coursera",
        "coursera_org_id": "org-typed",
        "coursera_client_id": "client-1",
        "threesixty_client_id": "tsl-client",
        "group_id": "c" * 24,
        "author_id": "b" * 24,
        "coursera_client_secret": "typed-SECRET-0001",
    }
    return {**form, **changes}


def test_an_expired_session_keeps_what_was_typed_but_no_secret(
    client: TestClient, service: Any
) -> None:
    csrf = admin_login(client, PASSWORD)
    _expire_sessions(service)
    refused = client.post("/integrations/1", data=_settings_post(csrf))
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location.startswith("/login?expired=1&next=" + quote("/integrations/1?draft=", ""))
    login_page = client.get(location).text
    assert "what you typed comes back, except secrets" in login_page
    assert client.get("/integrations/1").status_code == 303  # the session stays ended
    back = _login(client, re.search(r'name="next" value="([^"]+)"', login_page).group(1))
    assert back.headers["location"].startswith("/integrations/1?draft=")
    page = client.get(back.headers["location"]).text
    assert "Your session had ended, so nothing was saved" in page
    assert 'value="org-typed"' in page and 'value="' + "c" * 24 + '"' in page
    assert "typed-SECRET-0001" not in page
    assert service.integrations.get(1).coursera_org_id == "org-1"  # nothing saved
    # once: the same link shows the stored settings
    again = client.get(back.headers["location"]).text
    assert 'value="org-1"' in again and "nothing was saved" not in again


def test_schedules_typed_before_the_session_ended_come_back(
    client: TestClient, service: Any
) -> None:
    csrf = admin_login(client, PASSWORD)
    _expire_sessions(service)
    form = {
        "csrf_token": csrf,
        "content_time": "06:10",
        "content_timezone": "Asia/Tokyo",
        "stats_time": "09:00",
        "stats_timezone": "Europe/Paris",
    }
    refused = client.post("/integrations/1/schedules", data=form)
    assert refused.status_code == 303
    next_path = re.search(r"next=([^&]+)", refused.headers["location"]).group(1)
    back = _login(client, unquote(next_path))
    page = client.get(back.headers["location"]).text
    assert 'value="06:10"' in page and 'value="Asia/Tokyo"' in page


def test_no_draft_without_the_ended_sessions_csrf_token_or_cookie(
    client: TestClient, service: Any
) -> None:
    csrf = admin_login(client, PASSWORD)
    _expire_sessions(service)
    forged = client.post("/integrations/1", data=_settings_post("forged-token"))
    assert forged.status_code == 401  # another site cannot plant a draft
    stranger = TestClient(create_app(service), follow_redirects=False)
    assert stranger.post("/integrations/1", data=_settings_post(csrf)).status_code == 401
    secretless = client.post("/integrations/1", data=_settings_post(csrf))
    assert secretless.status_code == 303  # the real form, for comparison
    # a browser's form without any session: to sign in and back to the form, nothing kept
    page = {"Accept": "text/html,application/xhtml+xml"}
    anonymous = stranger.post("/integrations/1", data=_settings_post(csrf), headers=page)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=" + quote("/integrations/1", "")


def test_a_draft_is_for_its_administrator_and_page_only() -> None:
    now = [0.0]
    drafts = Drafts(clock=lambda: now[0])
    key = drafts.put(1, "/integrations/1", {"group_id": "x", "coursera_client_secret": "s"})
    assert drafts.take(key, 2, "/integrations/1") is None  # another administrator
    assert drafts.take(key, 1, "/integrations/2") is None  # another page
    assert drafts.take(key, 1, "/integrations/1") == {"group_id": "x"}  # no secret kept
    assert drafts.take(key, 1, "/integrations/1") is None  # once
    late = drafts.put(1, "/integrations/1", {"group_id": "y"})
    now[0] += 16 * 60
    assert drafts.take(late, 1, "/integrations/1") is None  # expired


# ---------------------------------------------------------------------- the setup checklist


@pytest.fixture
def flow(tmp_path: Path) -> Any:
    with running_stack(World(seed=7, catalog_size=20, learners=5, enrollments=10)) as stack:
        service = Service(f"sqlite:///{tmp_path / 'flow.db'}", SecretBox.generate())
        service.auth.create_user("admin", PASSWORD)
        raw = tomllib.loads(stack.config_toml(service.store_url))
        service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        client = TestClient(create_app(service), follow_redirects=False)
        yield service, client, admin_login(client, PASSWORD), stack
        service.close()


def _chip(page: str, check: str) -> str:
    found = re.search(
        rf'<li data-check="{check}" data-status="(\w+)">\s*<span class="chip chip-(\w+)"', page
    )
    assert found, page
    return f"{found.group(1)}/{found.group(2)}"


def test_a_wrong_secret_on_setup_shows_the_failed_check_on_its_field(flow: Any) -> None:
    service, client, csrf, _stack = flow
    before = service.integrations.clear_secrets(1)["coursera_client_secret"]
    answer = client.post(
        "/integrations/1", data=settings_form(service, csrf, coursera_client_secret="wrong-secret")
    )
    assert answer.status_code == 400
    assert _chip(answer.text, "Coursera credentials") == "failed/error"
    assert _chip(answer.text, "Coursera organization") == "skipped/neutral"  # not red
    assert _chip(answer.text, "360Learning credentials") == "ok/ok"
    assert _marked(answer.text) == ["coursera_client_id", "coursera_client_secret"]
    assert _autofocus(answer.text) == ["coursera_client_id"]
    text = _text(answer.text)
    assert "check the Client ID and Client secret" in text
    assert "under Advanced, the Authorization flow" in text  # not "[coursera] auth"
    assert not CONFIG_WORDS.search(text)
    assert "wrong-secret" not in answer.text
    # nothing stored: the working secret and the setup status stay
    assert service.integrations.clear_secrets(1)["coursera_client_secret"] == before
    assert service.integrations.get(1).setup_status == "new"


def test_a_passed_setup_says_the_articles_sentence(flow: Any) -> None:
    service, client, csrf, _stack = flow
    answer = client.post("/integrations/1", data=settings_form(service, csrf))
    assert answer.status_code == 200, answer.text
    assert "The following day, content will be synchronized to your platform." in answer.text
    assert set(re.findall(r'data-check="[^"]+" data-status="(\w+)"', answer.text)) == {"ok"}
    assert _marked(answer.text) == []

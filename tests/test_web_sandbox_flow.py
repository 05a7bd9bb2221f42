"""Article Steps 3 and 4 through the web app against both simulators (no browser)."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login, store_record
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.threesixty.state import ALL_SCOPES
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.jobs import RunJobs
from learnsync.web import create_app
from service_support import settings_form


@pytest.fixture
def flow(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_stack(World(seed=7, catalog_size=60, learners=20, enrollments=40)) as stack:
        service = Service(f"sqlite:///{tmp_path / 'flow.db'}", SecretBox.generate())
        service.auth.create_user("admin", "admin-password-1")
        raw = tomllib.loads(stack.config_toml(service.store_url))
        service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        client = TestClient(create_app(service), follow_redirects=False)
        csrf = admin_login(client)
        yield service, client, csrf, stack
        service.close()


def _check_message(page: str, name: str, status: str = "failed") -> str | None:
    """The message of the setup check ``name`` on the settings page, when it has ``status``."""
    found = re.search(
        rf'<li data-check="{name}" data-status="{status}">.*?'
        r'<span class="check-message">([^<]*)</span>',
        page,
        re.S,
    )
    return found.group(1) if found else None


def _problems(page: str) -> str:
    """The text of the problems' summary at the top of a refused form."""
    found = re.search(r'<div class="banner banner-error problems"(.*?)</ul>', page, re.S)
    assert found, page
    return re.sub(r"<[^>]+>", "", found.group(1))


def test_setup_integration_succeeds(flow) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, _ = flow
    answer = client.post("/integrations/1", data=settings_form(service, csrf))
    assert answer.status_code == 200, answer.text
    assert "Integration set up" in answer.text
    assert service.integrations.get(1).setup_status == "ok"
    assert client.get("/api/integrations").json()[0]["health"] == "ok"


def test_sync_now_then_filters(flow) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, stack = flow

    sync = client.post("/integrations/1/sync/content", data={"csrf_token": csrf})
    assert sync.status_code == 303
    service.runs.wait()
    live = service.runs.latest(1)
    assert live.status == "succeeded", live.message
    runs = client.get("/api/integrations/1/runs").json()
    assert runs[0]["kind"] == "content" and runs[0]["status"] == "succeeded"
    assert client.get(f"/integrations/1/runs/{runs[0]['id']}").status_code == 200

    languages = client.get("/integrations/1/languages")
    assert "+ Add languages" in languages.text
    codes = re.findall(r'<input type="checkbox" value="([^"]+)"', languages.text)
    assert codes
    preview = client.post(
        "/integrations/1/filters",
        data={"csrf_token": csrf, "which": "languages", "value": codes[0]},
    )
    match = re.search(r"(\d+) courses will be archived, (\d+) restored", preview.text)
    assert match, preview.text
    will_archive = int(match.group(1))
    assert store_record(service, 1).languages == []  # the preview saved nothing
    saved = client.post(
        "/integrations/1/filters",
        data={"csrf_token": csrf, "which": "languages", "value": codes[0], "confirm": "1"},
    )
    # the save is a run: the page returns at once and sends the admin to the run's page
    assert saved.status_code == 303
    location = saved.headers["location"]
    run_id = int(location.rsplit("/", 1)[1])
    assert location == f"/integrations/1/runs/{run_id}"
    service.runs.wait()
    run = service.runs.get(run_id)
    assert (run.status, run.kind, run.trigger) == ("succeeded", "filters", "filters")
    assert f"{will_archive} courses archived" in client.get(location).text
    assert store_record(service, 1).languages == [codes[0]]
    # the archive happened in 360Learning, not only in the store
    archived = [c for c in stack.threesixty.courses if c.status == "archived"]
    assert len(archived) == will_archive


@pytest.mark.parametrize(
    ("changes", "failed_check", "words"),
    [
        ({"coursera_org_id": "no-such-org"}, "Coursera organization", "Organization ID"),
        ({"group_id": "f" * 24}, "360Learning group", "Synchronized group ID"),
        ({"author_id": "f" * 24}, "360Learning author", "Author ID"),
    ],
)
def test_setup_failures_are_actionable(flow, changes, failed_check, words) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, _ = flow
    answer = client.post("/integrations/1", data=settings_form(service, csrf, **changes))
    assert answer.status_code == 400
    message = _check_message(answer.text, failed_check)
    assert message, answer.text
    assert words.lower() in message.lower()
    assert service.integrations.get(1).setup_status == "error"


@pytest.mark.parametrize("action", ["setup", "save"])
@pytest.mark.parametrize(
    ("field", "api", "words"),
    [
        ("coursera_refresh_token", "Coursera", "refresh token"),
        ("threesixty_client_secret", "360Learning", "client secret"),
    ],
)
def test_a_mistyped_secret_is_refused_and_the_working_one_kept(
    flow, action, field, api, words
) -> None:  # type: ignore[no-untyped-def]
    """Check, then store: a typo in a secret, on Setup integration or on a plain Save, is
    refused before it replaces the stored secret (write-only: it could not be got back), and
    the next sync still works."""
    service, client, csrf, _ = flow
    assert client.post("/integrations/1", data=settings_form(service, csrf)).status_code == 200
    before = service.integrations.clear_secrets(1)[field]
    typo = "wrong-" + before[:6]
    answer = client.post(
        "/integrations/1", data=settings_form(service, csrf, action=action, **{field: typo})
    )
    assert answer.status_code == 400
    error = _problems(answer.text).lower()
    assert f"the changed credentials were not saved — {api.lower()} refused them" in error
    assert words in error
    assert typo not in answer.text and before not in answer.text
    assert service.integrations.clear_secrets(1)[field] == before  # the working one stays
    assert service.integrations.get(1).setup_status == "ok"  # still the verified one
    run = client.post("/integrations/1/sync/content", data={"csrf_token": csrf})
    assert run.status_code == 303
    service.runs.wait()
    assert service.runs.latest(1).status == "succeeded"


def test_a_verified_credential_edit_marks_the_integration_not_verified(flow) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, _stack = flow
    assert client.post("/integrations/1", data=settings_form(service, csrf)).status_code == 200
    assert service.integrations.get(1).setup_status == "ok"
    secret = service.integrations.clear_secrets(1)["threesixty_client_secret"]
    saved = client.post(
        "/integrations/1",
        data=settings_form(service, csrf, action="save", threesixty_client_secret=secret),
    )
    assert saved.status_code == 303  # the same (working) secret entered again: checked, saved
    item = service.integrations.get(1)
    assert (item.setup_status, item.setup_message) == (
        "new",
        "credentials changed: run Setup integration to check them",
    )
    assert "Not verified" in client.get("/integrations/1").text


def test_filter_save_waits_in_the_queue_behind_a_running_run(flow) -> None:  # type: ignore[no-untyped-def]
    """A filter save writes to 360Learning: while a run of the integration holds the lease
    (another process's, say) it waits in the queue — nothing saved or archived — and runs
    once the lease is given back."""
    service, client, csrf, stack = flow
    assert client.post("/integrations/1/sync/content", data={"csrf_token": csrf}).status_code == 303
    service.runs.wait()
    codes = re.findall(
        r'<input type="checkbox" value="([^"]+)"', client.get("/integrations/1/languages").text
    )
    jobs = RunJobs(service.store.engine)
    other, owner = jobs.submit(1, "content", "cli"), "another-host:4242:cafe0001"
    jobs.start(other, owner)
    saved = client.post(
        "/integrations/1/filters",
        data={"csrf_token": csrf, "which": "languages", "value": codes[0], "confirm": "1"},
    )
    assert saved.status_code == 303
    run_id = int(saved.headers["location"].rsplit("/", 1)[1])
    page = client.get(saved.headers["location"]).text
    assert "queued" in page and "Cancel run" in page
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "queued"
    assert client.get("/api/integrations/1/progress").json()["id"] == other  # the one going
    service.runs.start_executor()  # the dispatcher looks again: still busy
    time.sleep(0.5)
    assert service.runs.get(run_id).status == "queued"
    assert store_record(service, 1).languages == []
    assert not [c for c in stack.threesixty.courses if c.status == "archived"]

    jobs.end(other, owner, "succeeded")  # the other process's run ends
    service.runs.start_executor()
    service.runs.wait()
    assert service.runs.get(run_id).status == "succeeded"
    assert store_record(service, 1).languages == [codes[0]]
    assert [c for c in stack.threesixty.courses if c.status == "archived"]


def test_setup_names_a_missing_courses_read_scope(flow) -> None:  # type: ignore[no-untyped-def]
    """A 360Learning credential without ``courses:read`` cannot reconcile an interrupted run:
    the setup says so now, naming the scope, instead of the first run after a kill failing."""
    service, client, csrf, stack = flow
    scopes = [s for s in ALL_SCOPES if s != "courses:read"]
    credential = stack.threesixty.add_credential(scopes)
    answer = client.post(
        "/integrations/1",
        data=settings_form(
            service,
            csrf,
            threesixty_client_id=credential.client_id,
            threesixty_client_secret=credential.client_secret,
        ),
    )
    assert answer.status_code == 400
    message = _check_message(answer.text, "360Learning course access")
    assert message and "courses:read" in message, answer.text
    assert service.integrations.get(1).setup_status == "error"
    # the others were checked
    assert '<li data-check="360Learning credentials" data-status="ok">' in answer.text

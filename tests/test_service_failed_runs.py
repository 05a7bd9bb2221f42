"""A run the service starts and that fails (a wrong stored secret) leaves a failed run row."""

from __future__ import annotations

import html
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput, input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.service.setup import form_words
from learnsync.web import create_app
from service_support import sample_input

WRONG = "wrong-secret-4f9c2e"


@pytest.fixture
def flow(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_stack(World(seed=7, catalog_size=30, learners=10, enrollments=20)) as stack:
        box = SecretBox.generate()
        url = f"sqlite:///{tmp_path / 'failed.db'}"
        service = Service(url, box)
        service.auth.create_user("admin", "admin-password-1")
        raw = tomllib.loads(stack.config_toml(service.store_url))
        data = input_from_config(parse_config(raw), "Coursera")
        service.integrations.save(data)
        client = TestClient(create_app(service), follow_redirects=False)
        csrf = admin_login(client)
        yield service, client, csrf, data, (url, box)
        service.close()


def _succeed_then_break(
    service: Service, client: TestClient, csrf: str, kind: str, data: IntegrationInput, field: str
) -> None:
    """A successful run of ``kind`` first (the old "last run succeeded"), then a wrong secret."""
    assert client.post(f"/integrations/1/sync/{kind}", data={"csrf_token": csrf}).status_code == 303
    service.runs.wait()
    assert service.runs.latest(1).status == "succeeded", service.runs.latest(1).error
    service.integrations.save(data.model_copy(update={field: WRONG}), 1)


def _assert_failed(service: Service, client: TestClient, kind: str, runs_before: int) -> None:
    runs = client.get("/api/integrations/1/runs").json()
    assert len(runs) == runs_before + 1  # one row for the failed attempt, not two
    assert runs[0]["kind"] == kind and runs[0]["status"] == "failed"
    error = runs[0]["error"]
    assert error and "\n" not in error and "Traceback" not in error
    assert WRONG not in error
    summary = client.get("/api/integrations").json()[0]
    assert summary["health"] == "error"
    assert summary[f"last_{kind}_run"]["status"] == "failed"
    assert summary[f"last_{kind}_run"]["error"] == error
    assert WRONG not in client.get("/integrations/1/runs").text
    assert "failed" in client.get("/integrations/1/runs").text


def _assert_failed_after_restart(location: tuple[str, SecretBox], kind: str) -> None:
    url, box = location
    again = Service(url, box)
    try:
        from learnsync.web.views import runs_of, summary

        runs = runs_of(again, 1)
        assert runs[0]["kind"] == kind and runs[0]["status"] == "failed" and runs[0]["error"]
        info = summary(again, again.integrations.get(1))
        assert info["health"] == "error"
        assert info[f"last_{kind}_run"]["status"] == "failed"
    finally:
        again.close()


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("content", "coursera_client_secret"),
        ("content", "threesixty_client_secret"),
        ("stats", "coursera_client_secret"),
        ("stats", "threesixty_client_secret"),
    ],
)
def test_manual_sync_with_a_wrong_secret_records_a_failed_run(flow, kind, field) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, data, location = flow
    _succeed_then_break(service, client, csrf, kind, data, field)
    before = len(client.get("/api/integrations/1/runs").json())

    assert client.post(f"/integrations/1/sync/{kind}", data={"csrf_token": csrf}).status_code == 303
    service.runs.wait()
    assert service.runs.latest(1).status == "failed"
    _assert_failed(service, client, kind, before)
    _assert_failed_after_restart(location, kind)


@pytest.mark.parametrize("kind", ["content", "stats"])
def test_scheduled_run_with_a_lapsed_token_records_a_failed_run(flow, kind) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, data, location = flow
    _succeed_then_break(service, client, csrf, kind, data, "coursera_refresh_token")
    before = len(client.get("/api/integrations/1/runs").json())

    run_id = service.runs.start(1, kind, trigger="schedule")  # what the scheduler calls
    service.runs.wait()
    assert service.runs.get(run_id).status == "failed"
    _assert_failed(service, client, kind, before)
    _assert_failed_after_restart(location, kind)


def test_a_crashing_pipeline_records_one_line_without_a_traceback(tmp_path: Path) -> None:
    def boom(config, progress, ticket, params):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"line one {WRONG}\nline two")

    box = SecretBox.generate()
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    service = Service(url, box, pipelines={"content": boom, "stats": boom})
    try:
        service.integrations.save(sample_input())
        run_id = service.runs.start(1, "content")
        service.runs.wait()
        assert service.runs.get(run_id).status == "failed"
        from learnsync.web.views import runs_of

        runs = runs_of(service, 1)
        assert len(runs) == 1 and runs[0]["status"] == "failed"
        assert "\n" not in runs[0]["error"] and WRONG not in runs[0]["error"]
        assert "RuntimeError" in runs[0]["error"]
    finally:
        service.close()


def test_filter_save_with_a_wrong_secret_records_a_failed_run(flow) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, data, _location = flow
    _succeed_then_break(service, client, csrf, "content", data, "threesixty_client_secret")
    before = len(client.get("/api/integrations/1/runs").json())

    saved = client.post(
        "/integrations/1/filters",
        data={"csrf_token": csrf, "which": "languages", "value": "fr", "confirm": "1"},
    )
    assert saved.status_code == 303  # submitted: the run's page shows how it ends
    service.runs.wait()
    runs = client.get("/api/integrations/1/runs").json()
    assert len(runs) == before + 1
    assert runs[0]["kind"] == "filters" and runs[0]["status"] == "failed"
    assert runs[0]["error"] and "\n" not in runs[0]["error"] and WRONG not in runs[0]["error"]
    # a failed save saved nothing (as `filters set` on the command line) and says why
    assert service.store.get_integration(1).languages == []
    # the run's page says it in the settings form's words (Client ID, not [threesixty])
    page = html.unescape(client.get(saved.headers["location"]).text)
    assert form_words(runs[0]["error"]) in page

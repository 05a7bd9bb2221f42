"""The run lists (Runs page, Integrations list, their API) and the anonymous ``/metrics`` read
the runs' summary columns only, never a stored report (issue 9)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from e2e_support import admin_login, store_record
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app

LIST_PAGES = (
    "/integrations",
    "/integrations/1/runs",
    "/api/integrations",
    "/api/integrations/1/runs",
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Service, TestClient]]:
    with running_stack(World(seed=5, catalog_size=60, learners=30, enrollments=80)) as stack:
        service = Service(f"sqlite:///{tmp_path / 'p.db'}", SecretBox.generate())
        service.auth.create_user("admin", "admin-password-1")
        raw = tomllib.loads(stack.config_toml(service.store_url))
        service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        client = TestClient(create_app(service), follow_redirects=False)
        admin_login(client)
        service.runs.start(1, "content")
        service.runs.wait()
        assert service.runs.latest(1).status == "succeeded", service.runs.latest(1).message
        yield service, client
        service.close()


def _statements(service: Service) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(service.store.engine, "before_cursor_execute", record)
    return seen


def _pages(client: TestClient) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for path in LIST_PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        answers[path] = response.json() if path.startswith("/api/") else None
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    answers["/metrics"] = metrics.text
    return answers


def test_list_pages_and_metrics_never_read_a_report(site: tuple[Service, TestClient]) -> None:
    service, client = site
    before = _pages(client)
    (run,) = before["/api/integrations/1/runs"]
    assert run["counts"]["created"] > 0 and run["skipped"] > 0
    assert before["/api/integrations"][0]["last_content_run"]["id"] == run["id"]
    assert 'outcome="created"' in before["/metrics"]

    # no statement of a list page reads the report column ...
    statements = _statements(service)
    _pages(client)
    assert statements and not [s for s in statements if "report" in s.lower()]

    # ... so a report that cannot even be decoded changes nothing on them
    with service.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET report = 'not json {'"))
    after = _pages(client)
    assert after == before


def test_the_run_page_shows_the_totals_of_a_bounded_report(
    site: tuple[Service, TestClient],
) -> None:
    service, client = site
    record = store_record(service, 1)
    assert record is not None
    run_id = service.store.start_run(record.id, "content", False)
    skipped = [{"externalId": f"Course~s{i}", "reason": "missing_name"} for i in range(130)]
    service.store.finish_run(
        run_id,
        "succeeded",
        {
            "kind": "content",
            "dry_run": False,
            "created": 0,
            "updated": 0,
            "unchanged": 5,
            "archived": 0,
            "restored": 0,
            "skipped": skipped,
            "failed": [],
            "warnings": [],
        },
    )
    page = client.get(f"/integrations/1/runs/{run_id}")
    assert page.status_code == 200
    assert "Skipped (130)" in page.text
    assert "The first 100 of 130" in page.text
    # kept items are paged (50 a page, in the report's order)
    assert "Course~s49" in page.text and "Course~s50" not in page.text
    second = client.get(f"/integrations/1/runs/{run_id}?skipped_page=2").text
    assert "Course~s99" in second and "Course~s100" not in second
    listed = {r["id"]: r for r in client.get("/api/integrations/1/runs").json()}
    assert listed[run_id]["skipped"] == 130

    with service.store.engine.begin() as conn:  # a run recorded without any report
        conn.execute(sa.text("UPDATE runs SET report = NULL WHERE id = :id"), {"id": run_id})
    assert client.get(f"/integrations/1/runs/{run_id}").status_code == 200

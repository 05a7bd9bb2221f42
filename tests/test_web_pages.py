"""Catalog, Statistics, Schedules, Import and the refresh-token warning, through the web app
against both simulators (no browser)."""

from __future__ import annotations

import logging
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.scheduler import Scheduler
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app, views


class Clock:
    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime.now(UTC)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    with running_stack(World(seed=5, catalog_size=60, learners=30, enrollments=80)) as stack:
        clock = Clock()
        service = Service(f"sqlite:///{tmp_path / 'p.db'}", SecretBox.generate(), clock=clock)
        service.auth.create_user("admin", "admin-password-1")
        raw = tomllib.loads(stack.config_toml(service.store_url))
        service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        client = TestClient(create_app(service), follow_redirects=False)
        yield service, client, _login(client), stack, clock
        service.close()


def _login(client: TestClient) -> str:
    return admin_login(client)


def _sync(service: Service, kind: str) -> None:
    service.runs.start(1, kind)
    service.runs.wait()
    assert service.runs.latest(1).status == "succeeded", service.runs.latest(1).message


def test_catalog_search_and_filters(site) -> None:  # type: ignore[no-untyped-def]
    service, client, _csrf, _stack, _ = site
    assert "No content synchronized yet." in client.get("/integrations/1/catalog").text
    _sync(service, "content")
    full = client.get("/api/integrations/1/catalog").json()
    assert full["total"] > 0
    states = {key: n for key, _, n in full["states"]}
    assert states["active"] > 0 and states["skipped"] > 0
    # every state filter returns exactly its count
    for key, n in states.items():
        assert client.get(f"/api/integrations/1/catalog?state={key}").json()["total"] == n
    # search by a word of a title, then by a word only in a description
    title = next(r["name"] for r in full["rows"] if r["state"] == "active")
    word = max(title.split(), key=len)
    hits = client.get("/api/integrations/1/catalog", params={"q": word}).json()["rows"]
    assert any(r["name"] == title for r in hits)
    assert all(
        word.casefold() in (r["name"] + r["description"] + r["external_id"]).casefold()
        for r in hits
    )
    described = next(r for r in full["rows"] if r["description"])
    desc_words = set(described["description"].split()) - set(described["name"].split())
    probe = max(desc_words, key=len)
    found, page_number = [], 1
    while True:
        answer = client.get(
            "/api/integrations/1/catalog", params={"q": probe, "page": page_number}
        ).json()
        found += [r["external_id"] for r in answer["rows"]]
        if page_number >= answer["pages"]:
            break
        page_number += 1
    assert described["external_id"] in found
    code = full["languages"][0][0]
    by_lang = client.get(f"/api/integrations/1/catalog?language={code}").json()
    assert by_lang["total"] == full["languages"][0][2]
    assert client.get("/api/integrations/1/catalog?q=zzzznomatchzzzz").json()["total"] == 0
    page = client.get("/integrations/1/catalog", params={"q": word})
    assert page.status_code == 200 and title.split()[0] in page.text


def test_statistics_page_and_api(site) -> None:  # type: ignore[no-untyped-def]
    service, client, _csrf, _stack, _ = site
    empty = client.get("/api/integrations/1/statistics").json()
    assert empty["pairs"] == 0 and len(empty["days"]) == 30
    _sync(service, "content")
    _sync(service, "stats")
    stats = client.get("/api/integrations/1/statistics").json()
    assert stats["pairs"] == stats["sent"] + stats["skipped"] + stats["failed"] > 0
    assert sum(stats["active_learners"]) > 0  # everything changed today
    assert stats["active_learners"][-1] > 0
    if stats["top_courses"]:
        counts = [c["completions"] for c in stats["top_courses"]]
        assert counts == sorted(counts, reverse=True)
        assert sum(stats["completions"]) >= counts[0]
    assert stats["unmatched_available"] is True
    page = client.get("/integrations/1/statistics")
    assert page.status_code == 200
    assert page.text.count('class="bar"') == 60  # two charts of 30 days, inline SVG
    assert '<script src="http' not in page.text  # no CDN


def test_schedules_are_editable(site) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, _stack, _ = site
    page = client.get("/integrations/1/schedules")
    assert 'value="08:45"' in page.text and 'value="09:00"' in page.text
    form = {
        "csrf_token": csrf,
        "content_time": "07:15",
        "content_timezone": "America/New_York",
        "content_enabled": "1",
        "stats_time": "09:00",
        "stats_timezone": "Europe/Paris",
    }
    assert client.post("/integrations/1/schedules", data=form).status_code == 303
    rows = {s.kind: s for s in service.repo.list_schedules(1)}
    assert (rows["content"].time_of_day, rows["content"].timezone) == ("07:15", "America/New_York")
    assert rows["stats"].enabled is False
    for bad in ({"content_time": "25:99"}, {"content_timezone": "Mars/Olympus"}):
        answer = client.post("/integrations/1/schedules", data={**form, **bad})
        assert answer.status_code == 400 and 'role="alert"' in answer.text
    api = client.put(
        "/api/integrations/1/schedules/stats",
        json={"time_of_day": "10:30", "timezone": "UTC"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 200 and api.json()["time_of_day"] == "10:30"
    assert (
        client.put(
            "/api/integrations/1/schedules/stats",
            json={"time_of_day": "10:30", "timezone": "Nowhere/Land"},
            headers={"X-CSRF-Token": csrf},
        ).status_code
        == 422
    )


def test_an_edited_schedule_does_not_run_at_once(site) -> None:  # type: ignore[no-untyped-def]
    service, _client, _csrf, _stack, clock = site
    scheduler = Scheduler(service.repo, service.runs, clock=clock)
    earlier = (clock.now - timedelta(hours=1)).strftime("%H:%M")
    service.repo.set_schedule(1, "content", time_of_day=earlier, timezone="UTC", enabled=True)
    service.repo.set_schedule(1, "stats", time_of_day=earlier, timezone="UTC", enabled=False)
    assert scheduler.tick() == []


def test_import_a_config_file_from_the_ui(site) -> None:  # type: ignore[no-untyped-def]
    service, client, csrf, stack, _ = site
    text = stack.config_toml("sqlite:///ignored.db")
    answer = client.post(
        "/import",
        data={"csrf_token": csrf, "label": "Second"},
        files={"config": ("learnsync.toml", text.encode(), "application/toml")},
    )
    assert answer.status_code == 303, answer.text
    second = next(i for i in service.repo.list_integrations() if i.label == "Second")
    config = service.integrations.config(second.id)
    assert config.coursera.client_secret == stack.world.coursera_client_secret
    assert config.store_url == service.store_url  # the file's [store] is ignored
    # a broken file: an actionable message, no secret echoed
    broken = text.replace("group_id", "group")
    answer = client.post(
        "/import",
        data={"csrf_token": csrf, "label": "Third"},
        files={"config": ("learnsync.toml", broken.encode(), "application/toml")},
    )
    assert answer.status_code == 400 and "group" in answer.text
    assert stack.world.coursera_client_secret not in answer.text
    assert (
        client.post(
            "/import", files={"config": ("x.toml", text.encode(), "application/toml")}
        ).status_code
        == 403
    )  # CSRF


def _row(service: Service) -> dict:  # type: ignore[type-arg]
    return views.summary(service, service.integrations.get(1))


def test_refresh_token_warning_after_ten_days(site, caplog) -> None:  # type: ignore[no-untyped-def]
    service, client, _csrf, _stack, clock = site
    assert client.get("/api/integrations").json()[0]["refresh_token_warning"] is None
    clock.now += timedelta(days=9, hours=23)
    assert _row(service)["refresh_token_warning"] is None
    clock.now += timedelta(hours=2)  # 10 days and 1 hour without use
    row = _row(service)
    assert "not been used for 10 days" in row["refresh_token_warning"]
    assert row["health"] == "warning"
    # (the session of the fixture expired meanwhile: sign in again)
    assert client.get("/api/integrations").status_code == 401
    _login(client)
    assert client.get("/api/integrations").json()[0]["refresh_token_warning"]
    assert "not been used for 10 days" in client.get("/integrations").text
    caplog.set_level(logging.WARNING, logger="learnsync.service.scheduler")
    scheduler = Scheduler(service.repo, service.runs, clock=clock)
    assert scheduler.warn_stale_tokens(clock.now) == [1]
    assert scheduler.warn_stale_tokens(clock.now) == []  # once a day
    assert any(getattr(r, "integration", None) == 1 for r in caplog.records)
    # a successful run uses the token: the warning goes away
    _sync(service, "content")
    assert _row(service)["refresh_token_warning"] is None
    clock.now += timedelta(days=15)
    assert "lapsed" in _row(service)["refresh_token_warning"]

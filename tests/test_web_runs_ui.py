"""The Runs list and a run's page through the web app (no browser): every run with its status,
reason, trigger and counts, paged back to the retention with counts per status; a run's failed
and skipped items grouped by reason with course titles and learners, paged and as CSV; Sync now
disabled while a run is queued or running, with its confirmation (issue 12)."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.records import ContentItemState
from learnsync.web import create_app
from learnsync.web.runs_view import ITEMS_PER_PAGE, RUNS_PER_PAGE, reason_of


@dataclass
class Site:
    service: Service
    client: TestClient
    csrf: str
    stack: Stack
    secret: str  # the Coursera client secret saved


@contextmanager
def _site(tmp_path: Path, world: World, *, secret: str | None = None) -> Iterator[Site]:
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{tmp_path / 'runs.db'}", SecretBox.generate())
        service.auth.create_user("admin", "admin-password-1")
        raw = tomllib.loads(stack.config_toml(service.store_url))
        form = input_from_config(parse_config(raw), "Coursera")
        if secret is not None:  # a new integration's secrets are not checked when saved
            form = form.model_copy(update={"coursera_client_secret": secret})
        service.integrations.save(form)
        client = TestClient(create_app(service), follow_redirects=False)
        try:
            yield Site(service, client, admin_login(client), stack, secret or "")
        finally:
            service.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with _site(tmp_path, World(seed=5, catalog_size=40, learners=30, enrollments=80)) as made:
        yield made


def _text(html: str) -> str:
    """The page's text: tags dropped, spaces collapsed, entities of quotes read back."""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return text.replace("&#39;", "'").replace("&amp;", "&")


def _rows(html: str) -> list[tuple[int, str]]:
    """The Runs table's rows: (run id, status)."""
    return [(int(i), s) for i, s in re.findall(r'<tr data-run="(\d+)" data-status="(\w+)">', html)]


def _record_run(
    service: Service, status: str, report: dict[str, Any], error: str | None = None
) -> int:
    record = service.store.get_integration(1)
    assert record is not None
    run_id = service.store.start_run(record.id, str(report.get("kind", "content")), False)
    service.store.finish_run(run_id, status, report, error=error)
    return run_id


def _content_report(**lists: Any) -> dict[str, Any]:
    return {
        "kind": "content",
        "dry_run": False,
        "created": 3,
        "updated": 0,
        "unchanged": 2,
        "archived": 0,
        "restored": 0,
        "skipped": lists.get("skipped", []),
        "failed": lists.get("failed", []),
        "warnings": [],
    }


def _stats_report(failed: list[dict[str, str]], skipped: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "kind": "stats",
        "dry_run": False,
        "sent": 7,
        "unchanged": 0,
        "skipped": skipped,
        "failed": failed,
    }


# ---------------------------------------------------------------------- truthful status


def test_a_run_that_failed_before_it_started_is_listed_with_its_reason(tmp_path: Path) -> None:
    world = World(seed=5, catalog_size=20, learners=10, enrollments=20)
    with _site(tmp_path, world, secret="a-wrong-secret") as site:
        answer = site.client.post("/integrations/1/sync/content", data={"csrf_token": site.csrf})
        assert answer.status_code == 303
        site.service.runs.wait()
        html = site.client.get("/integrations/1/runs").text
        assert _rows(html) == [(1, "failed")]
        text = _text(html)
        # the chip, the reason in the form's words, who started it
        assert 'class="chip chip-error" data-status="failed"' in html
        assert "Coursera refused the client credentials" in text
        assert "check the Client ID and Client secret" in text
        assert "an administrator (Sync now)" in text
        assert site.secret not in html
        run = _text(site.client.get("/integrations/1/runs/1").text)
        assert "This run failed: Coursera refused the client credentials" in run
        assert "Failed (0)" in run and "Skipped (0)" in run


def test_a_statistics_run_with_refused_items_is_partial_with_titles_and_emails(
    tmp_path: Path,
) -> None:
    world = World(seed=5, catalog_size=30, learners=30, enrollments=80, unknown_learner_ratio=0.3)
    with _site(tmp_path, world) as site:
        service, client = site.service, site.client
        for kind in ("content", "stats"):
            client.post(f"/integrations/1/sync/{kind}", data={"csrf_token": site.csrf})
            service.runs.wait()
        runs = client.get("/api/integrations/1/runs").json()
        stats = next(r for r in runs if r["kind"] == "stats")
        # learners 360Learning does not know: the run is partial, not a green "succeeded"
        assert stats["status"] == "partial" and stats["failed"] > 0
        assert stats["health"] == "warning"
        html = client.get("/integrations/1/runs").text
        assert (stats["id"], "partial") in _rows(html)
        failed = f"{stats['failed']} items failed"
        assert f'<a href="/integrations/1/runs/{stats["id"]}#failed">{failed}</a>' in html, (
            "the partial run links to its failed items"
        )
        page = client.get(f"/integrations/1/runs/{stats['id']}").text
        text = _text(page)
        assert f"Failed ({stats['failed']})" in text
        assert "360Learning has no user with this learner's e-mail" in text
        assert '<code class="code">userNotFound</code>' in page
        record = service.store.get_integration(1)
        assert record is not None
        names = {k: v.name for k, v in service.store.load_content_items(record.id).items()}
        first = service.store.get_run(stats["id"])
        assert first is not None
        item = first.report["failed"][0]
        # the course by its title (its id in small print) and the learner's e-mail
        assert names[item["externalId"]] in text
        assert item["externalId"] in text and item["learner"] in text


# ---------------------------------------------------------------------- the history, paged


def test_the_history_is_paged_with_counts_per_status(site: Site) -> None:
    service, client = site.service, site.client
    ids = []
    for i in range(2 * RUNS_PER_PAGE + 5):  # 55 runs: more than the 50 the page once showed
        if i % 5 == 0:
            ids.append(_record_run(service, "failed", _content_report(), "the API was down"))
        elif i % 5 == 1:
            failed = [{"externalId": f"Course~f{i}", "error": "courseNotFound: gone"}] * 2
            ids.append(_record_run(service, "partial", _content_report(failed=failed)))
        else:
            ids.append(_record_run(service, "succeeded", _content_report()))
    total = len(ids)
    html = client.get("/integrations/1/runs").text
    text = _text(html)
    assert f"Page 1 of 3 · {total} runs" in text
    assert [r for r, _ in _rows(html)] == ids[::-1][:RUNS_PER_PAGE]
    # the filter chips: every run, then each status with its count
    chips = re.findall(
        r'<li><a href="\?([^"]*)"[^>]*>.*?<span>(\w+)</span> <span class="count">'
        r"([\d,]+)</span>",
        html,
    )
    assert [(w, int(n)) for _, w, n in chips] == [
        ("All", total), ("Succeeded", 33), ("Partial", 11), ("Failed", 11)
    ]  # fmt: skip
    assert 'aria-current="page"><span>All</span>' in html
    last = client.get("/integrations/1/runs?page=3").text
    assert [r for r, _ in _rows(last)] == ids[::-1][2 * RUNS_PER_PAGE :]
    assert "Page 3 of 3" in _text(last)
    partial = client.get("/integrations/1/runs?status=partial").text
    assert {s for _, s in _rows(partial)} == {"partial"} and len(_rows(partial)) == 11
    assert "Page 1 of 1 · 11 runs" in _text(partial)
    assert "2 items failed" in _text(partial)
    oldest = client.get("/integrations/1/runs?order=oldest").text
    assert _rows(oldest)[0][0] == ids[0]
    assert 'aria-sort="ascending"' in oldest and 'aria-sort="descending"' in html
    failed = _text(client.get("/integrations/1/runs?status=failed").text)
    assert "the API was down" in failed
    empty = _text(client.get("/integrations/1/runs?status=cancelled").text)
    assert "No cancelled run is kept." in empty and "Show every run" in empty
    # times in the integration's zone, never ISO
    assert re.search(r"\w{3} \d{1,2} \w{3} 20\d\d, \d\d:\d\d CES?T", text)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)


def test_no_run_yet_says_what_to_do(site: Site) -> None:
    text = _text(site.client.get("/integrations/1/runs").text)
    assert "No run yet." in text and "Use Sync content now" in text


# ---------------------------------------------------------------------- a run's page


def _stored_titles(service: Service, titles: dict[str, str]) -> None:
    record = service.store.get_integration(1)
    assert record is not None
    service.store.save_content_items(
        record.id, [ContentItemState(k, "active", name=v) for k, v in titles.items()]
    )


def test_a_runs_items_are_grouped_by_reason_paged_and_titled(site: Site) -> None:
    service, client = site.service, site.client
    titles = {f"Course~c{i:03d}": f"Course number {i:03d}" for i in range(130)}
    _stored_titles(service, titles)
    failed = [
        {"externalId": f"Course~c{i:03d}", "learner": f"l{i}@example.com",
         "error": f"userNotFound: no user with mail l{i}@example.com"}
        for i in range(90)
    ] + [
        {"externalId": f"Course~c{i:03d}", "learner": f"l{i}@example.com", "error": "rejected"}
        for i in range(90, 130)
    ]  # fmt: skip
    skipped = [
        {"externalId": "Course~unknown", "learner": "x@example.com",
         "reason": "course_not_synchronized"},
        {"externalId": "Course~c001", "learner": "", "reason": "no_learner_email"},
    ]  # fmt: skip
    run_id = _record_run(service, "partial", _stats_report(failed, skipped))
    page = client.get(f"/integrations/1/runs/{run_id}")
    assert page.status_code == 200
    html, text = page.text, _text(page.text)
    assert "Failed (130)" in text and "Skipped (2)" in text
    # the report keeps the first 100 of each list: the page says so
    assert "The first 100 of 130 are kept in the run history" in text
    # grouped by reason, in words, the raw code in small print; counts of the kept items
    assert "90 360Learning has no user with this learner's e-mail userNotFound" in text
    assert "10 360Learning refused it without saying why rejected" in text
    assert text.count("360Learning has no user with this learner's e-mail") == 2  # list + group
    assert "The course was never synchronized to this integration" in text
    assert "The learner has no e-mail address in Coursera" in text
    # titles and e-mails; an id the store has no title for says so
    assert "Course number 000" in text and "l0@example.com" in text
    assert "Course~unknown (no title in the store)" not in text
    assert "(no title in the store) Course~unknown" in text
    # paged: 50 rows of the failed list a page, the skipped list on its own pages
    rows = re.findall(r"l(\d+)@example\.com</td>", html)
    assert len(rows) == ITEMS_PER_PAGE  # 50 of the failed list
    assert "Page 1 of 2 · items 1–50 of 100" in text
    second = client.get(f"/integrations/1/runs/{run_id}?failed_page=2")
    later = _text(second.text)
    assert "Page 2 of 2 · items 51–100 of 100" in later
    assert "Course number 089" in later and "Course number 090" in later
    assert "Course number 099" in later and "Course number 100" not in later
    assert 'href="?failed_page=1#failed"' in second.text
    # local times, trigger, kind
    assert "Statistics run #" + str(run_id) in text
    assert re.search(r"Ended \w{3} \d{1,2} \w{3} 20\d\d, \d\d:\d\d CES?T", text)


def test_the_items_download_as_csv(site: Site) -> None:
    service, client = site.service, site.client
    _stored_titles(service, {"Course~a": "=HYPERLINK(evil)", "Course~b": "Plain title"})
    failed = [{"externalId": "Course~a", "learner": "a@example.com", "error": "userNotFound: x"}]
    skipped = [{"externalId": "Course~b", "learner": "b@example.com",
                "reason": "course_not_synchronized"}]  # fmt: skip
    run_id = _record_run(service, "partial", _stats_report(failed, skipped))
    page = client.get(f"/integrations/1/runs/{run_id}").text
    link = f"/integrations/1/runs/{run_id}/items.csv"
    assert f'href="{link}" download' in page
    answer = client.get(link)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows == [
        ["list", "reason", "reason_code", "course_id", "course_title", "learner", "detail"],
        ["failed", "360Learning has no user with this learner's e-mail", "userNotFound",
         "Course~a", "'=HYPERLINK(evil)", "a@example.com", "userNotFound: x"],
        ["skipped", "The course was never synchronized to this integration",
         "course_not_synchronized", "Course~b", "Plain title", "b@example.com",
         "course_not_synchronized"],
    ]  # fmt: skip
    assert site.stack.world.coursera_client_secret not in answer.text
    assert client.get(f"/integrations/1/runs/{run_id + 1}/items.csv").status_code == 404


def test_reasons_in_words() -> None:
    assert reason_of("missing_name").words.startswith("Coursera gives this item no title")
    coded = reason_of("userNotFound: no user with mail a@b.c")
    assert (coded.key, coded.code) == ("userNotFound", "userNotFound")
    assert reason_of("no user with that e-mail").key == "userNotFound"
    free = reason_of("the bulk operation ended in error")
    assert (free.words, free.code) == ("The bulk operation ended in error", "")
    assert reason_of("").words == "No reason was given"


# ---------------------------------------------------------------------- Sync now, Cancel


def _buttons(html: str) -> list[str]:
    return re.findall(r"<button type=\"submit\"[^>]*data-sync[^>]*>", html)


def _busy_note(html: str) -> str:
    found = re.search(r'<p id="sync-busy"[^>]*>', html)
    assert found
    return found.group(0)


def test_sync_now_is_disabled_while_a_run_is_queued(site: Site) -> None:
    service, client = site.service, site.client
    idle = client.get("/integrations/1/runs").text
    assert len(_buttons(idle)) == 2 and not any("disabled" in b for b in _buttons(idle))
    assert "hidden" in _busy_note(idle)
    # a run waiting in the queue (submitted, no executor woken)
    queued = service.runs.jobs.submit(1, "content", "schedule")
    busy = client.get("/integrations/1/runs").text
    assert all("disabled" in b and 'aria-describedby="sync-busy"' in b for b in _buttons(busy))
    assert "hidden" not in _busy_note(busy)
    text = _text(busy)
    assert f"Content run # {queued} : queued" in text and "the schedule" in text
    # Cancel: the confirmation on the page it lands on, and Sync now available again
    answer = client.post(f"/runs/{queued}/cancel", data={"csrf_token": site.csrf, "back": "runs"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/integrations/1/runs"
    landed = client.get("/integrations/1/runs").text
    assert f"Run #{queued} cancelled before it started." in _text(landed)
    assert not any("disabled" in b for b in _buttons(landed))
    assert (queued, "cancelled") in _rows(landed)
    again = client.get("/integrations/1/runs").text
    assert "cancelled before it started." not in _text(again).split("History")[0]


def test_sync_now_confirms_the_queued_run(site: Site) -> None:
    service, client = site.service, site.client
    answer = client.post("/integrations/1/sync/content", data={"csrf_token": site.csrf})
    assert answer.status_code == 303
    run_id = service.runs.latest(1).id
    landed = _text(client.get("/integrations/1/runs").text)
    assert f"Run #{run_id} queued: its progress shows below." in landed
    service.runs.wait()
    after = client.get(f"/integrations/1/runs/{run_id}").text
    assert "Cancel run" not in after and 'id="live"' not in after  # an ended run: no live box


def test_the_api_pages_the_history_too(site: Site) -> None:
    service, client = site.service, site.client
    ids = [_record_run(service, "succeeded", _content_report()) for _ in range(60)]
    ids.append(_record_run(service, "failed", _content_report(), "down"))
    first = client.get("/api/integrations/1/runs").json()
    assert [r["id"] for r in first] == ids[::-1][:50]  # the default page, as before
    rest = client.get("/api/integrations/1/runs?offset=50&limit=50").json()
    assert [r["id"] for r in rest] == ids[::-1][50:]
    failed = client.get("/api/integrations/1/runs?status=failed").json()
    assert [(r["id"], r["error"]) for r in failed] == [(ids[-1], "down")]
    assert client.get("/api/integrations/1/runs?limit=0").status_code == 422
    assert client.get(f"/api/integrations/1/runs?offset={10**30}").status_code == 422
    # a page past the last shows the last one, the run page's lists too
    assert "Page 3 of 3" in _text(client.get(f"/integrations/1/runs?page={10**30}").text)
    assert client.get(f"/integrations/1/runs/{ids[0]}?failed_page={10**30}").status_code == 200


def test_the_csv_needs_a_signed_in_administrator(site: Site) -> None:
    run_id = _record_run(site.service, "succeeded", _content_report())
    anonymous = TestClient(site.client.app, follow_redirects=False)
    answer = anonymous.get(f"/integrations/1/runs/{run_id}/items.csv")
    assert answer.status_code in (303, 401) and "text/csv" not in answer.headers.get(
        "content-type", ""
    )
    assert site.client.get(f"/integrations/1/runs/{run_id}/items.csv").status_code == 200

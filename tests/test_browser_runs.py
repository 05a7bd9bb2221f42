"""The Runs list and a run's page in a real browser (Debian's Chromium driven by Playwright), at
1440 and 390 CSS pixels, against the web app served on loopback and both simulators: a run that
fails on a wrong Coursera secret is listed with its reason; a partial statistics run's items are
grouped by reason with course titles and e-mails and download as CSV; Sync now is disabled while
a run is queued or running and comes back when it ends, the "run going" box then cleared, the
focus kept off <body> (issue 12)."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from browser_support import WIDTHS, check_page, expect, new_context, sign_in
from learnsync.config import parse_config
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.models import Run
from learnsync.web import create_app

pytestmark = pytest.mark.browser

PASSWORD = "admin-password-1"
RUN_ENDS = 30_000  # ms: how long a test waits for a run to end and the page to show it


@contextmanager
def _site(tmp_path: Path, world: World, *, secret: str | None = None) -> Iterator[Any]:
    """The web app on loopback for the simulators of ``world``; one integration (``secret``:
    its Coursera client secret, not checked when a new integration is saved)."""
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{tmp_path / 'runs.db'}", SecretBox.generate())
        service.auth.create_user("admin", PASSWORD)
        raw = tomllib.loads(stack.config_toml(service.store_url))
        form = input_from_config(parse_config(raw), "Coursera")
        if secret is not None:
            form = form.model_copy(update={"coursera_client_secret": secret})
        service.integrations.save(form)
        try:
            with serve_in_thread(create_app(service)) as base_url:
                yield base_url, service, stack
        finally:
            service.close()


@contextmanager
def _page(browser: Any, base_url: str, width: int) -> Iterator[Any]:
    context = new_context(browser, base_url, width)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        sign_in(page, "admin", PASSWORD)
        yield page
        assert errors == []
        assert [u for u in context.requests if not u.startswith(base_url)] == []
    finally:
        context.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_run_failing_on_a_wrong_secret_is_listed_with_its_reason(
    browser: Any, tmp_path: Path, width: int
) -> None:
    world = World(seed=3, catalog_size=20, learners=10, enrollments=20)
    with (
        _site(tmp_path, world, secret="a-wrong-secret") as (base, _service, _stack),
        _page(browser, base, width) as page,
    ):
        page.goto("/integrations/1/runs")
        expect(page.get_by_text("No run yet.")).to_be_visible()
        check_page(page, "runs-empty")
        page.click("button:has-text('Sync content now')")
        page.wait_for_url("**/integrations/1/runs")
        expect(page.locator("#notice")).to_contain_text("Run #1 queued")
        # the run ends on its own (on a loaded machine, in its own time): the list then shows
        # it failed, with the reason in words, without a reload
        _service.runs.wait(timeout=RUN_ENDS / 1000)
        ran = _service.runs.get(1)
        assert ran is not None and ran.status == "failed", ran  # the service's side first
        row = page.locator("#runs-table tr[data-run='1']")
        expect(row).to_have_attribute("data-status", "failed", timeout=RUN_ENDS)
        expect(row.locator(".chip")).to_have_text("Failed")
        expect(row).to_contain_text("Coursera refused the client credentials")
        expect(row).to_contain_text("check the Client ID and Client secret")
        expect(row).to_contain_text("an administrator (Sync now)")
        expect(page.locator("#live")).to_be_hidden()
        expect(page.locator("button:has-text('Sync content now')")).to_be_enabled()
        check_page(page, "runs-failed")
        page.click("#runs-table a:has-text('#1')")
        page.wait_for_url("**/integrations/1/runs/1")
        expect(page.get_by_role("alert")).to_contain_text(
            "This run failed: Coursera refused the client credentials"
        )
        assert "a-wrong-secret" not in page.content()
        check_page(page, "run-failed")


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_partial_runs_items_are_grouped_with_titles_and_emails(
    browser: Any, tmp_path: Path, width: int
) -> None:
    world = World(seed=5, catalog_size=30, learners=30, enrollments=80, unknown_learner_ratio=0.3)
    with _site(tmp_path, world) as (base, service, _stack):
        for kind in ("content", "stats"):
            service.runs.start(1, kind)
            service.runs.wait()
        stats = service.runs.latest(1)
        assert stats is not None and stats.kind == "stats"
        assert stats.status == "partial"  # refused learners: not a green succeeded
        stored = service.store.get_run(stats.id)
        assert stored is not None
        failed = stored.report["failed"]
        titles = {k: v.name for k, v in service.store.load_content_items(1).items()}
        assert 0 < len(failed) < 50  # one page of items
        with _page(browser, base, width) as page:
            page.goto("/integrations/1/runs")
            row = page.locator(f"#runs-table tr[data-run='{stats.id}']")
            expect(row.locator(".chip")).to_have_text("Partial")
            link = row.get_by_role("link", name=f"{len(failed)} items failed")
            check_page(page, "runs-partial")
            link.click()
            page.wait_for_url(f"**/integrations/1/runs/{stats.id}#failed")
            expect(page.locator("h1")).to_contain_text(f"Statistics run #{stats.id}")
            expect(page.locator("h1 .chip")).to_have_text("Partial")
            section = page.locator("#failed")
            expect(section.locator("h2")).to_have_text(f"Failed ({len(failed)})")
            expect(section.locator(".reason-list li").first).to_contain_text(
                f"{len(failed)} 360Learning has no user with this learner's e-mail userNotFound"
            )
            group = section.locator("tr.group-row")
            expect(group).to_have_count(1)
            expect(group).to_have_text("360Learning has no user with this learner's e-mail")
            # every refused pair: its course by title, the course id and the learner's e-mail
            rows = section.locator("tbody tr:not(.group-row)")
            expect(rows).to_have_count(len(failed))
            shown = rows.all_inner_texts()
            for item in failed:
                title = titles[item["externalId"]]
                assert any(
                    title in r and item["externalId"] in r and item["learner"] in r for r in shown
                ), item
            check_page(page, "run-partial")
            with page.expect_download() as waiting:
                page.click("a:has-text('Download the failed and skipped items (CSV)')")
            download = waiting.value
            assert download.suggested_filename == f"run-{stats.id}-items.csv"
            text = Path(download.path()).read_text(encoding="utf-8")
            lines = list(csv.DictReader(io.StringIO(text)))
            listed = [r for r in lines if r["list"] == "failed"]
            assert {(r["course_id"], r["learner"]) for r in listed} == {
                (i["externalId"], i["learner"]) for i in failed
            }
            in_order = [r["course_title"].casefold() for r in listed]
            assert in_order == sorted(in_order)  # grouped by reason, then by course title
            first = next(r for r in lines if r["list"] == "failed")
            assert first["reason_code"] == "userNotFound" and "@" in first["learner"]
            assert first["course_title"] == titles[first["course_id"]]
            assert service.integrations.config(1).threesixty.client_secret not in text


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_sync_now_is_disabled_while_a_run_goes_and_the_box_clears_after(
    browser: Any, tmp_path: Path, width: int
) -> None:
    world = World(seed=3, catalog_size=30, learners=10, enrollments=20)
    with _site(tmp_path, world) as (base, service, _stack):
        # a run waiting in the queue: no executor has been started yet
        queued = service.runs.jobs.submit(1, "content", "schedule")
        with _page(browser, base, width) as page:
            page.goto("/integrations/1/runs")
            buttons = page.locator("button[data-sync]")
            expect(buttons).to_have_count(2)
            for i in range(2):
                expect(buttons.nth(i)).to_be_disabled()
            expect(page.locator("#sync-busy")).to_be_visible()
            live = page.locator("#live")
            expect(live).to_be_visible()
            status = page.locator("#live-progress")
            expect(status).to_have_attribute("role", "status")
            expect(status).to_contain_text(f"Content run #{queued}: queued")
            check_page(page, "runs-queued")
            # the focus on Cancel: it must not fall to <body> when the box goes away
            page.focus("#live-cancel button")
            service.runs.start_executor()  # the run starts and ends on its own
            expect(live).to_be_hidden(timeout=RUN_ENDS)
            done = page.locator("#live-done")
            expect(done).to_contain_text(f"Content run #{queued} succeeded.")
            for i in range(2):
                expect(buttons.nth(i)).to_be_enabled()
            expect(page.locator("#sync-busy")).to_be_hidden()
            row = page.locator(f"#runs-table tr[data-run='{queued}']")
            expect(row).to_have_attribute("data-status", "succeeded")
            expect(row).to_contain_text("the schedule")
            focused = page.evaluate("document.activeElement.id")
            assert focused == "live-done", focused
            check_page(page, "runs-ended")
            # Sync now again: the confirmation, then the run's end in the list
            page.click("button:has-text('Sync statistics now')")
            notice = page.locator("#notice")
            expect(notice).to_contain_text("queued: its progress shows below")
            found = re.search(r"Run #(\d+) queued", notice.inner_text())
            assert found, notice.inner_text()
            again = page.locator(f"#runs-table tr[data-run='{found.group(1)}']")
            expect(again).to_have_attribute(
                "data-status", re.compile("^(succeeded|partial)$"), timeout=RUN_ENDS
            )
            expect(page.locator("button:has-text('Sync statistics now')")).to_be_enabled()
            expect(page.locator("#live")).to_be_hidden()
            check_page(page, "runs-stats-ended")


def _set_running(service: Service, run_id: int, stage: str, done: int, total: int) -> None:
    """The row of a run a worker is executing, as its progress sink writes it."""
    runs = Run.__table__
    with service.store.engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status="running", stage=stage, done=done, total=total, heartbeat_at=_now())
        )


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_progress_is_announced_and_cancel_confirmed(
    browser: Any, tmp_path: Path, width: int
) -> None:
    world = World(seed=3, catalog_size=10, learners=5, enrollments=5)
    with _site(tmp_path, world) as (base, service, _stack), _page(browser, base, width) as page:
        run_id = service.runs.jobs.submit(1, "content", "manual")
        _set_running(service, run_id, "Reading the Coursera catalog", 40, 80)
        page.goto("/integrations/1/runs")
        status = page.locator("#live-progress")
        expect(status).to_have_text(
            f"Content run #{run_id}: running · Reading the Coursera catalog · 40 of 80 done"
        )
        bar = page.locator("#live-bar")
        expect(bar).to_have_attribute("max", "80")
        expect(bar).to_have_attribute("value", "40")
        expect(page.locator("#live-heartbeat")).to_have_text(
            re.compile(r"^\d\d:\d\d(:\d\d)? CES?T$")
        )
        check_page(page, "runs-running")
        # the poll follows the row: a new stage is said at once, the bar moves
        _set_running(service, run_id, "Sending to 360Learning", 60, 80)
        expect(status).to_have_text(
            f"Content run #{run_id}: running · Sending to 360Learning · 60 of 80 done"
        )
        expect(bar).to_have_attribute("value", "60")
        # Cancel: confirmed on the page it lands on, shown cancelling… until the run stops
        page.click("#live-cancel button")
        page.wait_for_url("**/integrations/1/runs")
        expect(page.locator("#notice")).to_have_text(f"Run #{run_id}: cancel asked.")
        expect(page.locator("#live-status")).to_have_text("cancelling…")
        expect(page.locator("#live-cancel")).to_be_hidden()
        expect(page.locator("button[data-sync]").first).to_be_disabled()
        check_page(page, "runs-cancelling")
        service.store.finish_run(run_id, "cancelled", {}, error="cancelled while it ran")
        expect(page.locator("#live")).to_be_hidden(timeout=RUN_ENDS)
        expect(page.locator("#live-done")).to_have_text(
            f"Content run #{run_id} was cancelled. Open run #{run_id}"
        )
        expect(page.locator("button[data-sync]").first).to_be_enabled()
        row = page.locator(f"#runs-table tr[data-run='{run_id}']")
        expect(row).to_have_attribute("data-status", "cancelled")
        expect(row).to_contain_text("cancelled while it ran")
        check_page(page, "runs-cancelled")

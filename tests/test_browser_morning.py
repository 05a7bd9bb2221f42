"""A morning's work in a real browser, at 1440 and 390 CSS pixels, without reading a log
(issue 12's "Done when"): last night's scheduled statistics run failed on a Coursera secret
that changed; the administrator sees it on the Integrations list with its reason and a link,
opens the run, enters the right Client secret, runs the statistics again, sees the result, and
checks a learner whose statistics cannot reach 360Learning.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import WIDTHS, check_page, expect, new_context, offsite_requests, sign_in
from learnsync.config import parse_config
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app

pytestmark = pytest.mark.browser

PASSWORD = "admin-password-1"
RUN_ENDS = 30_000  # ms


@pytest.fixture
def night(tmp_path: Path) -> Iterator[tuple[str, Service, Stack]]:
    """Content synchronized yesterday; then the Coursera secret stored went wrong and the
    scheduled statistics run failed."""
    world = World(seed=5, catalog_size=30, learners=20, enrollments=60, unknown_learner_ratio=0.3)
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{tmp_path / 'morning.db'}", SecretBox.generate())
        service.auth.create_user("admin", PASSWORD)
        raw = tomllib.loads(stack.config_toml(service.store_url))
        form = input_from_config(parse_config(raw), "Coursera")
        integration = service.integrations.save(form)
        service.runs.start(integration, "content", trigger="schedule")
        service.runs.wait()
        wrong = form.model_copy(update={"coursera_client_secret": "rotated-by-someone"})
        service.integrations.save(wrong, integration)
        service.runs.start(integration, "stats", trigger="schedule")
        service.runs.wait()
        try:
            with serve_in_thread(create_app(service)) as base_url:
                yield base_url, service, stack
        finally:
            service.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_morning_without_reading_a_log(
    browser: Any, night: tuple[str, Service, Stack], width: int
) -> None:
    base, service, stack = night
    context = new_context(browser, base, width)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tabs = page.get_by_role("navigation", name="Integration configuration")

    # last night's failure, on the list: a chip, the reason in words, a link to the run
    sign_in(page, "admin", PASSWORD)
    health = page.locator("#integrations td.health")
    expect(health.locator(".chip")).to_have_text("Failed")
    reason = health.get_by_role("link")
    expect(reason).to_contain_text("The statistics run failed: Coursera refused")
    expect(reason).to_contain_text("check the Client ID and Client secret")
    assert "invalid_client" not in (reason.inner_text().split(":")[0])  # the words come first
    check_page(page, f"morning-integrations-failed-{width}")
    reason.click()
    page.wait_for_url(re.compile(r"/integrations/1/runs/2$"))
    expect(page.locator("h1.run-title .chip")).to_have_text("Failed")
    expect(page.locator("main")).to_contain_text("the schedule")  # who started it
    check_page(page, f"morning-failed-run-{width}")

    # fix the credential: the Client secret, on the Coursera page
    tabs.get_by_role("link", name="Coursera").click()
    page.fill("#coursera_client_secret", stack.world.coursera_client_secret)
    page.click("button[value=save]")
    page.get_by_role("status").filter(has_text="Settings saved.").wait_for()
    assert page.input_value("#coursera_client_secret") == ""  # write-only

    # run the statistics again and watch it end
    tabs.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Sync statistics now").click()
    latest = page.locator("#runs-table tr[data-run='3']")
    expect(latest).to_have_attribute(
        "data-status", re.compile("succeeded|partial"), timeout=RUN_ENDS
    )
    expect(page.get_by_role("button", name="Sync statistics now")).to_be_enabled()
    check_page(page, f"morning-runs-{width}")
    latest.get_by_role("link", name="#3").click()
    expect(page.locator("h1.run-title .chip")).to_have_text(re.compile("Succeeded|Partial"))
    run = service.store.get_run(3)
    assert run is not None
    learners = sorted({f.get("learner") for f in (run.report or {}).get("failed", [])} - {None})
    # this world has learners 360Learning does not know: a partial run, their e-mails shown
    assert run.status == "partial" and learners, run.report
    expect(page.locator("#failed-table")).to_contain_text(learners[0])
    check_page(page, f"morning-run-{width}")

    # the list no longer says failed
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Integrations").click()
    expect(health.locator(".chip")).not_to_have_text("Failed")
    check_page(page, f"morning-integrations-after-{width}")

    # check a learner: who cannot get statistics in 360Learning, and why
    page.goto("/integrations/1/statistics")
    unmatched = page.locator("#unmatched")
    expect(unmatched).to_contain_text(learners[0])
    expect(unmatched).to_contain_text("no 360Learning user")
    check_page(page, f"morning-statistics-{width}")
    assert errors == []
    assert offsite_requests(context, base) == []
    context.close()

"""The article's Steps 3 and 4 in a real browser (Debian's Chromium driven by Playwright) against
the web app served by uvicorn on loopback and both simulators.

One walk, in the administrator's order: sign in, add the integration, Setup integration, Sync
now and watch the progress, open the run's skipped/failed lists, add and remove languages in the
dialog, see the preview, Save — and check in the 360Learning simulator that the courses really
were archived —, select content types, search the catalog, change a schedule, log out. Every
page keeps to the Content-Security-Policy: the walk ends with no violation reported (neither a
``securitypolicyviolation`` event nor a console message) and no console error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import TIMEOUT_MS, expect
from e2e_support import store_record
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app

pytestmark = pytest.mark.browser

PASSWORD = "admin-password-1"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Service, Stack]]:
    world = World(seed=11, catalog_size=80, learners=20, enrollments=40)
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{tmp_path / 'browser.db'}", SecretBox.generate())
        service.auth.create_user("admin", PASSWORD)
        try:
            with serve_in_thread(create_app(service)) as base_url:
                yield base_url, service, stack
        finally:
            service.close()


def _archived(stack: Stack) -> int:
    with stack.threesixty.lock:
        return sum(1 for c in stack.threesixty.courses if c.status == "archived")


def test_steps_3_and_4_in_a_browser(browser: Any, site: tuple[str, Service, Stack]) -> None:
    base, service, stack = site
    world = stack.world
    context = browser.new_context(base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    # every CSP violation of every page (an inline style or script, an off-site load) is
    # reported to the test as it happens, from before the page's own scripts run
    violations: list[str] = []
    context.expose_binding(
        "learnsyncCspViolation", lambda _source, text: violations.append(str(text))
    )
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " window.learnsyncCspViolation(location.pathname + ': ' + e.violatedDirective"
        " + ' ' + (e.blockedURI || 'inline')); });"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)

    # sign in (a wrong password first)
    first = page.goto("/integrations")
    assert page.url.endswith("/login")
    assert first is not None
    assert first.headers["content-security-policy"].startswith("default-src 'none'; ")
    page.fill("#username", "admin")
    page.fill("#password", "wrong-password")
    page.click("button:has-text('Sign in')")
    page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/integrations")

    # Step 3: add the integration, then Setup integration
    page.click("text=+ Add an integration")
    page.fill("#label", "Coursera")
    page.fill("#coursera_client_id", world.coursera_client_id)
    page.fill("#coursera_client_secret", world.coursera_client_secret)
    page.fill("#coursera_org_id", world.coursera_org_id)
    page.fill("#coursera_refresh_token", world.coursera_refresh_token)
    page.click("summary:has-text('Advanced')")
    page.fill("#coursera_api_base", f"{stack.coursera_url}/api")
    page.fill("#coursera_token_url", f"{stack.coursera_url}/oauth2/v1/token")
    page.fill("#threesixty_base_url", stack.threesixty_url)
    page.fill("#threesixty_client_id", world.threesixty_client_id)
    page.fill("#threesixty_client_secret", world.threesixty_client_secret)
    page.fill("#group_id", world.group_id)
    page.fill("#author_id", world.author_id)
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/integrations/\d+$"))
    integration = int(page.url.rsplit("/", 1)[1])
    # secrets are write-only: the form does not carry them back
    assert page.input_value("#coursera_client_secret") == ""
    assert world.coursera_client_secret not in page.content()
    page.click("button:has-text('Setup integration')")
    page.get_by_role("status").filter(has_text="Integration set up").wait_for()
    assert service.integrations.get(integration).setup_status == "ok"

    # Sync now, with the live progress indicator
    page.click("nav.tabs >> text=Runs")
    page.click("button:has-text('Sync content now')")
    # the indicator follows the run; the page reloads itself when it ends
    page.locator("td.health-ok", has_text="succeeded").wait_for()
    page.wait_for_function("document.getElementById('live-status').textContent === 'succeeded'")
    page.wait_for_load_state()
    page.click("table >> a:has-text('#')")
    page.wait_for_selector("h1:has-text('succeeded')")
    expect(page.locator("h2:has-text('Failed')")).to_have_count(1)
    skipped = page.locator("h2:has-text('Skipped')").inner_text()
    assert re.search(r"Skipped \((\d+)\)", skipped)
    active_before = sum(1 for c in stack.threesixty.courses if c.status == "published")
    assert active_before > 0 and _archived(stack) == 0

    # Step 4: languages — add two in the dialog, remove one with the bin, preview, Save
    page.click("nav.tabs >> text=Languages")
    page.wait_for_load_state()  # the dialog's button works once filters.js ran
    page.click("text=+ Add languages")
    dialog = page.locator("#language-dialog")
    boxes = dialog.locator("input[type=checkbox]")
    counts = [int(boxes.nth(i).get_attribute("data-count")) for i in range(boxes.count())]
    assert len(counts) >= 2
    # keep the biggest language; the others get archived
    keep = max(range(len(counts)), key=lambda i: counts[i])
    other = next(i for i in range(len(counts)) if i != keep)
    keep_code = boxes.nth(keep).get_attribute("value")
    other_name = boxes.nth(other).get_attribute("data-name")
    boxes.nth(keep).check()
    boxes.nth(other).check()
    page.click("#confirm-languages")
    rows = page.locator("#language-list tr")
    expect(rows).to_have_count(2)
    page.click(f"button[aria-label='Remove {other_name}']")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-code") == keep_code
    page.click("#language-form button[type=submit]")
    preview = page.locator(".preview").inner_text()
    found = re.search(r"(\d+) courses will be archived, (\d+) restored", preview)
    assert found, preview
    will_archive = int(found.group(1))
    assert will_archive > 0
    assert _archived(stack) == 0  # the preview changed nothing
    page.click("button:has-text('Save')")
    page.get_by_role("status").filter(has_text=f"{will_archive} courses archived").wait_for()
    assert _archived(stack) == will_archive  # 360Learning really archived them
    assert store_record(service, integration).languages == [keep_code]

    # content types: select one, see the preview (then cancel: nothing changes)
    page.click("nav.tabs >> text=Content types")
    page.locator("input[name=value]").first.check()
    page.click("button:has-text('Save')")
    assert re.search(r"\d+ courses will be archived", page.locator(".preview").inner_text())
    page.click("text=Cancel")
    page.wait_for_url("**/content-types")

    # the catalog: archived by filter, then a search by a word of a title
    page.click("nav.tabs >> text=Catalog")
    page.select_option("#state", "archived_filter")
    page.click("button:has-text('Search')")
    assert page.inner_text("#catalog-count") == f"{will_archive} items"
    page.select_option("#state", "")
    title = page.locator("#catalog tbody tr td strong").first.inner_text()
    word = max(title.split(), key=len)
    page.fill("#q", word)
    page.click("button:has-text('Search')")
    shown = page.locator("#catalog tbody tr td strong").all_inner_texts()
    assert shown and title in shown
    assert all(
        word.casefold() in (row.casefold() + desc.casefold())
        for row, desc in zip(
            shown, page.locator("#catalog tbody tr td .hint").all_inner_texts(), strict=True
        )
    )

    # statistics page renders its charts; schedules are editable
    page.click("nav.tabs >> text=Statistics")
    expect(page.locator("#completions-chart svg rect.bar")).to_have_count(30)
    page.click("nav.tabs >> text=Schedules")
    page.fill("#content_time", "07:30")
    page.click("button:has-text('Save')")
    page.get_by_role("status").filter(has_text="Schedules saved").wait_for()
    content = next(s for s in service.repo.list_schedules(integration) if s.kind == "content")
    assert content.time_of_day == "07:30" and content.timezone == "Europe/Paris"

    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login")
    assert errors == []
    assert violations == []
    assert console == []
    context.close()

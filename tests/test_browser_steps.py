"""The article's Steps 3 and 4 in a real browser (Debian's Chromium driven by Playwright) against
the web app served by uvicorn on loopback and both simulators.

One walk, in the administrator's order, at 1440 and at 390 px: sign in, add the integration,
Setup integration, Sync now and watch the progress, open the run's skipped/failed lists, add and
remove languages in the dialog, Save and confirm in the dialog — and check in the 360Learning
simulator that the courses really were archived —, select content types, search the catalog,
change a schedule, log out. Every page passes ``check_page`` (axe-core, no horizontal scroll, a
screenshot) and keeps to the Content-Security-Policy: the walk ends with no violation reported
(neither a ``securitypolicyviolation`` event nor a console message), no console error, and no
request off the learnsync origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_support import WIDTHS, check_page, expect, new_context, offsite_requests
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


@pytest.mark.parametrize("width", ["desktop", "mobile"])
def test_steps_3_and_4_in_a_browser(
    browser: Any, site: tuple[str, Service, Stack], width: str
) -> None:
    base, service, stack = site
    world = stack.world
    context = new_context(browser, base, WIDTHS[width])
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
    tabs = page.get_by_role("navigation", name="Integration configuration")

    def shown(name: str) -> None:
        check_page(page, f"steps-{name}-{width}")

    # sign in (a wrong password first)
    first = page.goto("/integrations")
    assert "/login" in page.url
    assert first is not None
    assert first.headers["content-security-policy"].startswith("default-src 'none'; ")
    page.fill("#username", "admin")
    page.fill("#password", "wrong-password")
    page.click("button:has-text('Sign in')")
    page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()
    shown("sign-in-refused")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/integrations")
    shown("integrations-empty")
    # the first Tab reaches the skip link, which moves to the content; the section is current
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    skip.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Integrations")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("link", name="Add an integration").first).to_be_visible()

    # Step 3: add the integration, then Setup integration
    page.get_by_role("link", name="Add an integration").first.click()
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
    page.get_by_role("status").filter(
        has_text="The following day, content will be synchronized to your platform."
    ).wait_for()
    assert service.integrations.get(integration).setup_status == "ok"
    shown("setup-passed")

    # Sync now, with the live progress indicator: the run's row ends succeeded or partial
    tabs.get_by_role("link", name="Runs").click()
    expect(tabs.get_by_role("link", name="Runs")).to_have_attribute("aria-current", "page")
    expect(tabs.locator("[aria-current]")).to_have_count(1)
    page.get_by_role("button", name="Sync content now").click()
    row = page.locator("#runs-table tr[data-run]").first
    expect(row).to_have_attribute("data-status", re.compile("succeeded|partial"), timeout=30_000)
    expect(page.get_by_role("button", name="Sync content now")).to_be_enabled()
    shown("runs")
    row.get_by_role("link").first.click()
    expect(page.locator("h1.run-title .chip")).to_have_text(re.compile("Succeeded|Partial"))
    expect(page.locator("h2", has_text="Failed")).to_have_count(1)
    skipped = page.locator("h2", has_text="Skipped").inner_text()
    assert re.search(r"Skipped \(([\d,]+)\)", skipped)
    shown("run")
    active_before = sum(1 for c in stack.threesixty.courses if c.status == "published")
    assert active_before > 0 and _archived(stack) == 0

    # Step 4: languages — + Add languages, select two, Confirm, Remove one with the bin, Save
    tabs.get_by_role("link", name="Languages").click()
    page.wait_for_load_state()  # the dialog's button works once filters.js ran
    page.get_by_role("button", name="+ Add languages").click()
    dialog = page.get_by_role("dialog", name="Add languages")
    boxes = dialog.locator("input[type=checkbox]")
    counts = [int(boxes.nth(i).get_attribute("data-count") or 0) for i in range(boxes.count())]
    assert len(counts) >= 2
    # keep the biggest language; the others get archived
    keep = max(range(len(counts)), key=lambda i: counts[i])
    other = next(i for i in range(len(counts)) if i != keep)
    keep_code = boxes.nth(keep).get_attribute("value")
    other_name = boxes.nth(other).get_attribute("data-name")
    boxes.nth(keep).check()
    boxes.nth(other).check()
    shown("languages-dialog")
    dialog.get_by_role("button", name="Confirm").click()
    rows = page.locator("#language-list tr")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name=f"Remove {other_name}").click()
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-code") == keep_code
    page.locator("#filters-save").click()
    confirm = page.get_by_role("dialog", name="Save these filters?")
    expect(confirm).to_be_visible()
    found = re.search(
        r"([\d,]+) courses? will be archived, ([\d,]+) restored",
        page.locator("#save-summary").inner_text(),
    )
    assert found, page.locator("#save-summary").inner_text()
    will_archive = int(found.group(1).replace(",", ""))
    assert will_archive > 0
    assert _archived(stack) == 0  # the dialog changed nothing
    shown("languages-confirm")
    confirm.get_by_role(
        "button", name=re.compile(rf"Archive {will_archive} courses? and save")
    ).click()
    page.get_by_role("status").filter(has_text=f"{will_archive} courses archived").wait_for()
    assert page.url.endswith(f"/integrations/{integration}/languages")
    assert _archived(stack) == will_archive  # 360Learning really archived them
    assert store_record(service, integration).languages == [keep_code]
    shown("languages-saved")

    # content types: select one, Save: the dialog says what would go; Cancel changes nothing
    tabs.get_by_role("link", name="Content types").click()
    page.locator("input[name=value]").first.check()
    page.locator("#filters-save").click()
    expect(page.locator("#save-summary")).to_contain_text(re.compile(r"\d+ courses? will be"))
    shown("content-types-confirm")
    page.get_by_role("dialog", name="Save these filters?").get_by_role(
        "button", name="Cancel"
    ).click()
    assert page.url.endswith("/content-types")
    assert store_record(service, integration).content_types == []

    # the catalog: archived by filter, then a search by a word of a title
    tabs.get_by_role("link", name="Catalog").click()
    page.select_option("#state", "archived_filter")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#catalog-count")).to_have_text(
        f"{will_archive} item" + ("" if will_archive == 1 else "s")
    )
    page.select_option("#state", "")
    page.get_by_role("button", name="Search").click()
    title = page.locator("#catalog tbody tr td strong").first.inner_text()
    word = max(title.split(), key=len)
    page.fill("#q", word)
    page.get_by_role("button", name="Search").click()
    found_titles = page.locator("#catalog tbody tr td strong").all_inner_texts()
    assert found_titles and title in found_titles
    shown("catalog-search")

    # statistics page renders its charts; schedules are editable
    tabs.get_by_role("link", name="Statistics").click()
    expect(page.locator("#completions-chart svg rect.bar")).to_have_count(30)
    shown("statistics")
    tabs.get_by_role("link", name="Schedules").click()
    page.fill("#content_time", "07:30")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("status").filter(has_text="Schedules saved").wait_for()
    content = next(s for s in service.repo.list_schedules(integration) if s.kind == "content")
    assert content.time_of_day == "07:30" and content.timezone == "Europe/Paris"
    shown("schedules-saved")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.get_by_role("status").filter(has_text="You are signed out.").wait_for()
    assert errors == []
    assert violations == []
    assert console == []
    assert offsite_requests(context, base) == []
    context.close()

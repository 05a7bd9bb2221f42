"""The forms in a real browser at 1440 and 390 px (issue 12): every problem marked with the focus
on the first, the setup checklist on a wrong secret, Import and Schedules in words, a deep link
through sign-in, and a form typed before the session ended coming back after sign-in."""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from browser_support import WIDTHS, check_page, expect, new_context, offsite_requests, sign_in
from learnsync.config import parse_config
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.service_models import AdminSession
from learnsync.web import create_app

pytestmark = pytest.mark.browser

PASSWORD = "admin-password-1"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Service, Stack]]:
    tmp = tmp_path_factory.mktemp("forms")
    with running_stack(World(seed=5, catalog_size=20, learners=5, enrollments=10)) as stack:
        service = Service(f"sqlite:///{tmp / 'forms.db'}", SecretBox.generate())
        service.auth.create_user("admin", PASSWORD)
        raw = tomllib.loads(stack.config_toml(service.store_url))
        service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        try:
            with serve_in_thread(create_app(service)) as base_url:
                yield base_url, service, stack
        finally:
            service.close()


def _page(browser: Any, base: str, width: int) -> tuple[Any, Any, list[str]]:
    context = new_context(browser, base, width)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    # a refused form answers 400, which the console notes: that one is expected
    refused = "the server responded with a status of 400"

    def console(message: Any) -> None:
        if message.type == "error" and refused not in message.text:
            problems.append(message.text)

    page.on("console", console)
    return context, page, problems


def _marked(page: Any) -> list[str]:
    return page.eval_on_selector_all("main [aria-invalid=true]", "els => els.map(e => e.id)")  # type: ignore[no-any-return]


def _focused(page: Any, expected: str) -> str:
    """The focused element's id, once it is ``expected`` (autofocus runs after the load)."""
    # on a timeout, the assertion shows which element has the focus
    with contextlib.suppress(Exception):
        page.wait_for_function(
            "id => document.activeElement && document.activeElement.id === id", arg=expected
        )
    return page.evaluate("document.activeElement && document.activeElement.id")  # type: ignore[no-any-return]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_forms_mark_every_problem(
    browser: Any, site: tuple[str, Service, Stack], width: int
) -> None:
    base, service, _stack = site
    context, page, problems = _page(browser, base, width)
    sign_in(page, "admin", PASSWORD)

    # an empty new integration: every field marked, the focus on the first, the summary links
    page.goto("/integrations/new")
    check_page(page, "forms new integration")
    page.fill("#label", "")
    page.click("button[value=save]")
    page.wait_for_selector("#problems")
    marked = _marked(page)
    assert marked[:3] == ["label", "coursera_client_id", "coursera_client_secret"]
    assert {"coursera_org_id", "group_id", "author_id", "threesixty_client_secret"} <= set(marked)
    assert _focused(page, "label") == "label"
    expect(page.locator("#problems a")).to_have_count(len(marked))
    expect(page.locator("#coursera_org_id-error")).to_contain_text("Enter the Organization ID")
    assert "LEARNSYNC_" not in page.content() and "[coursera]" not in page.content()
    check_page(page, "forms new integration errors")
    page.click("#problems a[href='#group_id']")  # a summary link goes to its field
    assert page.evaluate("location.hash") == "#group_id"

    # a wrong secret on Setup: the failed check and its field marked, the skipped one neutral
    page.goto("/integrations/1")
    page.fill("#coursera_client_secret", "wrong-secret-typed")
    page.click("button:has-text('Setup integration')")
    failed = page.locator("li[data-check='Coursera credentials'] .chip")
    expect(failed).to_have_class(re.compile(r"chip-error"))
    skipped = page.locator("li[data-check='Coursera organization'] .chip")
    expect(skipped).to_have_class(re.compile(r"chip-neutral"))
    expect(skipped).to_contain_text("Skipped")
    expect(page.locator("li[data-check='360Learning credentials'] .chip")).to_contain_text("Passed")
    assert _marked(page) == ["coursera_client_id", "coursera_client_secret"]
    assert _focused(page, "coursera_client_id") == "coursera_client_id"
    assert page.input_value("#coursera_client_secret") == ""  # never sent back
    check_page(page, "forms setup wrong secret")
    # the neutral chip is not the error colour
    colours = page.evaluate(
        "[...document.querySelectorAll('.checklist .chip')].map(c => getComputedStyle(c).color)"
    )
    assert len(set(colours)) == 3  # passed, failed and skipped look different

    # Import of a broken file: what is wrong, in words, on the file field
    page.goto("/import")
    check_page(page, "forms import")
    page.set_input_files(
        "#config",
        files=[
            {
                "name": "broken.toml",
                "mimeType": "application/toml",
                "buffer": b'[coursera]\norg_id = "o"\nclient_id = "c"\nclient_secret = "s"\n'
                b'refresh_token = "r"\n[threesixty]\nclient_id = "t"\nclient_secret = "s"\n'
                b'author_id = "dddddddddddddddddddddddd"\n',
            }
        ],
    )
    page.click("button:has-text('Import')")
    expect(page.locator("#config-error")).to_contain_text(
        "The file has no Synchronized group ID: add it, then import again."
    )
    assert _marked(page) == ["config"] and _focused(page, "config") == "config"
    check_page(page, "forms import broken")

    # Schedules with a bad time zone: that field marked, nothing saved
    page.goto("/integrations/1/schedules")
    page.fill("#stats_timezone", "Mars/Olympus")
    page.click("button:has-text('Save')")
    expect(page.locator("#stats_timezone-error")).to_contain_text("is not a time zone")
    assert (
        _marked(page) == ["stats_timezone"] and _focused(page, "stats_timezone") == "stats_timezone"
    )
    assert page.input_value("#stats_timezone") == "Mars/Olympus"
    check_page(page, "forms schedules bad zone")
    assert {s.timezone for s in service.repo.list_schedules(1)} == {"Europe/Paris"}

    assert problems == []
    assert offsite_requests(context, base) == []
    context.close()


def _expire_sessions(service: Service) -> None:
    table = AdminSession.__table__
    with service.repo.engine.begin() as conn:
        conn.execute(update(table).values(last_seen_at=service.repo.now() - timedelta(hours=1)))


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_sign_in_keeps_the_way_and_the_typing(
    browser: Any, site: tuple[str, Service, Stack], width: int
) -> None:
    base, service, _stack = site
    context, page, problems = _page(browser, base, width)

    # a deep link opened signed out lands there after sign-in
    page.goto("/integrations/1/schedules")
    assert "/login?next=" in page.url
    check_page(page, "forms sign in deep link")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/integrations/1/schedules")
    expect(page.locator("h1")).to_have_text("Schedules")

    # the session ends while the settings form is being filled: what was typed comes back
    page.goto("/integrations/1")
    page.fill("#coursera_org_id", "typed-org-id")
    page.fill("#integration_name", "Typed name")
    page.fill("#coursera_client_secret", "typed-secret-value")
    _expire_sessions(service)
    page.click("button[value=save]")
    page.wait_for_url(re.compile(r"/login\?expired=1"))
    expect(page.get_by_role("status")).to_contain_text("what you typed comes back")
    check_page(page, "forms sign in expired")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/integrations/1\?draft="))
    assert page.input_value("#coursera_org_id") == "typed-org-id"
    assert page.input_value("#integration_name") == "Typed name"
    assert page.input_value("#coursera_client_secret") == ""  # secrets are not kept
    assert "typed-secret-value" not in page.content()
    expect(page.get_by_role("status").first).to_contain_text("nothing was saved")
    check_page(page, "forms draft restored")
    assert service.integrations.get(1).coursera_org_id != "typed-org-id"

    # log out: said on the sign-in page
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    check_page(page, "forms signed out")
    assert problems == []
    context.close()

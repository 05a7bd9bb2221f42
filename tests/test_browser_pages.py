"""Every page of the admin UI in a real browser, at 1440 and 390 px: axe-core at WCAG 2.2 AA, no
horizontal scroll, a screenshot (tests/.screenshots/), no Content-Security-Policy violation and
no request off the learnsync origin.

The site has one integration that is set up and has run once for content and once for
statistics against the simulators, so every page shows data, not only its empty state. Each
page is its own test (one failing page does not hide the others); the pages of one width share a
signed-in browser context, whose every request is checked to have stayed on the site.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from browser_support import (
    WIDTHS,
    check_page,
    expect,
    new_context,
    offsite_requests,
    sign_in,
)
from learnsync.config import parse_config
from learnsync.sandbox.serving import serve_in_thread
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.service.setup import setup_integration
from learnsync.web import create_app

pytestmark = pytest.mark.browser

USER, PASSWORD = "admin", "admin-password-1"
#: the status code of the answer Swagger UI's Execute got
ANSWER_STATUS = ".live-responses-table tr.response .response-col_status"


@dataclass
class Site:
    base_url: str
    integration: int
    run: int


@dataclass
class Browsing:
    """A signed-in context at one width, and what its pages reported."""

    context: Any
    page: Any
    csp: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    world = World(seed=11, catalog_size=80, learners=20, enrollments=40)
    db = tmp_path_factory.mktemp("pages") / "pages.db"
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{db}", SecretBox.generate())
        try:
            service.auth.create_user(USER, PASSWORD)
            raw = tomllib.loads(stack.config_toml(service.store_url))
            integration = service.integrations.save(
                input_from_config(parse_config(raw), "Coursera")
            )
            # Setup integration, as the settings page's button does
            result = setup_integration(service.integrations.config(integration))
            assert result.ok, result.summary()
            if result.remote_integration_id:
                service.store.set_remote_integration_id(integration, result.remote_integration_id)
            service.repo.set_setup_result(integration, "ok", result.summary())
            runs = []
            for kind in ("content", "stats"):
                runs.append(service.runs.start(integration, kind))
                service.runs.wait()
                latest = service.runs.latest(integration)
                # statistics: partial, the world has learners 360Learning does not know
                assert latest is not None and latest.status in ("succeeded", "partial"), latest
            content_run = runs[0]
            with serve_in_thread(create_app(service)) as base_url:
                yield Site(base_url, integration, content_run)
        finally:
            service.close()


@pytest.fixture(scope="module")
def browsing(browser: Any, site: Site) -> Iterator[dict[int, Browsing]]:
    """One signed-in context per width, opened on first use."""
    opened: dict[int, Browsing] = {}
    yield opened
    for b in opened.values():
        b.context.close()


def _watched(browser: Any, site: Site, width: int) -> Browsing:
    """A new context at ``width`` whose CSP violations and script errors are recorded."""
    context = new_context(browser, site.base_url, width)
    csp: list[str] = []
    # every CSP violation (an inline style or script, an off-site load), as it happens
    context.expose_binding("learnsyncCsp", lambda _source, text: csp.append(str(text)))
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " window.learnsyncCsp(location.pathname + ': ' + e.violatedDirective"
        " + ' ' + (e.blockedURI || 'inline')); });"
    )
    page = context.new_page()
    b = Browsing(context, page, csp)
    page.on("pageerror", lambda exc: b.errors.append(str(exc)))
    return b


def _at(browser: Any, site: Site, opened: dict[int, Browsing], width: int) -> Browsing:
    if width not in opened:
        b = _watched(browser, site, width)
        sign_in(b.page, USER, PASSWORD)
        opened[width] = b
    return opened[width]


def _stayed_home(b: Browsing, site: Site, name: str) -> None:
    """Nothing the context did so far left the site, broke the CSP or threw."""
    assert offsite_requests(b.context, site.base_url) == [], name
    assert b.csp == [], f"{name}: Content-Security-Policy violations {b.csp}"
    assert b.errors == [], f"{name}: script errors {b.errors}"


def _languages_dialog(page: Any) -> None:
    page.get_by_role("button", name="+ Add languages").click()
    expect(page.locator("dialog[open]")).to_have_count(1)


# name → (address, what to do there before the check); {i} the integration, {r} the run
PAGES: dict[str, tuple[str, Callable[[Any], None] | None]] = {
    "integrations": ("/integrations", None),
    "new-integration": ("/integrations/new", None),
    "settings": ("/integrations/{i}", None),
    "languages": ("/integrations/{i}/languages", None),
    "languages-dialog": ("/integrations/{i}/languages", _languages_dialog),
    "content-types": ("/integrations/{i}/content-types", None),
    "schedules": ("/integrations/{i}/schedules", None),
    "runs": ("/integrations/{i}/runs", None),
    "run": ("/integrations/{i}/runs/{r}", None),
    "catalog": ("/integrations/{i}/catalog", None),
    "statistics": ("/integrations/{i}/statistics", None),
    "audit": ("/audit", None),
    "import": ("/import", None),
}
SIZES = list(WIDTHS.items())
SIZE_IDS = list(WIDTHS)


@pytest.mark.parametrize(("label", "width"), SIZES, ids=SIZE_IDS)
def test_login_page(browser: Any, site: Site, label: str, width: int) -> None:
    b = _watched(browser, site, width)
    page = b.page
    try:
        page.goto("/integrations")  # signed out: sent to the sign-in form
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        check_page(page, f"login-{label}")
        page.fill("#username", USER)
        page.fill("#password", "wrong-password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
        check_page(page, f"login-refused-{label}")
        _stayed_home(b, site, "login")
    finally:
        b.context.close()


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize(("label", "width"), SIZES, ids=SIZE_IDS)
def test_page(
    browser: Any,
    site: Site,
    browsing: dict[int, Browsing],
    label: str,
    width: int,
    name: str,
) -> None:
    b = _at(browser, site, browsing, width)
    address, then = PAGES[name]
    response = b.page.goto(address.format(i=site.integration, r=site.run))
    assert response is not None and response.status == 200, f"{name}: {address}"
    if then is not None:
        then(b.page)
    check_page(b.page, f"{name}-{label}")
    _stayed_home(b, site, name)


@pytest.mark.parametrize(
    ("address", "status", "heading"),
    [
        ("/integrations/999999", 404, "Page not found"),
        ("/integrations/{i}/sync/content", 405, "Not possible here"),  # it takes POST only
    ],
    ids=["404", "405"],
)
@pytest.mark.parametrize(("label", "width"), SIZES, ids=SIZE_IDS)
def test_error_page(
    browser: Any,
    site: Site,
    browsing: dict[int, Browsing],
    label: str,
    width: int,
    address: str,
    status: int,
    heading: str,
) -> None:
    b = _at(browser, site, browsing, width)
    # a browser navigation: an HTML page, not JSON
    response = b.page.goto(address.format(i=site.integration))
    assert response is not None and response.status == status
    expect(b.page.get_by_role("heading", level=1)).to_have_text(heading)
    back = b.page.get_by_role("link", name="Back to the integrations")
    expect(back).to_be_visible()
    check_page(b.page, f"error-{status}-{label}")
    _stayed_home(b, site, "error page")
    back.click()
    b.page.wait_for_url("**/integrations")


@pytest.mark.parametrize(("label", "width"), SIZES, ids=SIZE_IDS)
def test_api_page(
    browser: Any, site: Site, browsing: dict[int, Browsing], label: str, width: int
) -> None:
    """The API reference works offline: Swagger UI from learnsync's own files lists the
    operations of /api/openapi.json, and its Try it out reaches the API — writes with the CSRF
    token. axe checks Swagger UI's markup too (no exclusion: api_docs.css fixes its contrast)."""
    b = _at(browser, site, browsing, width)
    b.page.goto("/integrations")
    b.page.get_by_role("link", name="API reference").click()  # the footer's link
    b.page.wait_for_url("**/api/docs")
    ui = b.page.locator("#swagger-ui")
    listing = ui.locator(".opblock-summary", has_text="/api/integrations").first
    expect(listing).to_be_visible()
    expect(ui.locator(".opblock-get .opblock-summary-method").first).to_have_text("GET")
    assert ui.locator(".opblock-summary").count() >= 10
    check_page(b.page, f"api-docs-{label}")

    # GET /api/integrations, tried out: the integration, 200
    get = ui.locator("#operations-integrations-api_integrations_api_integrations_get")
    get.locator(".opblock-summary-control").click()
    get.get_by_role("button", name="Try it out").click()
    get.get_by_role("button", name="Execute").click()
    expect(get.locator(ANSWER_STATUS).first).to_have_text("200")
    expect(get.locator(".live-responses-table")).to_contain_text('"label": "Coursera"')
    check_page(b.page, f"api-docs-tried-{label}")

    # a write: POST /api/runs/{run_id}/cancel on the finished run is accepted (202), not
    # refused for a missing CSRF token (403)
    cancel = ui.locator("#operations-runs-api_cancel_api_runs__run_id__cancel_post")
    cancel.locator(".opblock-summary-control").click()
    cancel.get_by_role("button", name="Try it out").click()
    cancel.locator("input[placeholder=run_id]").fill(str(site.run))
    cancel.get_by_role("button", name="Execute").click()
    expect(cancel.locator(ANSWER_STATUS).first).to_have_text("202")
    _stayed_home(b, site, "api docs")


def test_the_checks_can_fail(browser: Any, site: Site) -> None:
    """check_page refuses a page axe finds fault with, listing rule, impact, element and help;
    offsite_requests sees a request to another origin (refused here before it leaves)."""
    context = new_context(browser, site.base_url, WIDTHS["desktop"])
    try:
        context.route("https://elsewhere.invalid/**", lambda route: route.abort())
        page = context.new_page()
        page.goto("/login")
        page.evaluate(
            "() => { const img = document.createElement('img');"
            " img.src = 'https://elsewhere.invalid/pixel.png'; img.id = 'no-alt';"
            " document.querySelector('main').append(img); }"
        )
        page.wait_for_function("document.getElementById('no-alt').complete")
        with pytest.raises(AssertionError) as failure:
            check_page(page, "harness-self-test")
        text = str(failure.value)
        assert "- image-alt (critical): Images must have alternative text" in text
        assert "#no-alt: Fix any of the following" in text
        assert offsite_requests(context, site.base_url) == ["https://elsewhere.invalid/pixel.png"]
    finally:
        context.close()

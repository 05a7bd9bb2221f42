"""What every browser test shares: Debian's Chromium driven by Playwright, a signed-in page at a
given width, and :func:`check_page` — run on every page a test visits: no horizontal scroll, no
request off the learnsync origin, a screenshot into ``tests/.screenshots`` (ignored by git) for a
reviewer, and axe-core at WCAG 2.2 AA.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("LEARNSYNC_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
WIDTHS = {"desktop": 1440, "mobile": 390}
SCREENSHOTS = Path(__file__).parent / ".screenshots"


def expect(locator: Any) -> Any:
    """Playwright's auto-waiting assertions (imported lazily: the package may be missing)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        import playwright.sync_api as playwright_api
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("the playwright package is required in CI")
        pytest.skip("the playwright package is not installed")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI: {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def new_context(browser: Any, base_url: str, width: int = WIDTHS["desktop"]) -> Any:
    """A browser context at ``width`` CSS pixels whose every request is recorded on
    ``context.requests`` (to check none leaves the origin)."""
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": 900 if width > 600 else 844}
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.requests = []  # type: ignore[attr-defined]
    context.on("request", lambda r: context.requests.append(r.url))
    return context


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/integrations"))


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} is {width} px wide in a {viewport} px window"


def offsite_requests(context: Any, base_url: str) -> list[str]:
    """Requests of the context that went anywhere but ``base_url`` (data: URLs excepted)."""
    return [u for u in context.requests if not u.startswith(base_url) and not u.startswith("data:")]


#: The rules axe-core runs: WCAG 2.0, 2.1 and 2.2, levels A and AA.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (an open dialog included), at
    :data:`AXE_TAGS`.

    axe is injected with ``page.evaluate`` (axe-playwright-python): the page's CSP
    (``script-src 'self'``) would refuse a script tag, not an evaluation by the test."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    return list(results.response["violations"])


def axe_report(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violated rule: its id, impact, help text and link, and each element
    (its CSS selector path and axe's summary of what is wrong)."""
    lines = []
    for v in violations:
        impact = v.get("impact") or "no impact"
        lines.append(f"- {v['id']} ({impact}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"][:10]:
            target = " ".join(str(t) for t in node["target"])
            summary = " ".join(str(node.get("failureSummary") or "").split())
            lines.append(f"    {target}: {summary[:300]}")
        if len(v["nodes"]) > 10:
            lines.append(f"    … and {len(v['nodes']) - 10} more elements")
    return "\n".join(lines)


def check_page(page: Any, name: str) -> None:
    """Every page a browser test visits: it fits the window, a full-page screenshot is kept,
    and axe-core finds no WCAG 2.2 AA violation (the failure lists each rule and element)."""
    page.wait_for_load_state()
    problems = []
    try:
        no_horizontal_scroll(page)
    except AssertionError as wide:
        problems.append(str(wide))
    SCREENSHOTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    page.screenshot(path=str(SCREENSHOTS / f"{safe}-{width}.png"), full_page=True)
    violations = axe_violations(page)
    if violations:
        problems.append(
            f"axe-core: {len(violations)} WCAG 2.2 AA rule(s) violated on {name} at {width} px "
            f"({page.url}):\n{axe_report(violations)}"
        )
    # both checks reported together: a page too wide is checked by axe all the same
    assert not problems, "\n".join(problems)

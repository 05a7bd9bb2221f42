"""The Catalog and Statistics pages in a real browser (Debian's Chromium driven by Playwright) at
1440 and 390 px: sort by a column, state chips with counts, a search that keeps its filters, a
page jump on a 130-item catalog, the links out, and each chart's table holding its bars' values.
Every page visited goes through ``check_page`` (no horizontal scroll, a screenshot)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from browser_support import WIDTHS, check_page, expect, new_context, sign_in
from catalog_support import PASSWORD, PLATFORM, catalog_items, fill_stats, new_service
from learnsync.sandbox.serving import serve_in_thread
from learnsync.service import insights
from learnsync.web import create_app

pytestmark = pytest.mark.browser

ITEMS = catalog_items(130)
PER_DAY = [0] * 22 + [2, 0, 5, 1, 0, 3, 8, 4]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = new_service(tmp_path_factory.mktemp("browser-catalog"))
    try:
        service.store.save_content_items(1, ITEMS)
        fill_stats(service, datetime.now(UTC), PER_DAY)
        with serve_in_thread(create_app(service)) as base_url:
            yield base_url
    finally:
        service.close()


def _count(text: str) -> int:
    found = re.match(r"([\d,]+) items?", text.strip())
    assert found is not None, text
    return int(found.group(1).replace(",", ""))


@pytest.fixture(params=sorted(WIDTHS.items()), ids=lambda kv: kv[0])
def page(request: pytest.FixtureRequest, browser: Any, site: str) -> Iterator[Any]:
    name, width = request.param
    context = new_context(browser, site, width)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(tab, "admin", PASSWORD)
    tab.width_name = name
    yield tab
    assert errors == []
    context.close()


def test_catalog_sort_chips_search_paging_and_links(page: Any) -> None:
    name = page.width_name
    page.goto("/integrations/1/catalog?per_page=25")
    check_page(page, f"catalog-{name}")
    assert page.inner_text("#catalog-count") == "130 items"
    expect(page.locator("#catalog tbody tr")).to_have_count(25)
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    expect(page.locator("th[data-sort=title]")).to_have_attribute("aria-sort", "ascending")

    # sort by language: ascending by the language's name, then descending
    page.click("th[data-sort=language] a")
    page.wait_for_url(re.compile(r"sort=language"))
    expect(page.locator("th[data-sort=language]")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    shown = page.locator("#catalog tbody tr td:nth-child(2)").all_inner_texts()
    assert shown == ["English (en)"] * 25  # 33 English items come first
    page.click("th[data-sort=language] a")
    page.wait_for_url(re.compile(r"dir=desc"))
    expect(page.locator("th[data-sort=language]")).to_have_attribute("aria-sort", "descending")
    assert page.locator("#catalog tbody tr td:nth-child(2)").first.inner_text() == "Spanish (es)"
    check_page(page, f"catalog-sorted-{name}")

    # the state chips: each says its count, and following one lists that many
    chips = page.locator("#state-chips a")
    expect(chips).to_have_count(1 + len(insights.STATES))
    expect(page.locator("#state-chips a[aria-current]")).to_have_attribute("data-state", "")
    failed = page.locator("#state-chips a[data-state=failed]")
    expected_failed = sum(1 for i in ITEMS if i.state == "failed")
    assert _count(failed.locator(".count").inner_text()) == expected_failed
    failed.click()
    page.wait_for_url(re.compile(r"state=failed"))
    assert _count(page.inner_text("#catalog-count")) == expected_failed
    expect(page.locator("#state-chips a[aria-current]")).to_have_attribute("data-state", "failed")
    assert "sort=language" in page.url  # the chip kept the sort

    # a search keeps the state filter and the sort
    page.fill("#q", "orchid")
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r"q=orchid"))
    assert "state=failed" in page.url and "sort=language" in page.url
    expected = sum(
        1 for i in ITEMS if i.state == "failed" and "orchid" in (i.payload or {})["description"]
    )
    assert _count(page.inner_text("#catalog-count")) == expected
    expect(page.locator("#catalog tbody tr")).to_have_count(expected)
    expect(page.locator("#state")).to_have_value("failed")
    # and a chip keeps the search
    page.click("#state-chips a[data-state=active]")
    page.wait_for_url(re.compile(r"state=active"))
    assert "q=orchid" in page.url
    expect(page.locator("#q")).to_have_value("orchid")
    check_page(page, f"catalog-filtered-{name}")

    # the page jump, on the whole catalog in pages of 10
    page.goto("/integrations/1/catalog?per_page=10&sort=state")
    expect(page.locator(".pager")).to_contain_text("Page 1 of 13 · 130 items")
    page.fill("#page-jump", "13")
    page.click(".pager button:has-text('Go')")
    page.wait_for_url(re.compile(r"page=13"))
    expect(page.locator(".pager")).to_contain_text("Page 13 of 13 · 130 items")
    assert "sort=state" in page.url and "per_page=10" in page.url
    expect(page.locator("th[data-sort=state]")).to_have_attribute("aria-sort", "ascending")
    states = {r.get_attribute("data-state") for r in page.locator("#catalog tbody tr").all()}
    assert states == {"failed"}  # the last page of the state order
    page.click(".pager a:has-text('Previous')")
    page.wait_for_url(re.compile(r"page=12"))
    expect(page.locator(".pager")).to_contain_text("Page 12 of 13")
    check_page(page, f"catalog-paged-{name}")

    # the links out: the course in 360Learning and in Coursera, named for a screen reader
    page.goto("/integrations/1/catalog?q=Data+007")
    row = page.locator('#catalog tr[data-external-id="Course~c007"]')
    item = next(i for i in ITEMS if i.external_id == "Course~c007")
    to_360 = row.locator("a.link-360")
    expect(to_360).to_have_attribute("href", f"{PLATFORM}/course/play/{item.course_id}")
    expect(to_360).to_have_attribute("rel", "noopener")
    expect(to_360).to_have_accessible_name("360Learning — Data 007 (another site)")
    to_coursera = row.locator("a.link-coursera")
    expect(to_coursera).to_have_attribute("href", (item.payload or {})["launchUrl"])
    expect(to_coursera).to_have_accessible_name("Coursera — Data 007 (another site)")
    expect(row.locator("td:nth-child(3)")).to_have_text("Project")
    check_page(page, f"catalog-links-{name}")


def test_statistics_charts_tables_and_readable_labels(page: Any) -> None:
    name = page.width_name
    page.goto("/integrations/1/statistics")
    check_page(page, f"statistics-{name}")
    for chart in ("#completions-chart", "#learners-chart"):
        bars = page.locator(f"{chart} svg rect.bar")
        expect(bars).to_have_count(30)
        values = [int(v) for v in bars.evaluate_all("bs => bs.map(b => b.dataset.value)")]
        labels = bars.evaluate_all("bs => bs.map(b => b.dataset.label)")
        details = page.locator(f"{chart} details")
        details.locator("summary").click()
        expect(details.locator("table")).to_be_visible()
        rows = details.locator("tbody tr")
        expect(rows).to_have_count(30)
        table = [
            (r.locator("th").inner_text(), int(r.locator("td").inner_text().replace(",", "")))
            for r in rows.all()
        ]
        assert table == list(zip(labels, values, strict=True))
        # the labels keep the page's size at every width (not scaled down with the SVG)
        for label in page.locator(f"{chart} .chart-y span, {chart} .chart-x span").all():
            size = float(label.evaluate("e => getComputedStyle(e).fontSize")[:-2])
            assert size >= 12, size
    completions = page.locator("#completions-chart svg rect.bar")
    values = [int(v) for v in completions.evaluate_all("bs => bs.map(b => b.dataset.value)")]
    assert values == PER_DAY
    expect(page.locator("#top-courses")).to_be_visible()
    assert page.locator(".table-wrap #top-courses").count() == 1
    check_page(page, f"statistics-tables-{name}")

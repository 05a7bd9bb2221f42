"""The Catalog and Statistics pages' rules through the web app (TestClient, no browser): the sort
and paging rules table by table, state chips and their counts, search and filters kept by every
link, plurals, names, the links to 360Learning and Coursera, the charts' tables and the empty
states."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from catalog_support import PLATFORM, catalog_items, fill_stats, fill_unmatched, new_service
from e2e_support import admin_login, courses_of
from learnsync.config import parse_config
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.service import insights
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store import ContentItemState
from learnsync.web import charts, create_app

NOW = datetime(2026, 12, 4, 7, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = new_service(tmp_path, Clock())
    yield service
    service.close()


@pytest.fixture
def client(service: Service) -> TestClient:
    client = TestClient(create_app(service), follow_redirects=False)
    admin_login(client)
    return client


def _api(client: TestClient, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/integrations/1/catalog", params=params)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


# ------------------------------------------------------------------------------ sort

SMALL = [  # external id, title, language, type, state
    ContentItemState(
        "Course~a", "active", name="banana", language_code="en", content_type="Course"
    ),
    ContentItemState(
        "Course~b", "failed", name="Apple", language_code="fr", content_type="GuidedProject"
    ),
    ContentItemState(
        "Course~c", "skipped", name="cherry", language_code="de", content_type="Specialization"
    ),
    ContentItemState(
        "Course~d", "archived_filter", name="apple", language_code="es", content_type="Course"
    ),
    ContentItemState("Course~e", "archived_removed", name="Date"),
]


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        # title: case-insensitive, ties by externalId
        ("title", "asc", "bdace"),
        ("title", "desc", "ecadb"),
        # language: by its name (English, French, German, Spanish), none last
        ("language", "asc", "abcde"),
        ("language", "desc", "edcba"),
        # type: Course (by title), Guided project, Specialization, none last
        ("type", "asc", "dabce"),
        ("type", "desc", "ecbad"),
        # state: the state chips' order (active, archived by filter, left Coursera, skipped, failed)
        ("state", "asc", "adecb"),
        ("state", "desc", "bceda"),
        # unknown sorts and directions: title, ascending
        ("bogus", "asc", "bdace"),
        ("title", "sideways", "bdace"),
        ("", "", "bdace"),
    ],
)
def test_sort_rules(
    service: Service, client: TestClient, sort: str, direction: str, expected: str
) -> None:
    service.store.save_content_items(1, SMALL)
    answer = _api(client, sort=sort, dir=direction)
    assert "".join(r["external_id"][-1] for r in answer["rows"]) == expected
    assert answer["sort"] == (sort if sort in insights.SORTS else "title")
    assert answer["direction"] == (direction if direction in ("asc", "desc") else "asc")
    page = client.get("/integrations/1/catalog", params={"sort": sort, "dir": direction})
    shown = re.findall(r'data-external-id="Course~(\w)"', page.text)
    assert "".join(shown) == expected


@pytest.mark.parametrize(
    ("sort", "direction", "sorted_header", "aria"),
    [
        ("title", "asc", "title", "ascending"),
        ("language", "desc", "language", "descending"),
        ("type", "asc", "type", "ascending"),
        ("state", "desc", "state", "descending"),
        ("nonsense", "desc", "title", "descending"),
    ],
)
def test_aria_sort_is_on_the_sorted_column_only_and_its_link_reverses_it(
    service: Service,
    client: TestClient,
    sort: str,
    direction: str,
    sorted_header: str,
    aria: str,
) -> None:
    service.store.save_content_items(1, catalog_items(30))
    page = client.get(
        "/integrations/1/catalog",
        params={"sort": sort, "dir": direction, "q": "data", "language": "en", "page": 1},
    ).text
    headers = re.findall(
        r'<th scope="col"\s*(aria-sort="(\w+)")?\s*data-sort="(\w+)"><a href="([^"]+)"', page
    )
    assert [h[2] for h in headers] == ["title", "language", "type", "state"]
    assert [(h[2], h[1]) for h in headers if h[1]] == [(sorted_header, aria)]
    for _, _, key, href in headers:
        query = parse_qs(urlsplit(unescape(href)).query)
        # a sort keeps the search and filters and starts again at page 1
        assert query["q"] == ["data"] and query["language"] == ["en"] and "page" not in query
        assert query["sort"] == [key]
        flips = key == sorted_header and aria == "ascending"
        assert query["dir"] == ["desc" if flips else "asc"]


# ------------------------------------------------------------------------------ paging


@pytest.mark.parametrize(
    ("per_page", "page", "shown_page", "pages", "rows"),
    [
        (50, 1, 1, 3, 50),
        (50, 2, 2, 3, 50),
        (50, 3, 3, 3, 30),
        (50, 99, 3, 3, 30),  # past the end: the last page
        (50, 0, 1, 3, 50),  # before the start: the first
        (50, -4, 1, 3, 50),
        (10, 13, 13, 13, 10),
        (200, 1, 1, 1, 130),
        (5, 1, 1, 13, 10),  # a page size below 10 is 10
        (1000, 1, 1, 1, 130),  # above 200 is 200
    ],
)
def test_paging_rules(
    service: Service,
    client: TestClient,
    per_page: int,
    page: int,
    shown_page: int,
    pages: int,
    rows: int,
) -> None:
    service.store.save_content_items(1, catalog_items(130))
    answer = _api(client, per_page=per_page, page=page)
    assert (answer["page"], answer["pages"], len(answer["rows"])) == (shown_page, pages, rows)
    assert answer["total"] == answer["catalog_total"] == 130
    # the pages are the sorted list cut in order, nothing lost or repeated
    everything = [r["external_id"] for r in _api(client, per_page=200)["rows"]]
    size = answer["page_size"]
    start = (shown_page - 1) * size
    assert [r["external_id"] for r in answer["rows"]] == everything[start : start + size]


def test_the_pager_shows_totals_and_a_page_jump_that_keeps_the_search_filters_and_sort(
    service: Service, client: TestClient
) -> None:
    service.store.save_content_items(1, catalog_items(130))
    params: dict[str, str | int] = {
        "q": "orchid",
        "state": "active",
        "sort": "language",
        "dir": "desc",
        "per_page": 10,
    }
    expected = sum(
        1
        for i in catalog_items(130)
        if i.state == "active" and "orchid" in (i.payload or {}).get("description", "")
    )
    page = client.get("/integrations/1/catalog", params={**params, "page": 2}).text
    pages = -(-expected // 10)
    assert f"Page 2 of {pages} · {expected} items" in page
    jump = re.search(r'<form method="get" class="inline">(.*?)</form>', page, re.S)
    assert jump is not None
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', jump.group(1)))
    assert hidden == {k: str(v) for k, v in params.items()}
    assert f'name="page" min="1" max="{pages}" value="2"' in jump.group(1)
    for label in ("First", "Previous", "Next", "Last"):
        link = re.search(rf'href="\?([^"]+)"[^>]*>{label}<', page)
        assert link is not None, label
        query = parse_qs(unescape(link.group(1)))
        assert {k: v[0] for k, v in query.items() if k != "page"} == hidden


# ------------------------------------------------------------------------------ chips, search


def test_state_chips_count_within_the_search_and_keep_it(
    service: Service, client: TestClient
) -> None:
    items = catalog_items(130)
    service.store.save_content_items(1, items)
    page = client.get(
        "/integrations/1/catalog", params={"q": "orchid", "language": "fr", "sort": "type"}
    ).text
    chips = re.findall(
        r'<li><a href="([^"]+)" data-state="(\w*)" ?(aria-current="true")?>[^<]*'
        r'<span class="count">([\d,]+) items?</span>',
        page,
    )
    matching = [
        i
        for i in items
        if i.language_code == "fr" and "orchid" in (i.payload or {}).get("description", "")
    ]
    expected = {"": len(matching)} | {
        key: sum(1 for i in matching if i.state == key) for key in insights.STATES
    }
    assert {state: int(n.replace(",", "")) for _, state, _, n in chips} == expected
    assert [state for _, state, current, _ in chips if current] == [""]  # "All states"
    for href, state, _, n in chips:
        query = parse_qs(urlsplit(unescape(href)).query)
        assert query["q"] == ["orchid"] and query["language"] == ["fr"]
        assert query["sort"] == ["type"] and "page" not in query
        assert query.get("state", [""]) == [state]
        # the count a chip shows is what following it lists
        assert _api(client, **{k: v[0] for k, v in query.items()})["total"] == int(n)
    # the search form keeps the filters and the sort
    start = page.index('role="search"')
    form = page[start : page.index("</form>", start)]
    assert 'value="orchid"' in form and '<option value="fr" selected>' in form
    assert '<input type="hidden" name="sort" value="type">' in form


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 items"), (1, "1 item"), (2, "2 items"), (1234, "1,234 items")],
)
def test_counts_read_as_plurals(
    service: Service, client: TestClient, count: int, words: str
) -> None:
    service.store.save_content_items(1, catalog_items(count))
    page = client.get("/integrations/1/catalog").text
    assert f'<span id="catalog-count" role="status">{words}</span>' in page


def test_rows_show_names_of_types_and_languages_and_link_out(
    service: Service, client: TestClient
) -> None:
    items = catalog_items(12)
    service.store.save_content_items(1, items)
    page = client.get("/integrations/1/catalog", params={"per_page": 50}).text
    assert "GuidedProject</td>" not in page and '<td class="nowrap">Guided project</td>' in page
    assert (
        '<td class="nowrap">French (fr)</td>' in page
        and '<td class="nowrap">German (de)</td>' in page
    )
    assert "Coursera gives no link to open it" in page  # a skip reason in words
    rows = dict(re.findall(r'<tr data-external-id="([^"]+)"(.*?)</tr>', page, re.S))
    assert set(rows) == {i.external_id for i in items}
    for item in items:
        row = rows[item.external_id]
        to_360 = re.search(r'<a class="link-360" href="([^"]+)" rel="noopener">', row)
        to_coursera = re.search(r'<a class="link-coursera" href="([^"]+)" rel="noopener">', row)
        if item.course_id:
            assert to_360 is not None
            assert to_360.group(1) == f"{PLATFORM}/course/play/{item.course_id}"
        else:
            assert to_360 is None and "Not in 360Learning" in row
        launch = (item.payload or {}).get("launchUrl", "")
        if launch.startswith("https://"):
            assert to_coursera is not None and to_coursera.group(1) == launch
        else:  # none, or not a web address (item 5): no link
            assert to_coursera is None
        for link in (to_360, to_coursera):
            if link is not None:
                rest = row[link.end() :]
                assert rest.index('aria-label="(another site)"') < rest.index("</a>")
    assert "javascript:" not in page


def test_course_page_urls() -> None:
    assert insights.course_page_url("https://acme.360learning.com/", "abc") == (
        "https://acme.360learning.com/course/play/abc"
    )
    assert insights.course_page_url("https://app.360learning.com", "a/b?c") == (
        "https://app.360learning.com/course/play/a%2Fb%3Fc"
    )
    assert insights.course_page_url("https://app.360learning.com", None) == ""
    assert insights.course_page_url("", "abc") == ""
    assert insights.course_page_url("javascript:alert(1)//", "abc") == ""


def test_empty_catalog_and_nothing_matching_say_what_to_do(
    service: Service, client: TestClient
) -> None:
    empty = client.get("/integrations/1/catalog").text
    assert "No content synchronized yet." in empty and 'href="/integrations/1/runs"' in empty
    assert '<table id="catalog">' not in empty
    assert "No content synchronization has finished yet." in empty
    service.store.save_content_items(1, catalog_items(20))
    none = client.get("/integrations/1/catalog", params={"q": "zzzz-nothing"}).text
    assert "Nothing matches your search and filters." in none
    assert 'href="/integrations/1/catalog">clear the search and filters' in none


def test_a_5000_item_catalog_answers_every_sort(service: Service, client: TestClient) -> None:
    service.store.save_content_items(1, catalog_items(5000))
    for sort in insights.SORTS:
        page = client.get("/integrations/1/catalog", params={"sort": sort, "page": 100})
        assert page.status_code == 200 and "Page 100 of 100 · 5,000 items" in page.text


# ------------------------------------------------------------------------------ statistics

PER_DAY = [0] * 20 + [1, 0, 3, 7, 2, 0, 0, 5, 4, 6]


def _bars(html: str, chart: str) -> list[tuple[str, int]]:
    figure = html[html.index(f'<figure id="{chart}"') :]
    figure = figure[: figure.index("</figure>")]
    return [
        (unescape(label), int(value))
        for label, value in re.findall(
            r'<rect class="bar"[^>]*data-label="([^"]+)" data-value="(\d+)"', figure
        )
    ]


def _table(html: str, chart: str) -> list[tuple[str, int]]:
    figure = html[html.index(f'<figure id="{chart}"') :]
    figure = figure[: figure.index("</figure>")]
    return [
        (unescape(label), int(value.replace(",", "")))
        for label, value in re.findall(
            r'<tr><th scope="row">([^<]+)</th><td class="num">([\d,]+)</td></tr>', figure
        )
    ]


def test_statistics_charts_have_their_values_as_tables(
    service: Service, client: TestClient
) -> None:
    service.store.save_content_items(1, catalog_items(8))
    fill_stats(service, NOW, PER_DAY)
    page = client.get("/integrations/1/statistics").text
    bars = _bars(page, "completions-chart")
    assert [v for _, v in bars] == PER_DAY
    assert bars[-1][0] == "Fri 4 Dec" and bars[0][0] == "Thu 5 Nov"
    assert _table(page, "completions-chart") == bars
    learners = _bars(page, "learners-chart")
    assert len(learners) == 30 and _table(page, "learners-chart") == learners
    # the charts hold no text of their own: their labels are HTML (readable at every width)
    for chart in re.findall(r"<svg class=\"chart\".*?</svg>", page, re.S):
        assert "<text" not in chart
    assert (
        '<div class="chart-y" aria-hidden="true"><span>10</span><span>5</span><span>0</span>'
        in page
    )
    assert "<span>5 Nov</span><span>4 Dec</span>" in page
    assert "Figures as of Fri 4 Dec 2026, 08:30 CET." in page  # the schedule's zone
    assert page.count('class="bar"') == 60
    wrap = '<div class="table-wrap" tabindex="0" role="region" aria-label="Top courses">\n'
    assert wrap + '<table id="top-courses">' in page
    # the top courses (fill_stats: c000 most, then c001…) link to their 360Learning pages
    top = page[page.index('<table id="top-courses">') : page.index("</table>", page.index("top-c"))]
    links = re.findall(r'<td><a href="([^"]+)" rel="noopener">([^<]+)<svg', top)
    assert links == [
        (f"{PLATFORM}/course/play/{n:024x}", f"{name} {n:03d}")
        for n, name in enumerate(("Data", "python", "Leadership", "cloud"))
    ]


def test_statistics_empty_states_say_what_to_do(service: Service, client: TestClient) -> None:
    page = client.get("/integrations/1/statistics").text
    assert "No statistics synchronized yet." in page
    assert "No completion yet." in page and 'id="top-courses"' not in page
    assert "0 course–learner pairs known" in re.sub(r"<[^>]+>", "", page).replace("\n", " ")
    assert _bars(page, "completions-chart") == _table(page, "completions-chart")
    assert all(v == 0 for _, v in _bars(page, "completions-chart"))


@pytest.mark.parametrize(
    ("count", "summary", "rows"),
    [(1, "2 learners.", 2), (3, "4 learners.", 4), (205, "206 learners, the first 200 shown", 200)],
)
def test_unmatched_learners_are_a_table_with_their_count(
    service: Service, client: TestClient, count: int, summary: str, rows: int
) -> None:
    service.store.save_content_items(1, catalog_items(4))
    fill_unmatched(service, count)
    page = client.get("/integrations/1/statistics").text
    assert summary in page
    wrap = page.index('<div class="table-wrap" tabindex="0" role="region" aria-label="Unmatched')
    table = page[wrap : page.index("</table>", wrap)]
    assert table.count("<tr>") == rows + 1  # and the header's
    unknown = "<td>no 360Learning user with this e-mail</td>"
    assert f'<td>stranger000@example.com</td>{unknown}<td class="num">1</td>' in table
    two = f'<td>stranger001@example.com</td>{unknown}<td class="num">2</td>'
    assert (two in table) == (count > 1)
    # sorted by reason, then learner: no e-mail first
    no_email = "<td>coursera-user-7</td><td>no e-mail address in Coursera</td>"
    assert table.index(no_email) < table.index("stranger000")
    # the first 200: the one without e-mail, then stranger000 to stranger198
    assert ("stranger198@" in table, "stranger199@" in table) == (count > 198, False)


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (1, 1), (2, 2), (3, 4), (7, 10), (11, 20), (41, 50), (120, 200)]
)
def test_the_axis_top_holds_the_peak(peak: int, top: int) -> None:
    assert charts.nice_top(peak) == top


def test_chart_labels_are_escaped() -> None:
    html = charts.bar_chart([("<b>", 1)], title="A & B", unit="thing")
    assert "<b>" not in html and "&lt;b&gt;" in html and "A &amp; B" in html
    assert "1 thing" in html


# ------------------------------------------------------------------------------ real links


def test_links_of_a_synchronized_catalog_reach_the_simulators_courses(tmp_path: Path) -> None:
    """After a real content sync, each row's 360Learning link names the course 360Learning
    created for it, on the integration's platform URL, and its Coursera link is its launchUrl."""
    with running_stack(World(seed=4, catalog_size=25, learners=5, enrollments=5)) as stack:
        service = Service(f"sqlite:///{tmp_path / 'real.db'}", SecretBox.generate())
        try:
            service.auth.create_user("admin", "admin-password-1")
            raw = tomllib.loads(stack.config_toml(service.store_url))
            service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
            service.runs.start(1, "content")
            service.runs.wait()
            client = TestClient(create_app(service), follow_redirects=False)
            admin_login(client)
            rows = _api(client, per_page=200)["rows"]
            base = service.integrations.get(1).threesixty_base_url.rstrip("/")
            courses = courses_of(stack)
            linked = [r for r in rows if r["course_id"]]
            assert linked
            for row in linked:
                course = courses[row["external_id"]]
                assert row["threesixty_url"] == f"{base}/course/play/{course.id}"
                assert row["coursera_url"] == course.data["launchUrl"]
            # the page says when the catalog was last synchronized, and links to that run
            run = service.runs.latest(1)
            assert run is not None
            page = client.get("/integrations/1/catalog").text
            line = page[
                page.index('<p class="last-run"') : page.index("</p>", page.index("last-run"))
            ]
            assert "Last content synchronization:" in line and 'data-status="succeeded"' in line
            assert f'href="/integrations/1/runs/{run.id}"' in line
            assert " CET</a>" in line or " CEST</a>" in line  # the schedule's zone
        finally:
            service.close()

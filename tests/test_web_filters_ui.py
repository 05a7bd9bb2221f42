"""The Languages and Content types pages (the article's Step 4) without a browser: what they show,
the save's preview (read from the store, the same counts as a dry run), the confirmation without
JavaScript, the JSON API the pages' script calls, and the way back to the list with the
confirmation once the save's run ended."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login, store_record
from learnsync.config import parse_config
from learnsync.filter.names import language_name
from learnsync.filter.rules import Filters
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.sync.filters import preview_from_store, set_filters
from learnsync.web import create_app, filters_view
from learnsync.web.notices import COOKIE
from learnsync.web.present import language_label

Site = tuple[Service, TestClient, str, Stack]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A signed-in administrator on an integration whose content was synchronized once."""
    world = World(seed=7, catalog_size=60, learners=10, enrollments=20)
    with running_stack(world) as stack:
        service = Service(f"sqlite:///{tmp_path / 'filters.db'}", SecretBox.generate())
        try:
            service.auth.create_user("admin", "admin-password-1")
            raw = tomllib.loads(stack.config_toml(service.store_url))
            service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
            run_id = service.runs.start(1, "content")
            service.runs.wait()
            assert service.runs.get(run_id).status == "succeeded"
            client = TestClient(create_app(service), follow_redirects=False)
            yield service, client, admin_login(client), stack
        finally:
            service.close()


def _archived(stack: Stack) -> set[str]:
    with stack.threesixty.lock:
        return {c.external_id for c in stack.threesixty.courses if c.status == "archived"}


def _languages(service: Service) -> list[tuple[str, int]]:
    """The catalog's languages, the biggest first."""
    view = filters_view.filters_view(service, 1)
    return sorted(((c.code, c.count) for c in view.languages), key=lambda c: -c[1])


def _api(client: TestClient, csrf: str, method: str, path: str, body: Any = None) -> Any:
    return client.request(
        method, f"/api/integrations/1/filters{path}", json=body, headers={"X-CSRF-Token": csrf}
    )


# ---------------------------------------------------------------------- words


def test_the_words_say_what_a_save_does() -> None:
    assert filters_view.summary(112, 3) == "112 courses will be archived, 3 restored."
    assert filters_view.summary(1, 0) == "1 course will be archived, 0 restored."
    assert filters_view.confirm_label(112, 0) == "Archive 112 courses and save"
    assert filters_view.confirm_label(4352, 3) == "Archive 4,352 courses, restore 3 and save"
    assert filters_view.confirm_label(0, 1) == "Restore 1 course and save"
    assert filters_view.confirm_label(0, 0) == "Save"


# ---------------------------------------------------------------------- pages


def test_the_languages_page_lists_names_with_codes_counts_and_bin_buttons(site: Site) -> None:
    service, client, _csrf, _ = site
    (big, big_count), (other, _n) = _languages(service)[:2]
    service.store.save_filters(1, [big, other], [])
    html = client.get("/integrations/1/languages").text
    row = re.search(rf'<tr data-code="{re.escape(big)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, html
    cells = row.group(1)
    name = language_name(big)
    assert f'<span class="lang-name">{name}</span>' in cells and f"<code>{big}</code>" in cells
    assert f"{big_count:,} item" in cells
    # Remove with the bin icon as an SVG (no emoji), named for the language
    assert f'aria-label="Remove {name}"' in cells
    assert '<svg class="icon" aria-hidden="true"' in cells and "🗑" not in html
    assert ">Remove</button>" in cells
    # the article's words; the dialog lists every language, the listed ones ticked and locked
    assert "+ Add languages" in html and ">Confirm</button>" in html and ">Save</button>" in html
    boxes = re.findall(r'<input type="checkbox" value="([^"]+)"[^>]*>', html)
    assert sorted(boxes) == sorted(c for c, _ in _languages(service))
    locked = re.findall(r'<input type="checkbox" value="([^"]+)"[^>]*checked disabled', html)
    assert sorted(locked) == sorted([big, other])
    assert '<dialog id="language-dialog"' in html
    assert not re.search(r'<dialog id="language-dialog"[^>]* open>', html)  # opened by the script
    assert "/static/filters.js" in html


def test_no_language_selected_says_every_language_is_included(site: Site) -> None:
    _service, client, _csrf, _ = site
    html = client.get("/integrations/1/languages").text
    assert "No language selected: content in every language is included." in html
    assert re.search(r'<div class="table-wrap" id="language-table" hidden>', html)
    # the button's address without JavaScript opens the dialog on the page
    opened = client.get("/integrations/1/languages?add=1").text
    assert re.search(r'<dialog id="language-dialog"[^>]* open>', opened)


def test_the_content_types_page_has_friendly_names_and_counts(site: Site) -> None:
    service, client, _csrf, _ = site
    html = client.get("/integrations/1/content-types").text
    view = filters_view.filters_view(service, 1)
    assert view.content_types
    for choice in view.content_types:
        label = re.search(
            rf'<label class="check"><input type="checkbox" name="value" value="{choice.code}"'
            r"[^>]*>(.*?)</label>",
            html,
        )
        assert label, choice
        assert f'{choice.name} <span class="muted">{choice.count:,} item' in label.group(1)
    assert "Guided project" in html or "GuidedProject" not in html
    assert ">Save</button>" in html


# ---------------------------------------------------------------------- preview


@pytest.mark.parametrize("pick", ["one language", "two languages", "a content type"])
def test_the_preview_from_the_store_counts_as_the_dry_run(site: Site, pick: str) -> None:
    service, *_ = site
    (big, _), (other, _n) = _languages(service)[:2]
    kinds = sorted(filters_view.saved_filters(service, 1).content_types) or [
        c.code for c in filters_view.filters_view(service, 1).content_types
    ]
    languages, content_types = {
        "one language": ([other], []),
        "two languages": ([big, other], []),
        "a content type": ([], kinds[:1]),
    }[pick]
    config = service.integrations.config(1)
    dry = set_filters(
        config, languages=languages, content_types=content_types, clear=True, dry_run=True
    )
    quick = preview_from_store(
        service.store, 1, Filters(frozenset(languages), frozenset(content_types))
    )
    assert (len(quick.archive), len(quick.restore), quick.unchanged) == (
        dry.archived,
        dry.restored,
        dry.unchanged,
    )
    assert quick.changed and len(quick.archive) > 0


def test_the_preview_api_names_the_courses_and_pages_them(site: Site) -> None:
    service, client, csrf, stack = site
    (_big, _), (other, _n) = _languages(service)[:2]
    same = _api(client, csrf, "POST", "/preview", {"languages": []}).json()
    assert same["changed"] is False and same["archive"]["count"] == 0

    answer = _api(client, csrf, "POST", "/preview?limit=5", {"languages": [other]})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    count = data["archive"]["count"]
    assert data["changed"] and count > 5 and data["restore"]["count"] == 0
    assert data["chosen"] == {"languages": [other], "content_types": []}
    assert data["summary"] == f"{count} courses will be archived, 0 restored."
    assert data["confirm_label"] == f"Archive {count} courses and save"
    titles = [c["title"] for c in data["archive"]["courses"]]
    assert len(titles) == 5 and titles == sorted(titles, key=str.casefold)
    assert data["archive"]["more"] == count - 5
    assert all(c["language"] != other for c in data["archive"]["courses"])
    # the next page follows on; all pages together are the courses the save archives
    rest = _api(client, csrf, "POST", "/preview?offset=5&limit=1000", {"languages": [other]})
    later = rest.json()["archive"]
    assert later["offset"] == 5 and later["more"] == 0
    every = titles + [c["title"] for c in later["courses"]]
    assert len(every) == count
    states = service.store.load_content_items(1)
    expected = {s.name for s in states.values() if s.state == "active" and s.language_code != other}
    assert set(every) == expected
    assert _archived(stack) == set() and store_record(service, 1).languages == []  # nothing done


def test_the_preview_api_refuses_an_empty_value_and_a_missing_token(site: Site) -> None:
    _service, client, csrf, _ = site
    empty = _api(client, csrf, "POST", "/preview", {"languages": [" "]})
    assert empty.status_code == 400 and "must not be empty" in empty.json()["detail"]
    forged = client.post("/api/integrations/1/filters/preview", json={"languages": ["en"]})
    assert forged.status_code == 403
    assert client.put("/api/integrations/1/filters", json={"languages": ["en"]}).status_code == 403
    assert client.get("/api/integrations/99/filters").status_code == 404


# ---------------------------------------------------------------------- save with JavaScript


def test_a_save_runs_and_lands_on_the_list_with_the_confirmation(site: Site) -> None:
    service, client, csrf, stack = site
    (big, _), (other, _n) = _languages(service)[:2]
    preview = _api(client, csrf, "POST", "/preview?limit=0", {"languages": [big]}).json()
    will_archive = preview["archive"]["count"]
    assert will_archive > 0

    answer = _api(client, csrf, "PUT", "", {"languages": [big]})
    assert answer.status_code == 202, answer.text
    run = answer.json()["run"]
    assert run["kind"] == "filters" and run["status"] in ("queued", "running", "succeeded")
    service.runs.wait()
    done = client.get(f"/api/runs/{run['id']}").json()
    assert done["status"] == "succeeded" and done["counts"]["archived"] == will_archive

    # where the page goes once the run ended: the list, with the one-time confirmation
    back = client.get(f"/integrations/1/filters/runs/{run['id']}?back=languages")
    assert back.status_code == 303 and back.headers["location"] == "/integrations/1/languages"
    assert COOKIE in back.cookies
    listed = client.get("/integrations/1/languages").text
    assert f"Filters saved: {will_archive} courses archived, 0 restored." in listed
    assert "Filters saved" not in client.get("/integrations/1/languages").text  # once
    assert f'<tr data-code="{big}"' in listed
    assert len(_archived(stack)) == will_archive  # 360Learning really archived them
    assert store_record(service, 1).languages == [big]
    entry = service.auth.audit.recent(1)[0]
    assert (entry.action, entry.detail) == ("filters_changed", f"languages (run {run['id']})")

    # the same filters again: nothing to save, no run
    runs = len(client.get("/api/integrations/1/runs").json())
    same = _api(client, csrf, "PUT", "", {"languages": [big]})
    assert same.status_code == 200 and same.json() == {"changed": False, "run": None}
    assert len(client.get("/api/integrations/1/runs").json()) == runs

    # the other language back: restores those archived that match again
    both = _api(client, csrf, "POST", "/preview", {"languages": [big, other]}).json()
    assert both["archive"]["count"] == 0 and both["restore"]["count"] > 0
    assert both["confirm_label"] == f"Restore {both['restore']['count']} courses and save"


def test_the_content_types_save_goes_back_to_its_own_page(site: Site) -> None:
    service, client, csrf, stack = site
    kinds = [c.code for c in filters_view.filters_view(service, 1).content_types]
    answer = _api(client, csrf, "PUT", "", {"content_types": kinds[:1]})
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["run"]["id"]
    service.runs.wait()
    back = client.get(f"/integrations/1/filters/runs/{run_id}?back=content-types")
    assert back.headers["location"] == "/integrations/1/content-types"
    archived = len(_archived(stack))
    assert archived > 0
    assert (
        f"Filters saved: {archived:,} courses archived"
        in client.get("/integrations/1/content-types").text
    )
    assert store_record(service, 1).content_types == kinds[:1]


def test_the_way_back_is_the_run_page_until_the_run_ended_well(site: Site) -> None:
    service, client, _csrf, _ = site
    content = service.runs.latest(1)
    assert content is not None and content.kind == "content"
    # not a filter save, or another integration's: no such page
    assert client.get(f"/integrations/1/filters/runs/{content.id}").status_code == 404
    assert client.get("/integrations/1/filters/runs/999").status_code == 404
    # a filter save that failed: its run page says why
    failed = service.runs.start(1, "filters", trigger="filters", params={"languages": [" "]})
    service.runs.wait()
    assert service.runs.get(failed).status == "failed"
    answer = client.get(f"/integrations/1/filters/runs/{failed}")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/integrations/1/runs/{failed}"
    assert COOKIE not in answer.cookies


def test_opened_in_a_browser_the_api_save_is_a_page_not_json(site: Site) -> None:
    _service, client, _csrf, _ = site
    answer = client.get("/integrations/1/filters", headers={"accept": "text/html"})
    assert answer.status_code == 405 and answer.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------------- without JavaScript


def test_without_javascript_save_opens_a_confirmation_page_then_runs(site: Site) -> None:
    service, client, csrf, stack = site
    (big, _), (other, _n) = _languages(service)[:2]
    service.store.save_filters(1, [big, other], [])
    # a Remove button without the script: the confirmation of the list without that language
    page = client.get(
        "/integrations/1/filters/confirm",
        params={"which": "languages", "value": [big, other], "remove": other},
    )
    assert page.status_code == 200, page.text
    html = page.text
    # its list: the language kept (by name and code); the courses it archives, by title
    removed = preview_from_store(service.store, 1, Filters(frozenset([big]))).archive
    assert removed and all(s.language_code != big for s in removed)
    assert "Save these filters?" in html
    assert f"<dd>{language_label(big)}</dd>" in html
    assert f"{len(removed)} courses will be archived, 0 restored." in html
    assert f'class="btn btn-danger">Archive {len(removed)} courses and save</button>' in html
    for state in removed:
        assert f'<span class="course-title">{state.name}</span>' in html
    assert 'name="csrf_token"' in html and f'name="value" value="{big}"' in html
    assert f'name="value" value="{other}"' not in html
    assert 'href="/integrations/1/languages">Cancel</a>' in html

    # the other language alone (from no filter): its confirmation, then its button
    service.store.save_filters(1, [], [])
    archive = preview_from_store(service.store, 1, Filters(frozenset([other]))).archive
    alone = client.get(
        "/integrations/1/filters/confirm", params={"which": "languages", "value": [other]}
    ).text
    assert f"Archive {len(archive)} courses and save" in alone
    assert _archived(stack) == set()  # the pages changed nothing

    # its button: the run, then its page
    saved = client.post(
        "/integrations/1/filters",
        data={"csrf_token": csrf, "which": "languages", "value": other, "confirm": "1"},
    )
    assert saved.status_code == 303
    run_id = int(saved.headers["location"].rsplit("/", 1)[1])
    service.runs.wait()
    assert service.runs.get(run_id).status == "succeeded"
    assert len(_archived(stack)) == len(archive)
    assert f"{len(archive)} courses archived" in client.get(saved.headers["location"]).text


def test_without_javascript_nothing_changed_says_so(site: Site) -> None:
    _service, client, _csrf, _ = site
    answer = client.get("/integrations/1/filters/confirm", params={"which": "content_types"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/integrations/1/content-types"
    page = client.get("/integrations/1/content-types").text
    assert "No change to save: the filters are as they were saved." in page
    bad = client.get(
        "/integrations/1/filters/confirm", params={"which": "languages", "value": "  "}
    )
    assert bad.status_code == 303  # a blank value is no value: nothing changed either

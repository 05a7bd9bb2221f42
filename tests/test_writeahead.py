"""Write ahead, then reconcile (learnsync.sync.writeahead), wired into the content sync and the
filter save: against the fake clients of tests/test_pipeline_fakes.py (the typed seam), a real
SQLite store.

An interruption is a fake target that applies a request and then raises a ``BaseException`` (the
run learns nothing of what was applied, as after a ``kill -9``); the subprocess kills are in
tests/test_e2e_content_interrupted.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from learnsync.clients.threesixty.client import ThreeSixtyClient
from learnsync.config import Config, CourseraSettings, SyncSettings, ThreeSixtySettings, load_config
from learnsync.model.ports import BatchResults, BulkKind
from learnsync.sandbox.stack import Stack
from learnsync.store.intents import IntentRecord, Intents
from learnsync.store.repository import Store
from learnsync.sync.content import run_content_sync
from learnsync.sync.filters import set_filters
from test_pipeline_fakes import NOW, FakeCoursera, FakeThreeSixty, _clients, content

GROUP = "g" * 24


class Killed(BaseException):
    """What a ``kill -9`` looks like from inside: nothing after it runs (no ``except
    Exception``)."""


class InterruptingTarget(FakeThreeSixty):
    """A fake 360Learning that, once ``kill_after`` is set to a bulk kind, applies that kind's
    first batch and dies before answering; ``seen`` holds the open intents at each request."""

    def __init__(self, store_url: str) -> None:
        super().__init__()
        self.store_url = store_url
        self.kill_after: str | None = None
        self.seen: list[tuple[str, list[IntentRecord]]] = []

    def _intents(self) -> list[IntentRecord]:
        with Store.open(self.store_url) as store:
            return Intents(store.engine).open_for(1)

    def run_batches(
        self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[BatchResults]:
        for batch, results in super().run_batches(kind, integration_id, batches):
            self.seen.append((kind, self._intents()))
            if self.kill_after == kind:
                raise Killed
            yield batch, results

    def set_course_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
        self.seen.append(("set_course_archived", self._intents()))
        return super().set_course_archived(course_id, archived)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        coursera=CourseraSettings(org_id="org", client_id="c", client_secret="s"),
        threesixty=ThreeSixtySettings(
            client_id="t", client_secret="s", group_id=GROUP, author_id="a" * 24
        ),
        sync=SyncSettings(archive_removed=True),
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
    )


def _open_intents(config: Config) -> list[IntentRecord]:
    with Store.open(config.store_url) as store:
        return Intents(store.engine).open_for(1)


def _states(config: Config) -> dict[str, str]:
    with Store.open(config.store_url) as store:
        return {k: v.state for k, v in store.load_content_items(1).items()}


def _catalog() -> FakeCoursera:
    return FakeCoursera(
        [
            content("a", "Alpha", "en"),
            content("b", "Beta", "fr"),
            content("c", "Gamma", "fr"),
            content("d", "Delta", "en"),
        ],
        [],
    )


def _filters(config: Config, clients: Any, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"languages": [], "content_types": [], "clear": False}
    options.update(kwargs)
    return set_filters(config, dry_run=False, clients=clients, **options)


def test_each_request_is_written_ahead_and_a_clean_run_leaves_no_intent(config: Config) -> None:
    target = InterruptingTarget(config.store_url)
    clients = _clients(_catalog(), target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)
    ((kind, open_then),) = target.seen
    assert kind == "upsert_courses"
    (upsert,) = open_then
    assert upsert.action == "upsert"
    assert [i["externalId"] for i in upsert.items] == [f"Course~{x}" for x in "abcd"]
    assert _open_intents(config) == []

    target.seen.clear()
    _filters(config, clients, languages=["fr"])  # archives a and d
    ((kind, open_then),) = target.seen
    assert kind == "archive_courses"
    (archive,) = open_then
    assert archive.action == "archive"
    assert archive.items == [
        {"externalId": f"Course~{x}", "courseId": f"course-Course~{x}", "state": "archived_filter"}
        for x in "ad"
    ]
    assert _open_intents(config) == []

    target.seen.clear()
    _filters(config, clients, clear=True)  # restores a and d, one request each
    assert [kind for kind, _ in target.seen] == ["set_course_archived"] * 2
    (restore,) = target.seen[0][1]
    assert restore.action == "restore"
    assert [(i["externalId"], i["state"]) for i in restore.items] == [
        ("Course~a", "archived_filter"),
        ("Course~d", "archived_filter"),
    ]
    assert _open_intents(config) == []
    assert target.status_reads == []  # nothing was interrupted: 360Learning is not asked


def test_a_filter_save_killed_after_the_archive_is_reconciled_by_the_next_save(
    config: Config,
) -> None:
    target = InterruptingTarget(config.store_url)
    clients = _clients(_catalog(), target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)

    target.kill_after = "archive_courses"
    with pytest.raises(Killed):
        _filters(config, clients, languages=["fr"])
    target.kill_after = None
    assert target.archived == {"course-Course~a", "course-Course~d"}  # applied by 360Learning
    assert set(_states(config).values()) == {"active"}  # … unknown to the store
    (left,) = _open_intents(config)
    assert left.action == "archive"

    report = _filters(config, clients, clear=True)
    assert target.status_reads == [GROUP]
    assert report.restored == 2 and report.failed == []
    assert target.archived == set()  # every course live again
    assert set(_states(config).values()) == {"active"}  # and the store agrees
    (warning,) = [w for w in report.warnings if "interrupted" in w]
    assert "2 course states corrected" in warning
    assert _open_intents(config) == []


def test_a_content_sync_reconciles_a_killed_filter_save(config: Config) -> None:
    target = InterruptingTarget(config.store_url)
    coursera = _catalog()
    clients = _clients(coursera, target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)
    target.kill_after = "archive_courses"
    with pytest.raises(Killed):
        _filters(config, clients, languages=["fr"])
    target.kill_after = None

    # the next content sync: the filters (saved first) archived a and d, the store now says so
    report = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert target.status_reads == [GROUP]
    assert report.archived == 0 and report.unchanged == 2
    assert _states(config) == {
        "Course~a": "archived_filter",
        "Course~b": "active",
        "Course~c": "active",
        "Course~d": "archived_filter",
    }
    assert any("interrupted" in w for w in report.warnings)
    assert _open_intents(config) == []


def test_a_content_sync_killed_after_its_upsert_sends_the_items_again(config: Config) -> None:
    target = InterruptingTarget(config.store_url)
    coursera = _catalog()
    clients = _clients(coursera, target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)

    # Beta renamed on Coursera; the update is applied, the run killed before it stored it
    coursera.contents[1] = content("b", "Beta 2", "fr")
    target.kill_after = "upsert_courses"
    with pytest.raises(Killed):
        run_content_sync(config, clients=clients, clock=lambda: NOW)
    target.kill_after = None
    assert target.sent["upsert_courses"][-1]["name"] == "Beta 2"

    # renamed back before the next run: the stored hash is Beta's, yet 360Learning has Beta 2
    coursera.contents[1] = content("b", "Beta", "fr")
    report = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert target.status_reads == []  # an upsert needs no course status
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert target.sent["upsert_courses"][-1]["name"] == "Beta"
    assert any("1 courses sent again" in w for w in report.warnings)
    assert _open_intents(config) == []

    again = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert (again.updated, again.unchanged) == (0, 4)
    assert not any("interrupted" in w for w in again.warnings)


def test_a_dry_run_records_no_intent_and_reconciles_nothing(config: Config) -> None:
    target = InterruptingTarget(config.store_url)
    clients = _clients(_catalog(), target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)
    target.kill_after = "archive_courses"
    with pytest.raises(Killed):
        _filters(config, clients, languages=["fr"])
    target.kill_after = None
    (left,) = _open_intents(config)

    run_content_sync(config, dry_run=True, clients=clients, clock=lambda: NOW)
    set_filters(config, languages=[], content_types=[], clear=True, dry_run=True, clients=clients)
    assert target.status_reads == []
    assert _open_intents(config) == [left]
    assert set(_states(config).values()) == {"active"}


def test_a_run_stopped_by_an_error_leaves_its_intents_to_the_next_run(config: Config) -> None:
    class Refusing(InterruptingTarget):
        def set_course_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
            raise RuntimeError("connection reset")

    target = Refusing(config.store_url)
    clients = _clients(_catalog(), target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)
    _filters(config, clients, languages=["fr"])
    with pytest.raises(RuntimeError):
        _filters(config, clients, clear=True)
    (left,) = _open_intents(config)
    assert left.action == "restore"
    # the next save asks 360Learning: a and d are still archived there, the store keeps that
    report = _filters(config, clients, languages=["fr"])
    assert target.status_reads == [GROUP]
    assert report.archived == 0
    assert "0 course states corrected" in next(w for w in report.warnings if "interrupted" in w)
    assert _states(config)["Course~a"] == "archived_filter"
    assert _open_intents(config) == []


def test_the_client_reads_the_archived_courses_of_the_group(
    stack: Stack, config_path: Path
) -> None:
    """``ThreeSixtyClient.archived_course_ids`` against the 360Learning simulator."""
    settings = load_config(config_path)
    run_content_sync(settings)
    courses = list(stack.threesixty.courses)
    archived = {c.id for c in courses[:3]}
    for course_id in archived:
        stack.threesixty.set_archived(course_id, {"archived": True})
    client = ThreeSixtyClient(settings.threesixty)
    try:
        assert client.archived_course_ids(settings.threesixty.group_id) == archived
        assert client.archived_course_ids("f" * 24) == set()  # another group's courses only
    finally:
        client.close()

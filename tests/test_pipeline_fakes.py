"""The content and statistics pipelines against fake clients: no HTTP, no simulator.

The fakes are what :mod:`learnsync.model.ports` asks of a source and a target, a few lines per
method; the store is a real SQLite file. What the pipelines decide (created / updated / unchanged,
what is sent, what is skipped) is asserted from what reached the fake target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from learnsync.config import Config, CourseraSettings, SyncSettings, ThreeSixtySettings
from learnsync.errors import ApiError, LearnsyncError, OperationsFailed
from learnsync.model.bulk import BatchFailed, BulkResult, BulkStopped
from learnsync.model.coursera import Content
from learnsync.model.ports import (
    BatchResults,
    BulkKind,
    CourseraApi,
    OnPage,
    ThreeSixtyApi,
)
from learnsync.store import RunRecord, Store
from learnsync.sync.content import run_content_sync
from learnsync.sync.context import Clients
from learnsync.sync.stats import run_stats_sync

R = TypeVar("R")
INTEGRATION_ID = "i" * 24
NOW = datetime(2025, 7, 8, 12, 0, tzinfo=UTC)


class FakeToken:
    def token(self) -> str:
        return "token"


class FakeCoursera:
    def __init__(self, contents: list[dict[str, Any]], reports: list[dict[str, Any]]) -> None:
        self.contents = contents
        self.reports = reports
        self.auth = FakeToken()

    def iter_contents(
        self, program_id: str | None = None, *, on_page: OnPage | None = None
    ) -> Iterator[Content]:
        yield from (Content.model_validate(raw) for raw in self.contents)

    def iter_enrollment_reports(
        self, *, row_factory: Callable[[dict[str, Any]], R], **_options: object
    ) -> Iterator[R]:
        yield from (row_factory(raw) for raw in self.reports)

    def get_organization(self) -> dict[str, Any]:
        return {"id": "org"}

    def close(self) -> None:
        pass


class FakeThreeSixty:
    """Accepts every item; ``sent[kind]`` lists every item of every batch, in order."""

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.integration: dict[str, Any] | None = None
        self.archived: set[str] = set()  # course ids archived "in 360Learning"
        self.status_reads: list[str] = []  # the group of each archived_course_ids call
        self.auth = FakeToken()

    def find_integration(self, name: str, group_id: str) -> dict[str, Any] | None:
        return self.integration

    def ensure_integration(
        self, *, name: str, group_id: str, author_id: str, known_id: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        self.integration = self.integration or {"_id": INTEGRATION_ID, "externalPlatform": name}
        return self.integration, []

    def run_batches(
        self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[BatchResults]:
        assert integration_id == INTEGRATION_ID
        for batch in batches:
            self.sent.setdefault(kind, []).extend(batch)
            if kind == "archive_courses":
                self.archived.update(str(_course_id(item)) for item in batch)
            yield batch, [BulkResult(item, True, resource_id=_course_id(item)) for item in batch]

    def set_course_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
        self.sent.setdefault("set_course_archived", []).append({course_id: archived})
        (self.archived.add if archived else self.archived.discard)(course_id)
        return {}

    def archived_course_ids(self, group_id: str) -> set[str]:
        self.status_reads.append(group_id)
        return set(self.archived)

    def get_group(self, group_id: str) -> dict[str, Any]:
        return {"_id": group_id}

    def get_user(self, user_id: str) -> dict[str, Any]:
        return {"_id": user_id}

    def close(self) -> None:
        pass


def _course_id(item: dict[str, Any]) -> str | None:
    external_id = item.get("externalId")
    return f"course-{external_id}" if isinstance(external_id, str) else None


def content(ident: str, name: str | None = "A course", language: str = "en") -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": f"Course~{ident}",
        "contentId": ident,
        "contentType": "Course",
        "languageCode": language,
        "programs": [{"programId": "p1", "contentUrl": f"https://coursera.test/{ident}"}],
    }
    if name is not None:
        raw["name"] = name
    return raw


def enrollment(ident: str, email: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"{email}~Course~{ident}",
        "contentType": "Course",
        "contentId": ident,
        "email": email,
        "enrolledAt": 1_700_000_000_000,
        "lastActivityAt": 1_700_100_000_000,
        **fields,
    }


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        coursera=CourseraSettings(org_id="org", client_id="c", client_secret="s"),
        threesixty=ThreeSixtySettings(
            client_id="t", client_secret="s", group_id="g" * 24, author_id="a" * 24
        ),
        sync=SyncSettings(archive_removed=True),
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
    )


def _clients(coursera: FakeCoursera, threesixty: FakeThreeSixty) -> Clients:
    # typed: mypy checks that the fakes meet the ports the pipelines use
    source: CourseraApi = coursera
    target: ThreeSixtyApi = threesixty
    return Clients(coursera=source, threesixty=target)


def test_content_pipeline_creates_then_leaves_unchanged_then_updates(config: Config) -> None:
    coursera = FakeCoursera([content("a", "Alpha"), content("b", "Beta"), content("c", None)], [])
    target = FakeThreeSixty()
    clients = _clients(coursera, target)

    first = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert first.skipped == [{"externalId": "Course~c", "reason": "missing_name"}]
    sent = target.sent["upsert_courses"]
    assert [(item["externalId"], item["name"]) for item in sent] == [
        ("Course~a", "Alpha"),
        ("Course~b", "Beta"),
    ]
    assert sent[0]["launchUrl"] == "https://coursera.test/a" and sent[0]["defaultLang"] == "en"

    # the same catalog again: nothing to send
    second = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 2)
    assert len(target.sent["upsert_courses"]) == 2

    # one title changed on Coursera: exactly that course is sent again
    coursera.contents[1] = content("b", "Beta, second edition")
    third = run_content_sync(config, clients=clients, clock=lambda: NOW)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)
    assert target.sent["upsert_courses"][2:] == [
        {**sent[1], "name": "Beta, second edition"},
    ]
    assert "archive_courses" not in target.sent and "set_course_archived" not in target.sent


def test_statistics_pipeline_sends_synchronized_courses_only_and_once(config: Config) -> None:
    coursera = FakeCoursera(
        [content("a", "Alpha")],
        [
            enrollment("a", "Ann@Example.com", isCompleted=True),
            enrollment("a", "bob@example.com", overallProgress=42.5),
            enrollment("z", "ann@example.com"),  # a course never synchronized
        ],
    )
    target = FakeThreeSixty()
    clients = _clients(coursera, target)
    run_content_sync(config, clients=clients, clock=lambda: NOW)

    first = run_stats_sync(config, clients=clients, clock=lambda: NOW)
    assert (first.sent, first.unchanged, first.failed) == (2, 0, [])
    never_synced = {"externalId": "Course~z", "learner": "ann@example.com"}
    assert first.skipped == [{**never_synced, "reason": "course_not_synchronized"}]
    by_learner = {s["userIdentifier"]["value"]: s for s in target.sent["import_stats"]}
    assert sorted(by_learner) == ["ann@example.com", "bob@example.com"]
    assert by_learner["ann@example.com"]["progress"] == 100
    assert by_learner["bob@example.com"]["progress"] == 43  # rounded half up
    assert by_learner["ann@example.com"]["courseIdentifier"] == {
        "type": "externalId",
        "value": "Course~a",
    }
    assert by_learner["ann@example.com"]["firstActivityAt"] == "2023-11-14T22:13:20.000Z"

    # nothing changed on Coursera: nothing is sent again
    second = run_stats_sync(config, clients=clients, clock=lambda: NOW)
    assert (second.sent, second.unchanged) == (0, 2)
    assert len(target.sent["import_stats"]) == 2


class FailingThreeSixty(FakeThreeSixty):
    """The bulk ``kind`` fails: every operation ends in error (``BatchFailed``), or, with
    ``refuse``, 360Learning refuses to take it (``BulkStopped``: the bulk API disabled)."""

    def __init__(self, kind: str, *, refuse: bool = False) -> None:
        super().__init__()
        self.failing, self.refuse = kind, refuse

    def run_batches(
        self, kind: BulkKind, integration_id: str, batches: Iterable[list[dict[str, Any]]]
    ) -> Iterator[BatchResults]:
        if kind != self.failing:
            yield from super().run_batches(kind, integration_id, batches)
            return
        for batch in batches:
            if self.refuse:
                refused = ApiError("the bulk API is disabled", status=503, code="bulkAPIDisabled")
                raise BulkStopped(refused, unknown=[], not_sent=[batch])
            raise BatchFailed(
                "the bulk operation op-1 ended in error",
                batch=batch,
                in_flight=[],
                operation={"status": "error"},
                operation_url="/api/v2/bulk/operations/op-1",
            )


def test_a_bulk_operation_that_fails_as_a_whole_exits_1_once_the_run_is_done(
    config: Config,
) -> None:
    """docs/contract.md#exit-status: the run goes on, records the run ``partial`` with the reason
    and carries its report (written by the CLI); a per-item rejection alone exits 0."""
    coursera = FakeCoursera([content("a", "Alpha"), content("b", "Beta")], [])
    with pytest.raises(OperationsFailed) as info:
        run_content_sync(config, clients=_clients(coursera, FailingThreeSixty("upsert_courses")))
    report = info.value.report
    assert info.value.exit_code == 1 and report.in_failed_operations == 2
    assert {f["externalId"] for f in report.failed} == {"Course~a", "Course~b"}
    assert info.value.message.startswith("2 courses were not written")
    (run,) = _runs(config)
    assert (run.status, run.error) == ("partial", info.value.message)

    # the statistics of a synchronized course, whose import operation fails as a whole
    coursera = FakeCoursera([content("a", "Alpha")], [enrollment("a", "ann@example.com")])
    run_content_sync(config, clients=_clients(coursera, FakeThreeSixty()))
    with pytest.raises(OperationsFailed, match="1 statistics were not written"):
        run_stats_sync(config, clients=_clients(coursera, FailingThreeSixty("import_stats")))
    assert _runs(config)[0].status == "partial"


def test_a_statistics_import_that_360learning_refuses_stops_the_run_with_exit_1(
    config: Config,
) -> None:
    coursera = FakeCoursera([content("a", "Alpha")], [enrollment("a", "ann@example.com")])
    run_content_sync(config, clients=_clients(coursera, FakeThreeSixty()))
    refusing = FailingThreeSixty("import_stats", refuse=True)
    with pytest.raises(LearnsyncError) as info:
        run_stats_sync(config, clients=_clients(coursera, refusing))
    assert not isinstance(info.value, OperationsFailed)  # stopped: no report is written
    assert info.value.exit_code == 1
    assert info.value.message.startswith("the statistics import stopped: the bulk API is disabled")
    run = _runs(config)[0]
    assert (run.kind, run.status, run.error) == ("stats", "failed", info.value.message)
    # the next run, 360Learning taking imports again, sends what was not sent
    again = run_stats_sync(config, clients=_clients(coursera, FakeThreeSixty()))
    assert (again.sent, again.failed) == (1, [])


def _runs(config: Config) -> list[RunRecord]:
    with Store.open(config.store_url) as store:
        record = store.get_integration(config.integration_key)
        assert record is not None
        return store.list_runs(record.id, limit=10)

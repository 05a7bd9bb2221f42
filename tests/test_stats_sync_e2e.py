"""End to end: ``run_stats_sync`` against both simulators on loopback, with a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from learnsync.config import Config, load_config
from learnsync.errors import LearnsyncError
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.store.jobs import RunJobs
from learnsync.store.repository import Store
from learnsync.sync.content import run_content_sync
from learnsync.sync.stats import run_stats_sync
from learnsync.sync.unmatched import unmatched_learners, write_csv
from stats_support import STATS_WORLD, stored_runs, sync_stats


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(STATS_WORLD) as running:
        yield running


def test_first_sync_sends_everything_then_nothing(config: Config, stack: Stack) -> None:
    run_content_sync(config)
    first, requests = sync_stats(config)
    assert first.sent > 100 and requests == 1
    assert first.failed, "the world has learners 360Learning does not know"
    assert all("userNotFound" in f["error"] and f["learner"] for f in first.failed)
    reasons = {s["reason"] for s in first.skipped}
    assert reasons <= {"course_not_synchronized", "no_learner_email", "missing_content_id"}
    keys = [(s["externalId"], s["learner"]) for s in first.skipped]
    assert len(keys) == len(set(keys)), "skips are reported once per (course, learner)"
    stored = stored_runs(config)[0]
    assert stored.kind == "stats" and stored.status == "partial"  # items failed
    assert stored.report["read"]["mode"] == "full"

    # second run: nothing changed; only the rejected items are sent again, each from its stored
    # values, by an incremental read: a rejected item does not force a full read
    # (docs/stats.md#which-items-are-sent)
    second, requests = sync_stats(config)
    assert second.sent == 0
    assert 0 < second.unchanged <= first.sent  # the recent rows' items
    assert requests == 1
    assert sorted((f["externalId"], f["learner"]) for f in second.failed) == sorted(
        (f["externalId"], f["learner"]) for f in first.failed
    )
    assert stored_runs(config)[0].report["read"]["mode"] == "incremental"

    # the unknown learners are listed by the report command (store only)
    rows = unmatched_learners(config)
    unknown = {r.learner for r in rows if r.reason == "unknown_learner"}
    assert unknown == {f["learner"] for f in first.failed}
    assert write_csv(rows, config.path.parent / "u.csv") == len(rows)  # type: ignore[union-attr]


def test_one_changed_row_sends_exactly_one_item(config: Config, stack: Stack) -> None:
    run_content_sync(config)
    first, _ = sync_stats(config)
    target = _a_sent_pair(stack, first)
    stack.coursera.report.upsert(
        content_id=target["contentId"],
        content_type=target["contentType"],
        learner=target["learner"],
        fields={"overallProgress": 99, "isCompleted": False},
        now_ms=stack.coursera.clock.now_ms(),
    )
    again, _ = sync_stats(config)
    assert again.sent == 1
    # an incremental read (the rejected items are retried on their own): the other recent items
    assert again.unchanged < first.sent
    assert stored_runs(config)[0].report["read"]["mode"] == "incremental"
    # progress never goes backwards: complete it, then report it not completed again
    for completed in (True, False):
        stack.coursera.report.upsert(
            content_id=target["contentId"],
            content_type=target["contentType"],
            learner=target["learner"],
            fields={"isCompleted": completed, "overallProgress": 100 if completed else 10},
            now_ms=stack.coursera.clock.now_ms(),
        )
        report, _ = sync_stats(config)
        assert report.sent == (1 if completed else 0)


def _a_sent_pair(stack: Stack, report: Any) -> dict[str, str]:
    """A learner/course of the generated report whose learner is a plain e-mail externalId."""
    failed = {f["learner"] for f in report.failed}
    for row in _rows(stack):
        ext = row.get("externalId") or ""
        if "@" in ext and ext not in failed and row.get("contentType") == "Course":
            return {
                "contentId": row["contentId"],
                "contentType": row["contentType"],
                "learner": ext,
            }
    raise AssertionError("no usable row")


def _rows(stack: Stack) -> list[dict[str, Any]]:
    from learnsync.clients.coursera.client import CourseraClient
    from learnsync.config import CourseraSettings

    w = stack.world
    settings = CourseraSettings(
        org_id=w.coursera_org_id,
        client_id=w.coursera_client_id,
        client_secret=w.coursera_client_secret,
        refresh_token=w.coursera_refresh_token,
        api_base=f"{stack.coursera_url}/api",
        token_url=f"{stack.coursera_url}/oauth2/v1/token",
    )
    with CourseraClient(settings) as clients:
        return [
            {"externalId": r.external_id, "contentId": r.content_id, "contentType": r.content_type}
            for r in clients.iter_enrollment_reports(page_size=200)
        ][:200]


def test_dry_run_writes_nothing(config: Config, stack: Stack, tmp_path: Path) -> None:
    run_content_sync(config)
    report, requests = sync_stats(config, dry_run=True)
    assert report.dry_run and report.sent > 100 and requests == 0
    assert not report.failed
    assert [r.kind for r in stored_runs(config)] == ["content"]
    real, requests = sync_stats(config)
    assert requests == 1 and real.sent + len(real.failed) == report.sent


def test_dry_run_without_store_creates_none(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "dry.toml"
    path.write_text(stack.config_toml(f"sqlite:///{tmp_path / 'none.db'}"), encoding="utf-8")
    report, requests = sync_stats(load_config(path), dry_run=True)
    assert requests == 0 and report.sent == 0
    assert {s["reason"] for s in report.skipped} <= {
        "course_not_synchronized",
        "missing_content_id",
    }
    assert not (tmp_path / "none.db").exists()


def test_waits_in_the_queue_for_a_running_content_run(config: Config) -> None:
    run_content_sync(config)
    with Store.open(config.store_url) as store:
        record = store.get_integration(config.integration_key)
        assert record is not None
        jobs = RunJobs(store.engine)
        going = jobs.submit(record.id, "content", "manual")
        jobs.start(going, "another-host:1:a")  # a content run of another process holds the lease
        slept: list[float] = []
        now = [0.0]

        def sleep(seconds: float) -> None:
            slept.append(seconds)
            now[0] += seconds
            if len(slept) == 3:
                jobs.end(going, "another-host:1:a", "succeeded")

        report = run_stats_sync(
            config, sleep=sleep, monotonic=lambda: now[0], wait_timeout=600, poll_interval=10
        )
        assert slept == [10, 10, 10] and report.sent > 0
        (stats,) = [r for r in store.list_runs(record.id) if r.kind == "stats"]
        assert stats.status == "partial"  # it ran: some learners are unknown to 360Learning

        going = jobs.submit(record.id, "content", "manual")
        jobs.start(going, "another-host:1:a")
        with pytest.raises(LearnsyncError, match="is still going after 1 minutes of waiting"):
            run_stats_sync(
                config,
                sleep=lambda s: now.__setitem__(0, now[0] + s),
                monotonic=lambda: now[0],
                wait_timeout=60,
                poll_interval=10,
            )
        refused = store.list_runs(record.id)[0]
        assert (refused.kind, refused.status) == ("stats", "cancelled")

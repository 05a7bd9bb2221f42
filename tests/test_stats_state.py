"""Explicit statistics state (issue 9): bookmarks in ``sync_state``, real ``stat_items`` columns,
rejected items retried on their own, incremental runs that cost what they read, audit rows only
on a change of state, and dates written ahead of the send (docs/stats.md)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from learnsync.config import Config
from learnsync.diff.stats import HASH_FORMAT
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.store.repository import Store
from learnsync.sync.content import run_content_sync
from stats_support import STATS_WORLD, integration_id, stored_runs, sync_stats


@pytest.fixture
def stack() -> Iterator[Stack]:
    """Both simulators, fresh for each test; some learners unknown to 360Learning."""
    with running_stack(STATS_WORLD) as running:
        yield running


def _sync(config: Config, **kwargs: Any) -> tuple[Any, int, dict[str, Any]]:
    """(report, import requests, the stored run's read section)."""
    report, requests = sync_stats(config, **kwargs)
    read = stored_runs(config, limit=1)[0].report.get("read") or {}
    return report, requests, read


def test_the_read_is_decided_by_the_bookmarks_not_by_run_reports(config: Config) -> None:
    run_content_sync(config)
    _first, _, read = _sync(config)
    assert read["mode"] == "full"
    with Store.open(config.store_url) as store:
        iid = integration_id(store, config)
        mark = store.get_sync_state(iid, "stats")
        assert mark is not None and mark.run_id is not None
        run = store.get_run(mark.run_id)
        assert run is not None
        assert mark.last_read_at == mark.watermark == mark.last_full_read_at == run.started_at
        assert mark.format_version == HASH_FORMAT
        content = store.get_sync_state(iid, "content")
        assert content is not None and content.watermark is not None  # courses were created
        assert mark.last_read_at is not None and content.watermark < mark.last_read_at
        # forget every run report and audit row: the next run does not need them
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET report = NULL"))
            conn.execute(text("DELETE FROM run_items"))
    _second, _, read = _sync(config)
    assert read["mode"] == "incremental", read


def test_content_created_since_the_last_stats_run_makes_the_next_read_full(
    config: Config,
) -> None:
    run_content_sync(config)
    _sync(config)
    with Store.open(config.store_url) as store:
        iid = integration_id(store, config)
        run_id = store.start_run(iid, "content", False)
        store.note_content_change(iid, run_id)  # what a content run that created a course writes
        store.finish_run(run_id, "succeeded", {})
    _report, _, read = _sync(config)
    assert read["mode"] == "full" and read["reason"].startswith("content synchronized"), read
    _report, _, read = _sync(config)
    assert read["mode"] == "incremental"


def test_rejected_items_are_retried_on_their_own_by_an_incremental_read(config: Config) -> None:
    run_content_sync(config)
    first, _, _ = _sync(config)
    assert first.failed, "the world has learners 360Learning does not know"
    with Store.open(config.store_url) as store:
        failed = list(store.iter_open_stat_items(integration_id(store, config), "failed"))
    assert sorted((s.external_id, s.learner) for s in failed) == sorted(
        (f["externalId"], f["learner"]) for f in first.failed
    )
    assert all(s.retry_item and s.sent_hash is None and s.first_seen_at for s in failed)
    second, requests, read = _sync(config)
    assert read["mode"] == "incremental" and requests == 1
    assert second.sent == 0 and len(second.failed) == len(first.failed)
    # their state did not change: no new audit row
    with Store.open(config.store_url) as store:
        iid = integration_id(store, config)
        last = store.list_runs(iid, limit=1)[0]
        assert [i for i in store.list_run_items(last.id) if i.action == "failed"] == []


def test_an_incremental_run_looks_up_only_the_pairs_it_read(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_content_sync(config)
    first, _, _ = _sync(config)
    asked: list[tuple[str, str]] = []
    lookup = Store.lookup_stat_items

    def no_full_copy(self: Store, integration_id: int) -> Any:
        raise AssertionError("an incremental run copied every stored state")

    def counting(self: Store, integration_id: int, pairs: Any) -> Any:
        pairs = list(pairs)
        asked.extend(pairs)
        return lookup(self, integration_id, pairs)

    monkeypatch.setattr(Store, "iter_stat_items", no_full_copy)
    monkeypatch.setattr(Store, "lookup_stat_items", counting)
    second, _, read = _sync(config)
    assert read["mode"] == "incremental"
    assert second.sent == 0
    assert 0 < len(asked) == len(set(asked)) < first.sent + len(first.failed) + len(first.skipped)
    assert len(asked) == second.unchanged + len(second.failed) + len(second.skipped)


def test_skips_get_an_audit_row_only_when_the_pair_state_changes(config: Config) -> None:
    # no content synchronized yet: every row of synchronizable content is skipped
    first, _, _ = _sync(config)
    assert any(s["reason"] == "course_not_synchronized" for s in first.skipped)
    with Store.open(config.store_url) as store:
        iid = integration_id(store, config)
        runs = store.list_runs(iid)
        assert len([i for i in store.list_run_items(runs[0].id) if i.action == "skipped"]) == len(
            first.skipped
        )
    again, _, read = _sync(config, force_full=True)
    assert read["mode"] == "full" and len(again.skipped) == len(first.skipped)
    with Store.open(config.store_url) as store:
        assert store.list_run_items(store.list_runs(iid, limit=1)[0].id) == []
    # the content gets synchronized: its pairs are sent and their skips are gone
    run_content_sync(config)
    third, _, read = _sync(config)
    assert read["mode"] == "full" and third.sent > 0
    with Store.open(config.store_url) as store:
        skipped = {
            (s.external_id, s.learner): s.last_error
            for s in store.iter_open_stat_items(iid, "skipped")
        }
    still = {(s["externalId"], s["learner"]): s["reason"] for s in third.skipped}
    assert skipped == still


@pytest.mark.parametrize("rejected", [False, True], ids=["all-accepted", "with-rejections"])
def test_an_upgraded_store_converts_the_packed_hashes_and_derives_the_bookmarks(
    url: str, rejected: bool
) -> None:
    from datetime import UTC, datetime

    from alembic import command
    from sqlalchemy import JSON, Boolean, DateTime, Integer, MetaData, Table

    from learnsync.store.db import alembic_config, create_store_engine

    day = [datetime(2026, 1, d, tzinfo=UTC) for d in range(1, 5)]
    rank = (1 << 39) | (100 << 32) | 1_700_000_000
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
            tables = MetaData()
            found = {
                name: Table(name, tables, autoload_with=conn)
                for name in ("integrations", "stat_items", "runs", "run_items")
            }
            # an integration row, whatever columns revision 0004 requires
            values: dict[str, Any] = {"id": 1, "key": "k"}
            for column in found["integrations"].columns:
                if column.name in values or column.nullable:
                    continue
                kind = column.type
                values[column.name] = (
                    day[0]
                    if isinstance(kind, DateTime)
                    else False
                    if isinstance(kind, Boolean)
                    else 0
                    if isinstance(kind, Integer)
                    else []
                    if isinstance(kind, JSON)
                    else ""
                )
            conn.execute(found["integrations"].insert().values(values))
            conn.execute(
                found["stat_items"]
                .insert()
                .values(
                    integration_id=1,
                    external_id="C~1",
                    learner="a@b.c",
                    sent_hash=(rank << 23) | 12345,
                    sent_completed=True,
                    state="sent",
                    first_seen_at=day[0],
                    updated_at=day[0],
                )
            )
            runs = found["runs"]
            for run_id, kind_, moment, mode in (
                (1, "stats", day[0], "full"),
                (2, "stats", day[1], "incremental"),
                (3, "content", day[2], None),
            ):
                failed = [{"externalId": "C~2", "learner": "x@b.c", "error": "no user"}]
                report = {
                    "sent": 1,
                    "failed": failed if rejected and run_id == 2 else [],
                    "read": {"mode": mode, "complete": True, "hashFormat": "rank40-hash23"},
                }
                conn.execute(
                    runs.insert().values(
                        id=run_id,
                        integration_id=1,
                        kind=kind_,
                        dry_run=False,
                        status="succeeded",
                        started_at=moment,
                        report=report if mode else {},
                    )
                )
            conn.execute(
                found["run_items"].insert().values(run_id=3, external_id="C~9", action="created")
            )
    finally:
        engine.dispose()
    with Store.open(url) as store:
        (item,) = store.lookup_stat_items(1, [("C~1", "a@b.c")])
        assert (item.sent_rank, item.sent_hash) == (rank, 12345)
        mark = store.get_sync_state(1, "stats")
        assert mark is not None
        assert (mark.last_read_at, mark.last_full_read_at, mark.run_id) == (day[1], day[0], 2)
        # the next run is incremental; with rejected items of old runs (no stored values) full
        assert mark.watermark == (None if rejected else day[1])
        assert mark.format_version == HASH_FORMAT
        content = store.get_sync_state(1, "content")
        assert content is not None and content.watermark == day[2]  # the course created since


def test_a_run_killed_mid_send_and_run_again_duplicates_no_attempt(
    stack: Stack, config: Config
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from learnsync.sandbox.faults import Fault

    run_content_sync(config)
    with Store.open(config.store_url) as store:
        items = store.load_content_items(integration_id(store, config))
    courses = sorted(ext for ext, item in items.items() if item.course_id)[:6]
    learners = [
        STATS_WORLD.learner_email(n)
        for n in range(STATS_WORLD.learners)
        if STATS_WORLD.learner_known_to_360(n)
    ][:4]
    # rows without enrolledAt nor lastActivityAt: their firstActivityAt is "first seen by learnsync"
    for course in courses:
        content_type, content_id = course.split("~", 1)
        for learner in learners:
            stack.coursera.report.upsert(
                content_id=content_id,
                content_type=content_type,
                learner=learner,
                fields={"enrolledAt": None, "lastActivityAt": None, "overallProgress": 30},
                now_ms=stack.coursera.clock.now_ms(),
            )
    # 360Learning applies the import, then its answer never comes: the run is killed waiting
    stack.threesixty.faults.add(Fault(path="bulk/operations", kind="slow", delay=60, times=-1))
    assert config.path is not None
    child = subprocess.Popen(
        [sys.executable, "-m", "learnsync", "sync", "stats", "--config", str(config.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while stack.threesixty.stats_applied == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.threesixty.stats_applied > 0, "the import was not applied"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    stack.threesixty.faults.clear()
    with Store.open(config.store_url) as store:
        iid = integration_id(store, config)
        (killed,) = [r for r in store.list_runs(iid) if r.kind == "stats"]
        assert killed.status == "running"
        store.finish_run(killed.id, "failed", {}, error="killed")  # what the 6 h staleness does
    time.sleep(0.05)  # another moment: a date taken again would differ
    again, _, _ = _sync(config)
    pairs = Counter((a.course, a.user) for a in stack.threesixty.attempts.ordered)
    assert pairs and max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    assert len(pairs) == again.sent  # exactly the attempts of one clean run


def test_the_store_looks_up_stat_items_by_key(url: str) -> None:
    from datetime import UTC, datetime

    from learnsync.store.repository import StatItemState, SyncStateRecord

    seen = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    with Store.open(url) as store:
        iid = store.get_or_create_integration("k").id
        store.save_stat_items(
            iid,
            [
                StatItemState(f"C~{i}", f"l{j}@x.com", "sent", i * j, False, seen, sent_rank=i)
                for i in range(30)
                for j in range(40)
            ]
            + [
                StatItemState(
                    "C~x",
                    "a@x.com",
                    "failed",
                    None,
                    False,
                    seen,
                    None,
                    "no user",
                    retry_item="0|1|2|3|4",
                )
            ],
        )
        wanted = [(f"C~{i}", f"l{j}@x.com") for i in range(0, 30, 3) for j in range(0, 40, 7)]
        found = list(
            store.lookup_stat_items(iid, [*wanted, ("C~1", "nobody@x.com"), ("C~x", "a@x.com")])
        )
        assert sorted((s.external_id, s.learner) for s in found) == sorted(
            [*wanted, ("C~x", "a@x.com")]
        )
        one = next(s for s in found if s.external_id == "C~3" and s.learner == "l7@x.com")
        assert (one.sent_hash, one.sent_rank, one.first_seen_at) == (21, 3, seen)
        (failed,) = store.iter_open_stat_items(iid, "failed")
        assert (failed.retry_item, failed.last_error) == ("0|1|2|3|4", "no user")
        assert list(store.iter_open_stat_items(iid, "skipped")) == []
        store.save_sync_state(iid, SyncStateRecord("stats", seen, seen, None, "v", 7))
        mark = store.get_sync_state(iid, "stats")
        assert mark is not None and (mark.watermark, mark.format_version, mark.run_id) == (
            seen,
            "v",
            7,
        )


def test_a_full_read_stops_retrying_rejected_items_whose_rows_left_the_report(url: str) -> None:
    from datetime import UTC, datetime

    from learnsync.diff.stats import Compact, to_ms
    from learnsync.store.repository import StatItemState
    from learnsync.sync.staging import Staging

    seen = datetime(2026, 1, 2, tzinfo=UTC)
    with Store.open(url) as store:
        iid = store.get_or_create_integration("k").id
        for i in range(3):
            store.save_stat_items(
                iid,
                [
                    StatItemState(
                        f"C~{i}",
                        "a@x.com",
                        "failed",
                        None,
                        False,
                        seen,
                        None,
                        "no user",
                        retry_item=f"0|10|1|{i}|{i}",
                    )
                ],
            )
        with Staging.create() as staging:
            staging.load_states(store.iter_stat_items(iid), to_ms)
            staging.add(Compact("C~1", "a@x.com", False, 10, 1, 5, 5))  # still in the report
            staging.add_skip("C~2", "a@x.com", "course_not_synchronized")
            stale = staging.stale_retries()
        assert stale == [("C~0", "a@x.com"), ("C~2", "a@x.com")]
        store.clear_stat_retries(iid, stale)
        left = {s.external_id: s.retry_item for s in store.iter_open_stat_items(iid, "failed")}
        assert left == {"C~0": None, "C~1": "0|10|1|1|1", "C~2": None}

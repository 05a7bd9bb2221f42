"""Bounded run history (issue 9): summary columns, bounded stored reports, audit rows only on a
change, retention, and the 0006 backfill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from e2e_support import expected_catalog, run_cli
from learnsync.errors import ConfigError
from learnsync.sandbox.stack import Stack
from learnsync.store import Store, history
from learnsync.store import repository as repository_module
from learnsync.store.db import alembic_config, create_store_engine
from learnsync.store.records import RunItem
from learnsync.sync.context import RETENTION_ENV, retention_from_env

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def _content_report(skipped: int, failed: int = 0, warnings: int = 0) -> dict[str, Any]:
    return {
        "kind": "content",
        "dry_run": False,
        "created": 4,
        "updated": 3,
        "unchanged": 2,
        "archived": 1,
        "restored": 0,
        "skipped": [
            {"externalId": f"Course~s{i}", "reason": "missing_name"} for i in range(skipped)
        ],
        "failed": [{"externalId": f"Course~f{i}", "error": "HTTP 500"} for i in range(failed)],
        "warnings": [f"warning {i}" for i in range(warnings)],
    }


# ---------------------------------------------------------------------- summary + bounded report


def test_finish_run_fills_the_summary_columns_and_bounds_the_stored_report(url: str) -> None:
    with Store.open(url, clock=Clock()) as store:
        iid = store.get_or_create_integration("k").id
        run = store.start_run(iid, "content", False)
        store.finish_run(run, "succeeded", _content_report(skipped=250, failed=3, warnings=2))
        stats = store.start_run(iid, "stats", False)
        store.finish_run(
            stats,
            "succeeded",
            {
                "kind": "stats",
                "dry_run": False,
                "sent": 7,
                "unchanged": 1,
                "skipped": [],
                "failed": [],
                "warnings": [],
                "read": {"mode": "full"},
            },
        )
        failed = store.start_run(iid, "content", False)
        store.finish_run(failed, "failed", {}, error="refused")

        stored = store.get_run(run)
        assert stored is not None
        assert len(stored.report["skipped"]) == history.REPORT_SAMPLE
        assert stored.report["skipped"][0] == {"externalId": "Course~s0", "reason": "missing_name"}
        assert len(stored.report["failed"]) == 3
        assert stored.report["totals"] == {"skipped": 250, "failed": 3, "warnings": 2}
        assert (stored.report["created"], stored.report["kind"]) == (4, "content")
        assert (stored.skipped_count, stored.failed_count, stored.warnings_count) == (250, 3, 2)
        assert (stored.created_count, stored.updated_count, stored.unchanged_count) == (4, 3, 2)
        assert (stored.archived_count, stored.restored_count, stored.sent_count) == (1, 0, None)

        by_id = {r.id: r for r in store.list_runs(iid, with_report=False)}
        assert all(r.report == {} for r in by_id.values())
        assert by_id[run].skipped_count == 250
        assert (by_id[stats].sent_count, by_id[stats].created_count) == (7, None)
        assert by_id[stats].skipped_count == 0
        assert by_id[failed].failed_count is None and by_id[failed].status == "failed"
        # the statistics pipeline's own key survives
        assert store.list_runs(iid)[1].report["read"] == {"mode": "full"}


def test_bounding_keeps_totals_and_is_idempotent() -> None:
    full = _content_report(skipped=5, failed=1)
    once = history.bound_report(full, 2)
    assert once["skipped"] == full["skipped"][:2]
    assert once["totals"] == {"skipped": 5, "failed": 1, "warnings": 0}
    assert history.bound_report(once, 2) == once
    assert history.summary_counts(once)["skipped_count"] == 5
    assert history.bound_report({}) == {} and history.summary_counts({})["failed_count"] is None


# ---------------------------------------------------------------------- end to end (CLI)


def _store_of(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path / 'store.db'}")


def _runs(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        iid = conn.execute(sa.text("SELECT id FROM integrations")).scalar_one()
    return store.list_runs(iid)


def test_the_stored_report_is_bounded_the_report_file_is_complete(
    stack: Stack, config_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "REPORT_SAMPLE", 1)
    skipped = expected_catalog(stack)[1]
    assert len(skipped) > 1
    result = run_cli("sync", "content", "--config", config_path, report=tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert result.report is not None
    # the file: exactly the contract's keys, every skip
    assert set(result.report) == {
        "kind",
        "dry_run",
        "created",
        "updated",
        "unchanged",
        "archived",
        "restored",
        "skipped",
        "failed",
        "warnings",
    }
    assert {s["externalId"] for s in result.report["skipped"]} == set(skipped)
    with _store_of(tmp_path) as store:
        (run,) = _runs(store)
    assert run.report["skipped"] == result.report["skipped"][:1]
    assert run.report["totals"]["skipped"] == len(skipped) == run.skipped_count
    assert run.created_count == result.report["created"] > 0


def test_an_unchanged_rerun_writes_no_audit_row_a_changed_skip_does(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    def sync() -> dict[str, Any]:
        result = run_cli("sync", "content", "--config", config_path, report=tmp_path / "r.json")
        assert result.exit_code == 0, result.stderr
        assert result.report is not None
        return result.report

    mapped, skipped = expected_catalog(stack)
    first = sync()
    with _store_of(tmp_path) as store:
        first_run = _runs(store)[0]
        first_items = store.list_run_items(first_run.id)
    assert {i.external_id for i in first_items if i.action == "skipped"} == set(skipped)
    assert sum(i.action == "created" for i in first_items) == first["created"] > 0

    second = sync()
    assert len(second["skipped"]) == len(skipped)  # the report still lists every skip
    with _store_of(tmp_path) as store:
        second_run = _runs(store)[0]
        assert second_run.id != first_run.id
        assert store.list_run_items(second_run.id) == []
    assert second_run.skipped_count == len(skipped)

    # a live course now skipped, and a skip whose reason changes: one audit row each
    newly_skipped = next(iter(mapped))
    reason_changed = next(e for e, s in skipped.items() if s.reason != "missing_name")
    stack.coursera.patch_content(newly_skipped, {"name": ""})
    stack.coursera.patch_content(reason_changed, {"name": ""})
    sync()
    with _store_of(tmp_path) as store:
        third = store.list_run_items(_runs(store)[0].id)
    assert {(i.external_id, i.action, i.detail) for i in third if i.action == "skipped"} == {
        (newly_skipped, "skipped", "missing_name"),
        (reason_changed, "skipped", "missing_name"),
    }


# ---------------------------------------------------------------------- retention


def _finished(store: Store, iid: int, kind: str, clock: Clock, items: int = 3) -> int:
    run = store.start_run(iid, kind, False)
    store.add_run_items(run, [RunItem(f"Course~{run}-{i}", "skipped") for i in range(items)])
    clock.advance(minutes=5)
    store.finish_run(run, "succeeded", {"kind": kind, "skipped": []})
    return run


def _item_counts(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id, count(*) FROM run_items GROUP BY run_id"))
        return {int(r): int(n) for r, n in rows}


def test_old_runs_are_pruned_when_a_run_finishes_never_the_newest_of_a_kind(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository_module, "PRUNE_RUNS_BATCH", 2)  # several batches
    monkeypatch.setattr(repository_module, "PRUNE_ITEMS_BATCH", 2)
    clock = Clock()
    with Store.open(url, clock=clock, retention=timedelta(days=180)) as store:
        iid = store.get_or_create_integration("k").id
        other = store.get_or_create_integration("other").id
        old_content = [_finished(store, iid, "content", clock) for _ in range(5)]
        old_stats = _finished(store, iid, "stats", clock)
        crashed = store.start_run(iid, "filters", False)  # still "running": never pruned
        old_filters = _finished(store, iid, "filters", clock)
        other_run = _finished(store, other, "content", clock)
        clock.advance(days=100)
        recent = _finished(store, iid, "content", clock)
        assert len(store.list_runs(iid)) == 9  # nothing older than 180 days yet

        clock.advance(days=90)  # the first runs are now 190 days old
        dry = store.start_run(iid, "content", True)
        store.finish_run(dry, "succeeded", {})
        assert len(store.list_runs(iid)) == 10  # a dry run prunes nothing

        newest = _finished(store, iid, "content", clock)
        kept = {r.id for r in store.list_runs(iid)}
        assert kept == {recent, dry, newest, old_stats, crashed, old_filters}
        assert not kept & set(old_content)
        items = _item_counts(store)
        assert not set(items) & set(old_content)
        assert items[old_stats] == items[recent] == 3
        assert {r.id for r in store.list_runs(other)} == {other_run}  # per integration


def test_pruning_is_bounded_per_call_and_resumes(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repository_module, "PRUNE_ITEMS_BATCH", 4)
    clock = Clock()
    with Store.open(url, clock=clock) as store:  # no retention: finish_run never prunes
        iid = store.get_or_create_integration("k").id
        old = [_finished(store, iid, "content", clock, items=5) for _ in range(3)]
        clock.advance(days=400)
        _finished(store, iid, "content", clock)
        assert len(store.list_runs(iid)) == 4
        cutoff = clock() - timedelta(days=180)
        assert store.prune_runs(iid, cutoff, max_items=6) == 0  # 6 of the 15 audit rows
        assert sum(_item_counts(store).get(r, 0) for r in old) == 9
        assert store.prune_runs(iid, cutoff, max_items=100) == 3
        assert {r.id for r in store.list_runs(iid)}.isdisjoint(old)


def test_a_run_holding_a_lease_is_not_pruned(url: str) -> None:
    clock = Clock()
    with Store.open(url, clock=clock) as store:
        iid = store.get_or_create_integration("k").id
        leased, old = (_finished(store, iid, "content", clock) for _ in range(2))
        with store.engine.begin() as conn:  # a lease its process never released
            conn.execute(
                sa.text(
                    "INSERT INTO leases (integration_id, run_id, owner, acquired_at, expires_at) "
                    "VALUES (:i, :r, 'host:1:x', :t, :t)"
                ),
                {"i": iid, "r": leased, "t": T0.replace(tzinfo=None)},
            )
        clock.advance(days=400)
        newest = _finished(store, iid, "content", clock)
        assert store.prune_runs(iid, clock() - timedelta(days=180)) == 1
        assert {r.id for r in store.list_runs(iid)} == {leased, newest}
        assert old not in _item_counts(store)


@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", "99999999"])
def test_a_bad_retention_is_one_clear_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match=RETENTION_ENV):
        retention_from_env({RETENTION_ENV: value})


def test_the_retention_default_and_override() -> None:
    assert retention_from_env({}) == timedelta(days=180)
    assert retention_from_env({RETENTION_ENV: " 30 "}) == timedelta(days=30)


def test_the_cli_refuses_a_bad_retention_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
        '[coursera]\norg_id = "o"\nclient_id = "c"\nclient_secret = "s"\nrefresh_token = "r"\n'
        '[threesixty]\nclient_id = "c"\nclient_secret = "s"\n'
        f'group_id = "{"a" * 24}"\nauthor_id = "{"b" * 24}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(RETENTION_ENV, "six months")
    result = run_cli("sync", "content", "--config", config)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and RETENTION_ENV in lines[0], result.stderr
    assert not (tmp_path / "s.db").exists()


# ---------------------------------------------------------------------- migration 0006


def _insert(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> int:
    """Insert with every other NOT NULL column given a neutral value (robust to other
    revisions' columns)."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        if column.primary_key and column.autoincrement is not False:
            continue
        try:
            kind: type = column.type.python_type
        except NotImplementedError:
            kind = str
        row[column.name] = {bool: False, int: 0, datetime: T0, list: [], dict: {}}.get(kind, "")
    result = conn.execute(table.insert().values(**row))
    return int(result.inserted_primary_key[0])


@pytest.fixture
def at_0005(url: str) -> Iterator[sa.Engine]:
    engine = create_store_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005")
    yield engine
    engine.dispose()


def test_0006_backfills_the_summary_columns_and_bounds_old_reports(
    url: str, at_0005: sa.Engine
) -> None:
    meta = sa.MetaData()
    integrations = sa.Table("integrations", meta, autoload_with=at_0005)
    runs = sa.Table("runs", meta, autoload_with=at_0005)
    big = _content_report(skipped=150, failed=2, warnings=1)
    stats = {
        "kind": "stats",
        "dry_run": False,
        "sent": 9,
        "unchanged": 0,
        "skipped": [],
        "failed": [{"externalId": "Course~a", "learner": "a@x.org", "error": "e"}],
        "warnings": [],
        "read": {"mode": "incremental", "complete": True},
    }
    with at_0005.begin() as conn:
        iid = _insert(conn, integrations, {"key": "k", "created_at": T0, "updated_at": T0})
        common = {"integration_id": iid, "dry_run": False, "started_at": T0, "finished_at": T0}
        ids = {
            name: _insert(conn, runs, {**common, "kind": kind, "status": status, "report": report})
            for name, kind, status, report in (
                ("big", "content", "succeeded", big),
                ("stats", "stats", "succeeded", stats),
                ("empty", "content", "failed", {}),
                ("none", "content", "running", None),
            )
        }
    with Store.open(url) as store:
        got = {name: store.get_run(run_id) for name, run_id in ids.items()}
    b, s, e, n = (got[k] for k in ("big", "stats", "empty", "none"))
    assert b is not None and s is not None and e is not None and n is not None
    assert (b.created_count, b.updated_count, b.archived_count, b.sent_count) == (4, 3, 1, None)
    assert (b.skipped_count, b.failed_count, b.warnings_count) == (150, 2, 1)
    assert b.report["skipped"] == big["skipped"][:100]
    assert b.report["totals"] == {"skipped": 150, "failed": 2, "warnings": 1}
    assert (s.sent_count, s.failed_count, s.created_count) == (9, 1, None)
    assert s.report["read"] == stats["read"] and s.report["failed"] == stats["failed"]
    assert (e.report, e.created_count, e.skipped_count) == ({}, None, None)
    assert (n.report, n.failed_count) == ({}, None)
    json.dumps(b.report)  # still plain JSON


def test_0006_upgrades_a_store_with_audit_rows_in_place(url: str, at_0005: sa.Engine) -> None:
    """0006 only adds columns (no batch recreate of ``runs``, which SQLite refuses while
    ``run_items`` rows refer to it)."""
    meta = sa.MetaData()
    integrations = sa.Table("integrations", meta, autoload_with=at_0005)
    runs = sa.Table("runs", meta, autoload_with=at_0005)
    items = sa.Table("run_items", meta, autoload_with=at_0005)
    with at_0005.begin() as conn:
        iid = _insert(conn, integrations, {"key": "k", "created_at": T0, "updated_at": T0})
        report = _content_report(skipped=3)
        run = _insert(
            conn,
            runs,
            {"integration_id": iid, "kind": "content", "dry_run": False, "status": "succeeded",
             "started_at": T0, "report": report},
        )  # fmt: skip
        _insert(conn, items, {"run_id": run, "external_id": "Course~a", "action": "created"})
    with at_0005.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
    with at_0005.connect() as conn:
        row = conn.execute(
            sa.text("SELECT created_count, skipped_count FROM runs WHERE id = :id"), {"id": run}
        ).one()
        assert tuple(row) == (4, 3)
        assert conn.execute(sa.text("SELECT count(*) FROM run_items")).scalar() == 1

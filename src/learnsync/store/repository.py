"""The store's public API: bulk reads and writes of integration state, runs and audit rows.

Every method opens its own short transaction and speaks in plain dataclasses
(:mod:`learnsync.store.records`), so pipelines never see a session or an ORM object. Reads of a
whole integration are one query; writes are set-based (:mod:`learnsync.store.bulk`).
Runs and their audit rows (``run_items``) are deleted only by :meth:`Store.prune_runs`: runs
older than the retention (:attr:`Store.retention`, applied when a run finishes).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Engine, Row, bindparam, delete, func, or_, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TextualSelect

from learnsync.store import bulk, db
from learnsync.store.clock import Clock, aware_utc, utc_now
from learnsync.store.history import bound_report, summary_counts
from learnsync.store.models import (
    ContentItem,
    Integration,
    Lease,
    Run,
    StatItem,
    SyncState,
)
from learnsync.store.models import RunItem as RunItemRow
from learnsync.store.records import (
    CONTENT_STATES,
    RUN_ITEM_ACTIONS,
    RUN_KINDS,
    RUN_STATUSES,
    STAT_STATES,
    ContentItemState,
    CourseCompletions,
    IntegrationRecord,
    RunItem,
    RunRecord,
    StatItemState,
    StatSummary,
    SyncStateRecord,
)

__all__ = [
    "ContentItemState",
    "CourseCompletions",
    "IntegrationRecord",
    "RunItem",
    "RunRecord",
    "StatItemState",
    "StatSummary",
    "Store",
    "SyncStateRecord",
]

INTEGRATION_FIELDS = (
    "name",
    "org_id",
    "base_url",
    "group_id",
    "author_id",
    "integration_name",
    "remote_integration_id",
    "languages",
    "content_types",
    "content_type_overrides",
    "archive_removed",
)
_INTEGRATION_DEFAULTS: dict[str, Any] = {
    "name": "",
    "org_id": "",
    "base_url": "",
    "group_id": "",
    "author_id": "",
    "integration_name": "",
    "remote_integration_id": None,
    "languages": [],
    "content_types": [],
    "content_type_overrides": {},
    "archive_removed": False,
}
STAT_YIELD_PER = 20_000
# retention: runs deleted per transaction, audit rows deleted per transaction and per prune
PRUNE_RUNS_BATCH = 500
PRUNE_ITEMS_BATCH = 50_000
PRUNE_ITEMS_MAX = 2_000_000  # the rest waits for the next run: a run's end is never held long
# statuses of a run still going (never pruned); the job statuses of later revisions included
_LIVE_STATUSES = ("running", "queued")

log = logging.getLogger(__name__)


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _aware(value: datetime | None, what: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{what} must be an aware UTC datetime; got naive {value!r}")
    return value


class Store:
    """Integration state in SQLite or PostgreSQL. Open with :meth:`open`; close when done."""

    def __init__(
        self, engine: Engine, clock: Clock = utc_now, *, retention: timedelta | None = None
    ) -> None:
        self.engine = engine
        self._clock = clock
        # runs older than this are pruned when a run of their integration finishes (None: never)
        self.retention = retention

    @classmethod
    def open(
        cls, url: str | URL, *, clock: Clock | None = None, retention: timedelta | None = None
    ) -> Store:
        """Connect to ``url`` and upgrade its schema to the newest revision."""
        engine = db.create_store_engine(url)
        try:
            db.upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(engine, clock or utc_now, retention=retention)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _now(self) -> datetime:
        return aware_utc(self._clock, "the store's")

    # ------------------------------------------------------------------ integrations

    def get_or_create_integration(self, key: str, **fields: Any) -> IntegrationRecord:
        """The integration ``key``, created when missing; the given fields are updated."""
        unknown = set(fields) - set(INTEGRATION_FIELDS)
        if unknown:
            raise TypeError(f"unknown integration fields: {', '.join(sorted(unknown))}")
        fields = {k: _json_copy(v) for k, v in fields.items()}
        now = self._now()
        table = Integration.__table__
        row = {**_INTEGRATION_DEFAULTS, **fields, "key": key, "created_at": now, "updated_at": now}
        with self.engine.begin() as conn:
            stmt = bulk.dialect_insert(conn, table).values(row)
            if fields:
                changed = [table.c[name].is_distinct_from(stmt.excluded[name]) for name in fields]
                stmt = stmt.on_conflict_do_update(
                    index_elements=["key"],
                    set_={**{n: stmt.excluded[n] for n in fields}, "updated_at": now},
                    where=or_(*changed),
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
            conn.execute(stmt)
            found = conn.execute(select(table).where(table.c.key == key)).one()
        return _integration(found)

    def get_integration(self, key_or_id: str | int) -> IntegrationRecord | None:
        """The integration of this key (a ``--config`` run) or of this id (its stable identity:
        what the service and everything after a rename use)."""
        table = Integration.__table__
        where = table.c.id == key_or_id if isinstance(key_or_id, int) else table.c.key == key_or_id
        with self.engine.connect() as conn:
            found = conn.execute(select(table).where(where)).one_or_none()
        return _integration(found) if found is not None else None

    def set_remote_integration_id(self, integration_id: int, remote_id: str) -> None:
        self._update_integration(integration_id, remote_integration_id=remote_id)

    def save_filters(
        self, integration_id: int, languages: Iterable[str], content_types: Iterable[str]
    ) -> None:
        """Store the filters (sets: saved sorted and without duplicates)."""
        self._update_integration(
            integration_id,
            languages=sorted(set(languages)),
            content_types=sorted(set(content_types)),
        )

    def _update_integration(self, integration_id: int, **values: Any) -> None:
        table = Integration.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.id == integration_id)
                .values(**values, updated_at=self._now())
            )
            if result.rowcount == 0:
                raise LookupError(f"no integration with id {integration_id}")

    # ------------------------------------------------------------------ content

    def load_content_items(self, integration_id: int) -> dict[str, ContentItemState]:
        """Every stored content item of the integration, by externalId (one query)."""
        table = ContentItem.__table__
        columns = [table.c[name] for name in _CONTENT_COLUMNS]
        stmt = select(*columns).where(table.c.integration_id == integration_id)
        with self.engine.connect() as conn:
            return {row.external_id: ContentItemState(**row._mapping) for row in conn.execute(stmt)}

    def save_content_items(self, integration_id: int, items: Iterable[ContentItemState]) -> None:
        """Insert or update the given items (all their fields); other items are untouched.

        ``first_seen_at`` is kept once stored (``None``: now); ``last_seen_at`` ``None``: now;
        ``updated_at`` is always now.
        """
        now = self._now()
        rows = [_content_row(integration_id, item, now) for item in items]
        with self.engine.begin() as conn:
            for batch in bulk.batched(rows):
                bulk.upsert(
                    conn,
                    ContentItem.__table__,
                    _CONTENT_WRITE,
                    batch,
                    keys=("integration_id", "external_id"),
                    keep_existing=("first_seen_at",),
                )

    # ------------------------------------------------------------------ statistics

    def iter_stat_items(self, integration_id: int) -> Iterator[StatItemState]:
        """Stream every stored statistics item of the integration (server-side, in batches)."""
        table = StatItem.__table__
        columns = [table.c[name] for name in _STAT_COLUMNS]
        stmt = select(*columns).where(table.c.integration_id == int(integration_id))
        with self.engine.connect() as conn:
            for row in bulk.stream(conn, stmt, STAT_YIELD_PER):
                yield StatItemState(*row)

    def save_stat_items(self, integration_id: int, items: Iterable[StatItemState]) -> None:
        """Insert or update the given items in batches, in one transaction.

        ``first_seen_at`` (``None``: now) and ``completed_seen_at`` keep their first stored
        value; ``sent_completed`` never goes back to false; ``updated_at`` is now.
        """
        now = self._now()
        table = StatItem.__table__
        with self.engine.begin() as conn:
            for batch in bulk.batched(items):
                bulk.upsert(
                    conn,
                    table,
                    _STAT_WRITE,
                    [_stat_row(integration_id, item, now) for item in batch],
                    keys=("integration_id", "external_id", "learner"),
                    keep_existing=("first_seen_at", "completed_seen_at"),
                    sticky_true=("sent_completed",),
                    raw=True,
                )

    def lookup_stat_items(
        self, integration_id: int, pairs: Iterable[tuple[str, str]]
    ) -> Iterator[StatItemState]:
        """The stored items of the given ``(external_id, learner)`` pairs (those that exist), by
        primary-key lookups in batches: the cost grows with the pairs asked, not the table."""
        with self.engine.connect() as conn:
            for batch in bulk.batched(pairs, STAT_LOOKUP_BATCH):
                stmt = _stat_lookup(len(batch))
                params: dict[str, Any] = {"iid": int(integration_id)}
                for i, (ext, learner) in enumerate(batch):
                    params[f"e{i}"] = ext
                    params[f"l{i}"] = learner
                for row in conn.execute(stmt, params):
                    yield StatItemState(*row)

    def iter_open_stat_items(
        self, integration_id: int, state: str, last_error: str | None = None
    ) -> Iterator[StatItemState]:
        """The stored items in ``state`` (``failed`` or ``skipped``; with ``last_error``, only
        those), through the partial index of the pairs that are not ``sent``: the cost grows with
        those pairs, not with the statistics sent."""
        _check(state, tuple(s for s in STAT_STATES if s != "sent"), "open statistics state")
        table = StatItem.__table__
        columns = [table.c[name] for name in (*_STAT_COLUMNS, "retry_item")]
        stmt = select(*columns).where(
            table.c.integration_id == int(integration_id),
            table.c.state != "sent",  # literally the partial index's condition (SQLite)
            table.c.state == state,
        )
        if last_error is not None:
            stmt = stmt.where(table.c.last_error == last_error)
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                yield StatItemState(*row)

    def get_sync_state(self, integration_id: int, stream: str) -> SyncStateRecord | None:
        """The bookmarks of one stream of the integration (``None``: never written)."""
        table = SyncState.__table__
        stmt = select(*(table.c[name] for name in _SYNC_STATE_COLUMNS)).where(
            table.c.integration_id == int(integration_id), table.c.stream == stream
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        return SyncStateRecord(*row) if row is not None else None

    def save_sync_state(self, integration_id: int, state: SyncStateRecord) -> None:
        """Write the bookmarks of ``state.stream`` (every field; ``updated_at`` is now)."""
        table = SyncState.__table__
        values = {
            "integration_id": int(integration_id),
            "stream": state.stream,
            "last_read_at": _aware(state.last_read_at, "last_read_at"),
            "watermark": _aware(state.watermark, "watermark"),
            "last_full_read_at": _aware(state.last_full_read_at, "last_full_read_at"),
            "format_version": state.format_version,
            "run_id": state.run_id,
            "updated_at": self._now(),
        }
        with self.engine.begin() as conn:
            stmt = bulk.dialect_insert(conn, table).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["integration_id", "stream"],
                set_={k: stmt.excluded[k] for k in values if k not in ("integration_id", "stream")},
            )
            conn.execute(stmt)

    def note_content_change(self, integration_id: int, run_id: int) -> None:
        """Record in the ``content`` bookmarks that run ``run_id`` created or restored content:
        its start becomes the stream's watermark (never moved back), which the next statistics
        run compares with its own bookmarks."""
        runs = Run.__table__
        with self.engine.connect() as conn:
            started = conn.execute(
                select(runs.c.started_at).where(runs.c.id == run_id)
            ).scalar_one_or_none()
        moment = started or self._now()
        current = self.get_sync_state(integration_id, "content")
        if current is not None and current.watermark is not None and current.watermark > moment:
            moment = current.watermark
        self.save_sync_state(
            integration_id, SyncStateRecord("content", watermark=moment, run_id=run_id)
        )

    def clear_stat_retries(self, integration_id: int, pairs: Iterable[tuple[str, str]]) -> None:
        """Forget the values to re-send (``retry_item``) of the given ``failed`` pairs; their
        state and error stay."""
        table = StatItem.__table__
        stmt = (
            update(table)
            .where(
                table.c.integration_id == int(integration_id),
                table.c.external_id == bindparam("ext"),
                table.c.learner == bindparam("who"),
                table.c.state == "failed",
            )
            .values(retry_item=None)
        )
        with self.engine.begin() as conn:
            for batch in bulk.batched(pairs):
                conn.execute(stmt, [{"ext": ext, "who": learner} for ext, learner in batch])

    def delete_skipped_stat_items(
        self, integration_id: int, pairs: Iterable[tuple[str, str]]
    ) -> None:
        """Delete the given ``(external_id, learner)`` items that are in state ``skipped`` (never
        sent: the statistics pipeline's skips that no longer apply); others are untouched."""
        table = StatItem.__table__
        stmt = delete(table).where(
            table.c.integration_id == int(integration_id),
            table.c.external_id == bindparam("ext"),
            table.c.learner == bindparam("who"),
            table.c.state == "skipped",
        )
        with self.engine.begin() as conn:
            for batch in bulk.batched(pairs):
                conn.execute(stmt, [{"ext": ext, "who": learner} for ext, learner in batch])

    def stat_summary(self, integration_id: int, since: datetime, *, top: int) -> StatSummary:
        """Counts of the integration's statistics items, aggregated in the database.

        Pairs per state; per UTC day from ``since`` on, completions first seen
        (``completed_seen_at``) and distinct learners whose pair was rewritten (``updated_at``);
        the ``top`` most completed courses with how many pairs each has.
        """
        _aware(since, "since")
        t = StatItem.__table__
        mine = t.c.integration_id == integration_id
        completed_day = _utc_day(t.c.completed_seen_at)
        updated_day = _utc_day(t.c.updated_at)
        summary = StatSummary()
        with self.engine.connect() as conn:
            for state, count in conn.execute(
                select(t.c.state, func.count()).where(mine).group_by(t.c.state)
            ):
                summary.pairs_by_state[state] = int(count)
            for day, count in conn.execute(
                select(completed_day, func.count())
                .where(mine, t.c.completed_seen_at >= since)
                .group_by(completed_day)
            ):
                summary.completions_by_day[day] = int(count)
            for day, count in conn.execute(
                select(updated_day, func.count(t.c.learner.distinct()))
                .where(mine, t.c.updated_at >= since)
                .group_by(updated_day)
            ):
                summary.active_learners_by_day[day] = int(count)
            top_rows = conn.execute(
                select(t.c.external_id, func.count())
                .where(mine, t.c.sent_completed.is_(True))
                .group_by(t.c.external_id)
                .order_by(func.count().desc(), t.c.external_id)
                .limit(top)
            ).all()
            learners: dict[str, int] = {}
            if top_rows:
                for external_id, count in conn.execute(
                    select(t.c.external_id, func.count())
                    .where(mine, t.c.external_id.in_([row[0] for row in top_rows]))
                    .group_by(t.c.external_id)
                ):
                    learners[external_id] = int(count)
        summary.top_courses = [
            CourseCompletions(external_id, int(count), learners.get(external_id, 0))
            for external_id, count in top_rows
        ]
        return summary

    # ------------------------------------------------------------------ runs

    def start_run(self, integration_id: int, kind: str, dry_run: bool) -> int:
        """Record a run as started (``running``, no lease); its id. The pipelines' runs are jobs
        instead (:mod:`learnsync.store.jobs`, ``learnsync.sync.runner``): this is the tests'
        shortcut to a run row with a report."""
        _check(kind, RUN_KINDS, "run kind")
        table = Run.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                table.insert().values(
                    integration_id=integration_id,
                    kind=kind,
                    dry_run=dry_run,
                    status="running",
                    started_at=self._now(),
                )
            )
            return db.inserted_id(result)

    def finish_run(
        self, run_id: int, status: str, report: dict[str, Any], error: str | None = None
    ) -> None:
        """Record the run's end: its report bounded (:func:`~learnsync.store.history.bound_report`)
        and its counts in the summary columns. Then, with a :attr:`retention`, a run that was not
        a dry run prunes its integration's old runs (:meth:`prune_runs`; a failure to prune is
        logged, it does not fail the run)."""
        _check(status, RUN_STATUSES, "run status")
        table = Run.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.id == run_id)
                .values(
                    status=status,
                    report=bound_report(report),
                    error=error,
                    finished_at=self._now(),
                    **summary_counts(report),
                )
            )
            if result.rowcount == 0:
                raise LookupError(f"no run with id {run_id}")
            owner = conn.execute(
                select(table.c.integration_id, table.c.dry_run).where(table.c.id == run_id)
            ).one()
        if self.retention is not None and not owner.dry_run:
            try:
                self.prune_runs(owner.integration_id, self._now() - self.retention)
            except Exception as exc:  # the run itself is recorded; the next run prunes again
                log.warning("pruning old runs failed: %s: %s", type(exc).__name__, exc)

    def prune_runs(
        self,
        integration_id: int,
        before: datetime,
        *,
        max_items: int = PRUNE_ITEMS_MAX,
    ) -> int:
        """Delete the integration's runs started before ``before`` and their audit rows; the
        number of runs deleted.

        Never deleted: the newest run of each kind (whatever its age: the last statistics run
        still says what was delivered), a run still going and a run holding a lease. Bounded
        transactions: at most :data:`PRUNE_RUNS_BATCH` runs and :data:`PRUNE_ITEMS_BATCH` audit
        rows each; after ``max_items`` audit rows the call stops and the next one goes on.
        """
        _aware(before, "before")
        runs, items = Run.__table__, RunItemRow.__table__
        newest = (
            select(func.max(runs.c.id))
            .where(runs.c.integration_id == integration_id)
            .group_by(runs.c.kind)
        )
        old = (
            select(runs.c.id)
            .where(
                runs.c.integration_id == integration_id,
                runs.c.started_at < before,
                runs.c.status.not_in(_LIVE_STATUSES),
                runs.c.id.not_in(newest),
                runs.c.id.not_in(select(Lease.__table__.c.run_id)),
            )
            .order_by(runs.c.id)
            .limit(PRUNE_RUNS_BATCH)
        )
        deleted_runs = deleted_items = 0
        while True:
            with self.engine.connect() as conn:
                ids = [row[0] for row in conn.execute(old)]
            if not ids:
                return deleted_runs
            while True:
                budget = min(PRUNE_ITEMS_BATCH, max_items - deleted_items)
                if budget <= 0:
                    return deleted_runs
                chunk = select(items.c.id).where(items.c.run_id.in_(ids)).limit(budget)
                with self.engine.begin() as conn:
                    gone = conn.execute(delete(items).where(items.c.id.in_(chunk))).rowcount
                deleted_items += gone
                if gone < budget:
                    break
            with self.engine.begin() as conn:
                result = conn.execute(delete(runs).where(runs.c.id.in_(ids)))
            deleted_runs += result.rowcount

    def last_run_id(self, integration_id: int) -> int:
        """The newest run id of the integration ``integration_id``; 0 when it has none."""
        runs = Run.__table__
        stmt = select(func.max(runs.c.id)).where(runs.c.integration_id == integration_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def add_run_items(self, run_id: int, items: Iterable[RunItem]) -> None:
        """Append audit rows to the run (bulk insert; deleted only with their run: prune_runs)."""
        table = RunItemRow.__table__
        columns = ("run_id", "external_id", "learner", "action", "detail")
        with self.engine.begin() as conn:
            for batch in bulk.batched(items):
                rows = [
                    (
                        run_id,
                        item.external_id,
                        item.learner,
                        _check(item.action, RUN_ITEM_ACTIONS, "run item action"),
                        item.detail,
                    )
                    for item in batch
                ]
                bulk.insert_rows(conn, table, columns, rows)

    def list_run_items(self, run_id: int) -> list[RunItem]:
        """The audit rows of one run, in insertion order."""
        table = RunItemRow.__table__
        stmt = (
            select(table.c.external_id, table.c.action, table.c.learner, table.c.detail)
            .where(table.c.run_id == run_id)
            .order_by(table.c.id)
        )
        with self.engine.connect() as conn:
            return [RunItem(*row) for row in conn.execute(stmt)]

    def list_runs(
        self, integration_id: int, limit: int = 50, *, with_report: bool = True
    ) -> list[RunRecord]:
        """The integration's most recent runs, newest first.

        ``with_report=False`` (the run lists, ``/metrics``) reads only the summary columns: the
        records' ``report`` is then ``{}``.
        """
        table = Run.__table__
        columns = [c for c in table.c if with_report or c.name != "report"]
        stmt = (
            select(*columns)
            .where(table.c.integration_id == integration_id)
            .order_by(table.c.started_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(stmt)]

    def page_runs(
        self,
        integration_id: int,
        *,
        offset: int = 0,
        limit: int = 50,
        status: str | None = None,
        oldest_first: bool = False,
    ) -> list[RunRecord]:
        """A page of the integration's runs (summary columns only, no report), newest first
        (``oldest_first``: by start time ascending); ``status``: only the runs of that status.
        All of them, back to the retention (:meth:`prune_runs`): the run history pages."""
        table = Run.__table__
        columns = [c for c in table.c if c.name != "report"]
        order = (
            (table.c.started_at.asc(), table.c.id.asc())
            if oldest_first
            else (table.c.started_at.desc(), table.c.id.desc())
        )
        stmt = select(*columns).where(table.c.integration_id == integration_id)
        if status is not None:
            stmt = stmt.where(table.c.status == status)
        stmt = stmt.order_by(*order).offset(max(offset, 0)).limit(limit)
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(stmt)]

    def count_runs(self, integration_id: int) -> dict[str, int]:
        """How many runs of the integration the store keeps, by status (one query)."""
        table = Run.__table__
        stmt = (
            select(table.c.status, func.count())
            .where(table.c.integration_id == integration_id)
            .group_by(table.c.status)
        )
        with self.engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(stmt)}

    def content_names(self, integration_id: int, external_ids: Iterable[str]) -> dict[str, str]:
        """The stored titles of the given content items, by externalId (the ones with a title;
        a run's page names the courses of its failed and skipped items)."""
        table = ContentItem.__table__
        wanted = sorted({e for e in external_ids if e})
        names: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                stmt = select(table.c.external_id, table.c.name).where(
                    table.c.integration_id == integration_id,
                    table.c.external_id.in_(wanted[start : start + 500]),
                )
                names.update({row.external_id: row.name for row in conn.execute(stmt) if row.name})
        return names

    def get_run(self, run_id: int, *, with_report: bool = True) -> RunRecord | None:
        """One run; ``with_report=False`` (live progress) reads only the summary columns."""
        table = Run.__table__
        columns = [c for c in table.c if with_report or c.name != "report"]
        with self.engine.connect() as conn:
            row = conn.execute(select(*columns).where(table.c.id == run_id)).one_or_none()
        return _run(row) if row is not None else None


# ---------------------------------------------------------------------- row <-> record

_CONTENT_COLUMNS = (
    "external_id",
    "state",
    "course_id",
    "sent_hash",
    "payload",
    "language_code",
    "content_type",
    "name",
    "in_catalog",
    "skip_reason",
    "last_error",
    "first_seen_at",
    "last_seen_at",
    "updated_at",
)
_STAT_COLUMNS = (
    "external_id",
    "learner",
    "state",
    "sent_hash",
    "sent_completed",
    "first_seen_at",
    "completed_seen_at",
    "last_error",
    "updated_at",
    "sent_rank",
)


_CONTENT_WRITE = ("integration_id", *_CONTENT_COLUMNS)
_STAT_WRITE = ("integration_id", *_STAT_COLUMNS, "retry_item")
_SYNC_STATE_COLUMNS = (
    "stream",
    "last_read_at",
    "watermark",
    "last_full_read_at",
    "format_version",
    "run_id",
    "updated_at",
)
STAT_LOOKUP_BATCH = 500  # (course, learner) keys per lookup query


def _content_row(integration_id: int, item: ContentItemState, now: datetime) -> tuple[Any, ...]:
    """A row in ``_CONTENT_WRITE`` order."""
    _check(item.state, CONTENT_STATES, "content item state")
    return (
        integration_id,
        item.external_id,
        item.state,
        item.course_id,
        item.sent_hash,
        item.payload,
        item.language_code,
        item.content_type,
        item.name,
        item.in_catalog,
        item.skip_reason,
        item.last_error,
        _aware(item.first_seen_at, "first_seen_at") or now,
        _aware(item.last_seen_at, "last_seen_at") or now,
        now,
    )


@functools.lru_cache(maxsize=8)
def _stat_lookup(size: int) -> TextualSelect:
    """The lookup of ``size`` (course, learner) keys: a VALUES list joined on the primary key, one
    index lookup each (SQLite's ``(a, b) IN (VALUES ...)`` would scan the whole integration)."""
    table = StatItem.__table__
    names = (*_STAT_COLUMNS, "retry_item")
    keys = ", ".join(f"(:e{i}, :l{i})" for i in range(size))
    return text(
        f"WITH k (e, l) AS (VALUES {keys}) "
        f"SELECT {', '.join('s.' + n for n in names)} FROM k JOIN stat_items AS s "
        "ON s.integration_id = :iid AND s.external_id = k.e AND s.learner = k.l"
    ).columns(*(table.c[name] for name in names))


def _stat_row(integration_id: int, item: StatItemState, now: datetime) -> tuple[Any, ...]:
    """A row in ``_STAT_WRITE`` order."""
    _check(item.state, STAT_STATES, "statistics item state")
    return (
        integration_id,
        item.external_id,
        item.learner,
        item.state,
        item.sent_hash,
        item.sent_completed,
        _aware(item.first_seen_at, "first_seen_at") or now,
        _aware(item.completed_seen_at, "completed_seen_at"),
        item.last_error,
        now,
        item.sent_rank,
        item.retry_item,
    )


def _utc_day(column: ColumnElement[datetime]) -> ColumnElement[date]:
    """The UTC date of a :class:`~learnsync.store.db.UtcDateTime` column, in SQL.

    ``date()`` exists in both dialects: SQLite stores naive UTC text, PostgreSQL sessions run in
    UTC (:mod:`learnsync.store.db`). Typed ``Date`` so SQLite's text comes back as a ``date``.
    """
    return func.date(column, type_=Date)


def _integration(row: Row[Any]) -> IntegrationRecord:
    values = row._mapping
    return IntegrationRecord(**{k: values[k] for k in IntegrationRecord.__slots__})


def _run(row: Row[Any]) -> RunRecord:
    values = dict(row._mapping)
    values["report"] = values.get("report") or {}
    return RunRecord(**values)


def _json_copy(value: Any) -> Any:
    """Lists and dicts are stored as JSON: take a plain copy (sets and tuples become lists)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value

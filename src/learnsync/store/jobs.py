"""Runs as jobs: the queue, the integration lease, live progress, cancellation, crash expiry.

A run row is created (``queued``) for every attempt before anything can fail. Starting it takes
the integration's **lease** — a row of ``leases``, whose primary key is the integration, so at
most one writing run per integration holds it, across processes and hosts — and moves it to
``running``. While it runs, :meth:`RunJobs.beat` renews the lease and stores the stage and
done/total, so any process shows live progress from the database, and tells the run whether it
was asked to stop. :meth:`RunJobs.release` gives the lease back once the run recorded its end.

A lease whose ``expires_at`` passed belongs to a run whose process died (``kill -9``, a lost
host): the next claimant of that integration, or :meth:`RunJobs.expire`, frees the integration
and queues the run again when it has attempts left (``max_attempts``: a fleet's runs are retried
once, from the store's state) — otherwise marks it failed with that reason (a run that killed
its process on every attempt is a poison run: not retried again). A lease of a process of this
host that no longer exists is expired at once (:func:`owner_gone`): a CLI run after a killed one
does not wait.
Dry runs write nothing, so they take no lease.

Every state change is one short write transaction; on SQLite it begins with ``BEGIN
IMMEDIATE`` (:func:`learnsync.store.db.write_transaction`), so a check and the write that
depends on it cannot interleave with another process's.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from learnsync.store import db
from learnsync.store.clock import Clock, aware_utc, utc_now
from learnsync.store.models import Lease, Run
from learnsync.store.records import RUN_FINAL_STATUSES, RUN_KINDS, RUN_TRIGGERS

# how long a lease lives without a heartbeat; runs beat every third of it
LEASE_TTL = timedelta(minutes=2)
# runs a person waits for: ahead of scheduled ones in every queue (the executor's, the fleet's)
PRIORITY_TRIGGERS = ("manual", "filters")
# how the error of a run whose process died on every attempt begins: a poison run, not retried
POISON_PREFIX = "stopped after "


@dataclass(frozen=True)
class LeaseRecord:
    integration_id: int
    run_id: int
    owner: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class JobRecord:
    """A run as the queue sees it (no report)."""

    id: int
    integration_id: int
    kind: str
    dry_run: bool
    trigger: str
    status: str
    queued_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    stage: str | None
    done: int
    total: int | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    error: str | None
    params: dict[str, Any] | None = None
    attempts: int = 0
    max_attempts: int = 1
    worker: str | None = None


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learned: whether the run was asked to stop."""

    cancel_requested: bool


class IntegrationBusy(Exception):
    """Another run holds the integration's lease (``lease``; its run: ``holder``)."""

    def __init__(self, lease: LeaseRecord, holder: JobRecord | None) -> None:
        what = f"a {holder.kind} run (run {holder.id})" if holder else f"run {lease.run_id}"
        super().__init__(f"{what} of this integration is going")
        self.lease = lease
        self.holder = holder


class LeaseLost(Exception):
    """The run no longer holds its integration's lease (it expired and was taken over)."""


class NotQueued(Exception):
    """The run cannot start: it is not queued any more (cancelled, already started, ended)."""


class WaitsBehind(Exception):
    """The run cannot start yet: an older run of its integration is still queued (a fleet
    starts an integration's runs in the order they were submitted: statistics after content)."""


def default_owner() -> str:
    """Who holds a lease: ``host:pid:random`` (the random part tells two executors of one
    process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_gone(owner: str) -> bool:
    """Whether a lease owner is a process of this host that no longer exists (``kill -9``):
    its lease need not wait for its expiry. Owners of other hosts are never judged here."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def gone_reason(owner: str, last_sign: datetime) -> str:
    """The error of a run whose process on this host is gone."""
    pid = owner.split(":")[1]
    return (
        f"the process running it (pid {pid}) stopped: last heartbeat "
        f"{last_sign.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    )


def crashed_reason(last_sign: datetime) -> str:
    """The error of a run whose process died, ``last_sign``: its last heartbeat or start."""
    return (
        "the process running it stopped: no heartbeat since "
        f"{last_sign.strftime('%Y-%m-%d %H:%M:%S')} UTC, its lease expired"
    )


class RunJobs:
    """The queue and the leases of one store (``engine``)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, ttl: timedelta = LEASE_TTL):
        self.engine = engine
        self._clock = clock
        self.ttl = ttl

    def now(self) -> datetime:
        return aware_utc(self._clock, "the job store's")

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        integration_id: int,
        kind: str,
        trigger: str,
        *,
        dry_run: bool = False,
        params: dict[str, Any] | None = None,
        max_attempts: int = 1,
    ) -> int:
        """Record a queued run; its id. Nothing can fail after this without a trace.
        ``params``: what it is asked to do beyond its kind (a filters run's filters);
        ``max_attempts``: how many times it may be started — a run whose process died is queued
        again while it has attempts left (a fleet's runs: 2)."""
        _check(kind, RUN_KINDS, "run kind")
        _check(trigger, RUN_TRIGGERS, "run trigger")
        if max_attempts < 1:
            raise ValueError("a run needs at least one attempt")
        now = self.now()
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(Run.__table__).values(
                    integration_id=integration_id,
                    kind=kind,
                    dry_run=dry_run,
                    trigger=trigger,
                    params=params,
                    max_attempts=max_attempts,
                    status="queued",
                    queued_at=now,
                    started_at=now,
                )
            )
            return db.inserted_id(result)

    # ------------------------------------------------------------------ start

    def start(self, run_id: int, owner: str, *, in_order: bool = False) -> JobRecord:
        """Start one queued run now: take its integration's lease and mark it running.

        :class:`IntegrationBusy` when another live run holds the lease (the run stays queued;
        the caller decides whether it waits in the queue or is refused), :class:`NotQueued`
        when it was cancelled or already started; with ``in_order`` (a fleet's worker),
        :class:`WaitsBehind` when an older run of its integration is still queued.
        """
        with db.write_transaction(self.engine) as conn:
            job = _get(conn, run_id)
            if job is None:
                raise LookupError(f"no run with id {run_id}")
            if job.status == "running" and not job.dry_run:
                # its process may have died: expiring its lease may queue it again (a worker
                # killed mid-run, its message handed to another worker)
                self._expire(conn, [job.integration_id])
                job = _get(conn, run_id)
                assert job is not None
            if job.status != "queued":
                raise NotQueued(f"run {run_id} is {job.status}, not queued")
            if in_order and not job.dry_run:
                older = self._older(conn, job, ("queued",))
                if older is not None:
                    raise WaitsBehind(f"run {run_id} waits behind run {older} of its integration")
            if not job.dry_run:
                self._take_lease(conn, job, owner)
            return self._mark_running(conn, job, owner)

    def claim_next(self, owner: str, *, limit: int = 100) -> JobRecord | None:
        """Start the next queued run whose integration is free; ``None`` when there is none.

        Runs a person asked for (*Sync now*, a filter save: :data:`PRIORITY_TRIGGERS`) come
        before scheduled ones, then the oldest first. A run queued behind a busy integration
        stays queued until its lease is released or expires; runs of other integrations pass it.
        """
        runs, leases = Run.__table__, Lease.__table__
        with db.write_transaction(self.engine) as conn:
            self._expire(conn)
            busy = select(leases.c.integration_id)
            rows = conn.execute(
                select(*_job_columns())
                .where(
                    runs.c.status == "queued",
                    runs.c.cancel_requested.is_(False),
                    runs.c.dry_run.is_(True) | runs.c.integration_id.not_in(busy),
                )
                .order_by(priority_order(runs.c.trigger), runs.c.id)
                .limit(limit)
            ).all()
            for row in rows:
                job = _job(row)
                if not job.dry_run:
                    try:
                        self._take_lease(conn, job, owner)
                    except IntegrationBusy:
                        continue  # an earlier run of this batch took it
                return self._mark_running(conn, job, owner)
            return None

    @staticmethod
    def _older(conn: Connection, job: JobRecord, statuses: tuple[str, ...]) -> int | None:
        """The oldest run of ``job``'s integration submitted before it, in ``statuses``."""
        runs = Run.__table__
        row = conn.execute(
            select(runs.c.id)
            .where(
                runs.c.integration_id == job.integration_id,
                runs.c.status.in_(statuses),
                runs.c.dry_run.is_(False),
                runs.c.id < job.id,
            )
            .order_by(runs.c.id)
            .limit(1)
        ).first()
        return None if row is None else int(row[0])

    def ahead_of(self, run_id: int) -> int | None:
        """An older run of the same integration still queued or running, if any (the one the
        run waits behind)."""
        with self.engine.connect() as conn:
            job = _get(conn, run_id)
            return None if job is None else self._older(conn, job, ("queued", "running"))

    def _take_lease(self, conn: Connection, job: JobRecord, owner: str) -> None:
        leases = Lease.__table__
        now = self.now()
        self._expire(conn, [job.integration_id])
        values = {
            "integration_id": job.integration_id,
            "run_id": job.id,
            "owner": owner,
            "acquired_at": now,
            "expires_at": now + self.ttl,
        }
        taken = conn.execute(_insert_or_nothing(conn, values)).first()
        if taken is None:
            held = conn.execute(
                select(leases).where(leases.c.integration_id == job.integration_id)
            ).one()
            lease = _lease(held)
            raise IntegrationBusy(lease, _get(conn, lease.run_id))

    def _mark_running(self, conn: Connection, job: JobRecord, owner: str) -> JobRecord:
        runs = Run.__table__
        now = self.now()
        conn.execute(
            update(runs)
            .where(runs.c.id == job.id)
            .values(
                status="running",
                started_at=now,
                heartbeat_at=now,
                stage="starting",
                attempts=runs.c.attempts + 1,
                worker=owner,
            )
        )
        started = _get(conn, job.id)
        assert started is not None
        return started

    # ------------------------------------------------------------------ while running

    def beat(
        self,
        run_id: int,
        owner: str,
        *,
        stage: str | None = None,
        done: int | None = None,
        total: int | None = None,
    ) -> Beat:
        """Renew the run's lease, store its progress; whether it was asked to stop.

        :class:`LeaseLost` when the lease is not this owner's any more: the run must stop
        writing (another process already declared it dead).
        """
        runs, leases = Run.__table__, Lease.__table__
        now = self.now()
        progress: dict[str, Any] = {"heartbeat_at": now}
        if stage is not None:
            progress["stage"] = stage
        if done is not None:
            progress["done"] = done
        if total is not None:
            progress["total"] = total
        with self.engine.begin() as conn:
            job = _get(conn, run_id)
            if job is None:
                raise LookupError(f"no run with id {run_id}")
            if not job.dry_run:
                renewed = conn.execute(
                    update(leases)
                    .where(leases.c.run_id == run_id, leases.c.owner == owner)
                    .values(expires_at=now + self.ttl)
                ).rowcount
                if renewed != 1:
                    raise LeaseLost(f"run {run_id} lost its integration's lease")
            conn.execute(
                update(runs).where(runs.c.id == run_id, runs.c.status == "running").values(progress)
            )
            return Beat(cancel_requested=job.cancel_requested)

    def release(self, run_id: int, owner: str) -> None:
        """Give back the run's lease (after the run recorded its end); a no-op without one."""
        leases = Lease.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.run_id == run_id, leases.c.owner == owner))

    def end(self, run_id: int, owner: str, status: str, error: str | None = None) -> None:
        """Mark a run that recorded no report of its own ended, and release its lease."""
        _check(status, RUN_FINAL_STATUSES, "final run status")
        runs, leases = Run.__table__, Lease.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status.in_(("queued", "running")))
                .values(status=status, error=error, finished_at=self.now())
            )
            conn.execute(delete(leases).where(leases.c.run_id == run_id, leases.c.owner == owner))

    # ------------------------------------------------------------------ cancel, expire

    def cancel(self, run_id: int) -> str:
        """Cancel a run: a queued one at once (``"cancelled"``), a running one at its next
        heartbeat (``"cancelling"``); an ended one is left as it is (its status)."""
        runs = Run.__table__
        with self.engine.begin() as conn:
            job = _get(conn, run_id)
            if job is None:
                raise LookupError(f"no run with id {run_id}")
            if job.status == "queued":
                conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == "queued")
                    .values(
                        status="cancelled",
                        cancel_requested=True,
                        finished_at=self.now(),
                        error="cancelled before it started",
                    )
                )
                return "cancelled"
            if job.status == "running":
                conn.execute(update(runs).where(runs.c.id == run_id).values(cancel_requested=True))
                return "cancelling"
            return job.status

    def expire(self) -> list[int]:
        """Handle every run whose lease expired (its process died): queued again while it has
        attempts left, else failed; their ids."""
        with db.write_transaction(self.engine) as conn:
            return self._expire(conn)

    def _expire(self, conn: Connection, integration_ids: Iterable[int] | None = None) -> list[int]:
        runs, leases = Run.__table__, Lease.__table__
        now = self.now()
        query = select(leases)
        if integration_ids is not None:
            query = query.where(leases.c.integration_id.in_(list(integration_ids)))
        expired = [
            lease
            for lease in map(_lease, conn.execute(query))
            if lease.expires_at <= now or owner_gone(lease.owner)
        ]
        for lease in expired:
            job = _get(conn, lease.run_id)
            last_sign = (job.heartbeat_at or job.started_at) if job else lease.acquired_at
            reason = (
                crashed_reason(last_sign)
                if lease.expires_at <= now
                else gone_reason(lease.owner, last_sign)
            )
            if job is not None and job.attempts < job.max_attempts:
                values: dict[str, Any] = {
                    "status": "queued",
                    "error": f"attempt {job.attempts} stopped ({reason}); queued again",
                    "queued_at": now,
                    "stage": None,
                    "heartbeat_at": None,
                }
            elif job is not None and job.max_attempts > 1:
                values = {
                    "status": "failed",
                    "error": f"{POISON_PREFIX}{job.attempts} attempts, not retried again: {reason}",
                    "finished_at": now,
                }
            else:
                values = {"status": "failed", "error": reason, "finished_at": now}
            conn.execute(
                update(runs)
                .where(runs.c.id == lease.run_id, runs.c.status == "running")
                .values(values)
            )
            conn.execute(
                delete(leases).where(
                    leases.c.integration_id == lease.integration_id,
                    leases.c.run_id == lease.run_id,
                )
            )
        return [lease.run_id for lease in expired]

    # ------------------------------------------------------------------ reads

    def get(self, run_id: int) -> JobRecord | None:
        with self.engine.connect() as conn:
            return _get(conn, run_id)

    def lease(self, integration_id: int) -> LeaseRecord | None:
        leases = Lease.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(leases).where(leases.c.integration_id == integration_id)
            ).one_or_none()
        return _lease(row) if row is not None else None

    def queued(self, integration_id: int | None = None) -> list[JobRecord]:
        """The queued runs (of one integration), oldest first."""
        runs = Run.__table__
        query = select(*_job_columns()).where(runs.c.status == "queued").order_by(runs.c.id)
        if integration_id is not None:
            query = query.where(runs.c.integration_id == integration_id)
        with self.engine.connect() as conn:
            return [_job(row) for row in conn.execute(query)]


# ---------------------------------------------------------------------- helpers


def priority_order(trigger: Any) -> Any:
    """A sort key of the queue: 0 for the runs a person asked for, 1 for the others."""
    return case((trigger.in_(PRIORITY_TRIGGERS), 0), else_=1)


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _insert_or_nothing(conn: Connection, values: dict[str, Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` into ``leases``: the primary key is the mutex."""
    table = Lease.__table__
    statement: Any
    if conn.dialect.name == "postgresql":
        statement = postgresql.insert(table).values(values).on_conflict_do_nothing()
    else:
        statement = sqlite.insert(table).values(values).on_conflict_do_nothing()
    return statement.returning(table.c.run_id)  # a row when inserted, none on a conflict


def _job_columns() -> list[Any]:
    """Every column of ``runs`` but the report: the queue and live progress never read it."""
    return [c for c in Run.__table__.c if c.name != "report"]


def _get(conn: Connection, run_id: int) -> JobRecord | None:
    runs = Run.__table__
    row = conn.execute(select(*_job_columns()).where(runs.c.id == run_id)).one_or_none()
    return _job(row) if row is not None else None


def _job(row: Row[Any]) -> JobRecord:
    m = row._mapping
    return JobRecord(
        id=int(m["id"]),
        integration_id=int(m["integration_id"]),
        kind=m["kind"],
        dry_run=bool(m["dry_run"]),
        trigger=m["trigger"],
        status=m["status"],
        queued_at=m["queued_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        stage=m["stage"],
        done=int(m["done"] or 0),
        total=None if m["total"] is None else int(m["total"]),
        heartbeat_at=m["heartbeat_at"],
        cancel_requested=bool(m["cancel_requested"]),
        error=m["error"],
        params=m["params"],
        attempts=int(m["attempts"] or 0),
        max_attempts=int(m["max_attempts"] or 1),
        worker=m["worker"],
    )


def _lease(row: Row[Any]) -> LeaseRecord:
    m = row._mapping
    return LeaseRecord(
        integration_id=int(m["integration_id"]),
        run_id=int(m["run_id"]),
        owner=m["owner"],
        acquired_at=m["acquired_at"],
        expires_at=m["expires_at"],
    )

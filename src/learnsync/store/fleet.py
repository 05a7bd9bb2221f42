"""What a fleet shares in the store beside the runs: its live workers and its roles.

- :class:`Workers`: a ``learnsync worker`` process registers itself, renews ``seen_at`` on its
  heartbeat and removes its row when it stops; one that has not been seen for ``ALIVE`` is not
  counted (a killed worker leaves a row that simply ages).
- :class:`Roles`: a lease per fleet-wide role (the ``scheduler``): :meth:`Roles.hold` takes the
  role when it is free or expired and renews it when it is the caller's own, in one write
  transaction — so of two schedulers exactly one acts, and a standby takes over once the
  active one stopped renewing.
- :func:`queue_counts`: the runs queued (priority ones among them), running, and poison runs,
  in one query — what the pages and ``/metrics`` show of the fleet's load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from learnsync.store import db
from learnsync.store.clock import Clock, aware_utc, utc_now
from learnsync.store.jobs import POISON_PREFIX, PRIORITY_TRIGGERS
from learnsync.store.models import Role, Run, Worker

# a worker beats every 10 s; one not seen for 45 s is not counted as alive
ALIVE = timedelta(seconds=45)
ROLE_TTL = timedelta(seconds=60)


@dataclass(frozen=True)
class WorkerRecord:
    name: str
    host: str
    pid: int
    concurrency: int
    queues: str
    started_at: datetime
    seen_at: datetime


class Workers:
    """The live worker processes of one store."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def now(self) -> datetime:
        return aware_utc(self._clock, "the fleet's")

    def register(self, name: str, host: str, pid: int, concurrency: int, queues: str) -> None:
        """Record (or renew) worker ``name``, started now."""
        now = self.now()
        values = {
            "host": host,
            "pid": pid,
            "concurrency": concurrency,
            "queues": queues,
            "started_at": now,
            "seen_at": now,
        }
        with db.write_transaction(self.engine) as conn:
            table = Worker.__table__
            if conn.execute(update(table).where(table.c.name == name).values(values)).rowcount:
                return
            conn.execute(table.insert().values(name=name, **values))

    def beat(self, name: str) -> None:
        table = Worker.__table__
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.name == name).values(seen_at=self.now()))

    def leave(self, name: str) -> None:
        table = Worker.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == name))

    def alive(self) -> list[WorkerRecord]:
        """The workers seen within :data:`ALIVE`, by name."""
        table = Worker.__table__
        since = self.now() - ALIVE
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.seen_at >= since).order_by(table.c.name)
            ).all()
        return [WorkerRecord(**row._mapping) for row in rows]

    def prune(self, older_than: timedelta = timedelta(days=1)) -> int:
        """Forget workers not seen for ``older_than``; how many."""
        table = Worker.__table__
        with self.engine.begin() as conn:
            result = conn.execute(delete(table).where(table.c.seen_at < self.now() - older_than))
        return int(result.rowcount or 0)


class Roles:
    """Fleet-wide roles held by one process at a time."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, ttl: timedelta = ROLE_TTL) -> None:
        self.engine = engine
        self._clock = clock
        self.ttl = ttl

    def now(self) -> datetime:
        return aware_utc(self._clock, "the fleet's")

    def hold(self, name: str, owner: str) -> bool:
        """Take or renew role ``name`` for ``owner``; whether ``owner`` holds it now."""
        now = self.now()
        try:
            with db.write_transaction(self.engine) as conn:
                return self._hold(conn, name, owner, now)
        except IntegrityError:
            return False  # another process inserted the role first

    def _hold(self, conn: Connection, name: str, owner: str, now: datetime) -> bool:
        table = Role.__table__
        row = conn.execute(
            select(table).where(table.c.name == name).with_for_update()
        ).one_or_none()
        if row is None:
            conn.execute(
                table.insert().values(
                    name=name, owner=owner, acquired_at=now, expires_at=now + self.ttl
                )
            )
            return True
        current = row._mapping
        if current["owner"] != owner and current["expires_at"] > now:
            return False
        acquired = current["acquired_at"] if current["owner"] == owner else now
        conn.execute(
            update(table)
            .where(table.c.name == name)
            .values(owner=owner, acquired_at=acquired, expires_at=now + self.ttl)
        )
        return True

    def holder(self, name: str) -> str | None:
        """Who holds role ``name`` now (``None``: nobody, or its lease expired)."""
        table = Role.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.owner).where(table.c.name == name, table.c.expires_at > self.now())
            ).one_or_none()
        return None if row is None else str(row[0])

    def give_up(self, name: str, owner: str) -> None:
        """Release role ``name`` if ``owner`` holds it (a stopping scheduler hands over at once)."""
        table = Role.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.name == name, table.c.owner == owner))


def is_poison(status: str, error: str | None) -> bool:
    """Whether a run failed on every attempt it had (its process died each time)."""
    return status == "failed" and (error or "").startswith(POISON_PREFIX)


@dataclass(frozen=True)
class QueueCounts:
    """The queue at a glance: runs queued (``priority``: of ``PRIORITY_TRIGGERS``, ahead of the
    others), runs running, and poison runs (:func:`is_poison`, in the bounded run history)."""

    queued: int
    priority: int
    running: int
    poison: int

    @property
    def scheduled(self) -> int:
        """The queued runs nobody waits for (schedules, command-line runs)."""
        return self.queued - self.priority


def queue_counts(engine: Engine) -> QueueCounts:
    """:class:`QueueCounts` of the store, in one query (no report read)."""
    runs = Run.__table__

    def total(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    queued = runs.c.status == "queued"
    query = select(
        total(queued),
        total(queued & runs.c.trigger.in_(PRIORITY_TRIGGERS)),
        total(runs.c.status == "running"),
        total(
            (runs.c.status == "failed") & runs.c.error.startswith(POISON_PREFIX, autoescape=True)
        ),
    )
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return QueueCounts(*(int(n) for n in row))

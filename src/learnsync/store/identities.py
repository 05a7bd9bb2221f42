"""The identity inbox's decisions (issue 13): which 360Learning user a Coursera learner's
statistics go to, or that a learner is ignored.

A learner is known by their Coursera e-mail, casefolded (``Alice@Example.com`` and
``alice@example.com`` are one learner); so is the 360Learning user. One 360Learning user takes
one Coursera learner of an integration: mapping a second onto it is refused with a
:class:`MappingConflict` that names the first — in the database too (a unique key), so two
administrators deciding at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import IntegrityError

from learnsync.store import db
from learnsync.store.clock import Clock, aware_utc, utc_now
from learnsync.store.models import MAPPING_ORIGINS, LearnerMapping

TABLE = LearnerMapping.__table__


def learner_key(email: str) -> str:
    """What identifies a learner's address: trimmed and casefolded."""
    return email.strip().casefold()


class MappingConflict(ValueError):
    """A mapping refused: the 360Learning user already takes another Coursera learner."""

    def __init__(self, threesixty_email: str, taken_by: str) -> None:
        super().__init__(
            f"{threesixty_email} already receives the statistics of {taken_by}: one "
            "360Learning user takes one Coursera learner (remove that mapping first)"
        )
        self.threesixty_email = threesixty_email
        self.taken_by = taken_by


@dataclass(frozen=True)
class MappingRecord:
    integration_id: int
    coursera_learner: str
    action: str  # map, ignore
    threesixty_email: str | None
    origin: str  # suggestion, manual, csv
    created_by: str
    created_at: datetime


class LearnerMappings:
    """The learner mappings of one store."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def now(self) -> datetime:
        return aware_utc(self._clock, "the identity inbox's")

    def map(
        self,
        integration_id: int,
        coursera_learner: str,
        threesixty_email: str,
        *,
        origin: str,
        actor: str,
    ) -> MappingRecord:
        """Send ``coursera_learner``'s statistics to ``threesixty_email`` from now on (a
        learner mapped or ignored before is mapped again); :class:`MappingConflict` when that
        360Learning user already takes another Coursera learner."""
        target = threesixty_email.strip()
        if not target or "@" not in target:
            raise ValueError(f"{threesixty_email!r} is not an e-mail address")
        return self._decide(integration_id, coursera_learner, "map", target, origin, actor)

    def ignore(
        self, integration_id: int, coursera_learner: str, *, actor: str, origin: str = "manual"
    ) -> MappingRecord:
        """Never send ``coursera_learner``'s statistics, and stop listing them."""
        return self._decide(integration_id, coursera_learner, "ignore", None, origin, actor)

    def forget(self, integration_id: int, coursera_learner: str) -> bool:
        """Undo the decision on ``coursera_learner``; whether there was one."""
        mine = (
            TABLE.c.integration_id == integration_id,
            TABLE.c.coursera_key == learner_key(coursera_learner),
        )
        with db.write_transaction(self.engine) as conn:
            return conn.execute(delete(TABLE).where(*mine)).rowcount > 0

    def all(self, integration_id: int) -> list[MappingRecord]:
        """Every decision of the integration, by Coursera address."""
        stmt = (
            select(TABLE)
            .where(TABLE.c.integration_id == integration_id)
            .order_by(TABLE.c.coursera_key)
        )
        with self.engine.connect() as conn:
            return [_record(row._mapping) for row in conn.execute(stmt)]

    def targets(self, integration_id: int, learners: Iterable[str]) -> dict[str, str | None]:
        """The decisions on ``learners`` (by their casefolded address): the 360Learning
        address their statistics go to, or None for an ignored learner; a learner without a
        decision is absent."""
        keys = sorted({learner_key(learner) for learner in learners})
        found: dict[str, str | None] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                stmt = select(TABLE.c.coursera_key, TABLE.c.threesixty_email).where(
                    TABLE.c.integration_id == integration_id,
                    TABLE.c.coursera_key.in_(keys[start : start + 500]),
                )
                found.update({row[0]: row[1] for row in conn.execute(stmt)})
        return found

    def _decide(
        self,
        integration_id: int,
        coursera_learner: str,
        action: str,
        target: str | None,
        origin: str,
        actor: str,
    ) -> MappingRecord:
        if origin not in MAPPING_ORIGINS:
            raise ValueError(f"unknown mapping origin {origin!r}: one of {MAPPING_ORIGINS}")
        learner = coursera_learner.strip()
        if not learner:
            raise ValueError("a Coursera learner's e-mail is needed")
        key = learner_key(learner)
        values = {
            "integration_id": integration_id,
            "coursera_key": key,
            "coursera_learner": learner,
            "action": action,
            "threesixty_email": target,
            "threesixty_key": learner_key(target) if target else None,
            "origin": origin,
            "created_by": actor,
            "created_at": self.now(),
        }
        try:
            with db.write_transaction(self.engine) as conn:
                if target is not None:
                    _refuse_taken(conn, integration_id, key, learner_key(target), target)
                mine = (TABLE.c.integration_id == integration_id, TABLE.c.coursera_key == key)
                conn.execute(delete(TABLE).where(*mine))
                conn.execute(TABLE.insert().values(**values))
        except IntegrityError:
            # another process mapped a learner onto that user between the check and the write
            if target is None:
                raise
            with self.engine.connect() as conn:
                _refuse_taken(conn, integration_id, key, learner_key(target), target)
            raise
        return _record(values)


def _refuse_taken(
    conn: Connection, integration_id: int, key: str, target_key: str, target: str
) -> None:
    stmt = select(TABLE.c.coursera_learner, TABLE.c.coursera_key).where(
        TABLE.c.integration_id == integration_id, TABLE.c.threesixty_key == target_key
    )
    row = conn.execute(stmt).first()
    if row is not None and row[1] != key:
        raise MappingConflict(target, row[0])


def _record(values: object) -> MappingRecord:
    m = dict(values)  # type: ignore[call-overload]
    return MappingRecord(
        integration_id=m["integration_id"],
        coursera_learner=m["coursera_learner"],
        action=m["action"],
        threesixty_email=m["threesixty_email"],
        origin=m["origin"],
        created_by=m["created_by"],
        created_at=m["created_at"],
    )

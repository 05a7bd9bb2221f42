"""Write-ahead intents: a decision is stored before the request that acts on it.

Before a run sends a bulk operation (an upsert or archive of courses, an import of statistics)
or a batch of course restores, it records an intent: the action and its items' keys. When
360Learning answers with an operation id, the id is added. When the run has recorded the
outcome in the store, it settles (deletes) the intent. So after a ``kill -9`` at any point, the
intents left over say exactly which requests may have reached 360Learning without the store
knowing: the next run of that integration asks 360Learning what became of them (operation
results, course status), records the truth, settles them, and only then plans.

The table holds only open intents; a healthy run leaves none behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update

from learnsync.store import db
from learnsync.store.clock import Clock, aware_utc, utc_now
from learnsync.store.models import INTENT_ACTIONS, Intent


@dataclass(frozen=True)
class IntentRecord:
    id: int
    integration_id: int
    run_id: int
    action: str  # upsert, archive, restore, import
    operation_id: str | None  # the 360Learning bulk operation, once it was created
    items: list[dict[str, Any]]  # the keys of what was sent ({"externalId": …, …})
    created_at: datetime


class Intents:
    """The open intents of one store (``engine``)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def _now(self) -> datetime:
        return aware_utc(self._clock, "the intents'")

    def record(
        self,
        integration_id: int,
        run_id: int,
        action: str,
        items: Iterable[Mapping[str, Any]],
    ) -> int:
        """Store what is about to be sent (call it before the request); the intent's id."""
        if action not in INTENT_ACTIONS:
            raise ValueError(f"intent action must be one of {', '.join(INTENT_ACTIONS)}")
        now = self._now()
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(Intent.__table__).values(
                    integration_id=integration_id,
                    run_id=run_id,
                    action=action,
                    items=[dict(item) for item in items],
                    created_at=now,
                    updated_at=now,
                )
            )
            return db.inserted_id(result)

    def set_operation(self, intent_id: int, operation_id: str) -> None:
        """The bulk operation 360Learning created for the intent (call it as soon as known)."""
        table = Intent.__table__
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(table)
                .where(table.c.id == intent_id)
                .values(operation_id=operation_id, updated_at=self._now())
            ).rowcount
        if changed != 1:
            raise LookupError(f"no open intent with id {intent_id}")

    def settle(self, intent_id: int) -> None:
        """The outcome is in the store: the intent is done (a no-op when already settled)."""
        table = Intent.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id == intent_id))

    def open_for(self, integration_id: int, *, before_run: int | None = None) -> list[IntentRecord]:
        """The integration's open intents, oldest first (``before_run``: of earlier runs only)."""
        table = Intent.__table__
        query = select(table).where(table.c.integration_id == integration_id)
        if before_run is not None:
            query = query.where(table.c.run_id < before_run)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query.order_by(table.c.id))]


def _record(row: Row[Any]) -> IntentRecord:
    m = row._mapping
    return IntentRecord(
        id=int(m["id"]),
        integration_id=int(m["integration_id"]),
        run_id=int(m["run_id"]),
        action=m["action"],
        operation_id=m["operation_id"],
        items=list(m["items"]),
        created_at=m["created_at"],
    )

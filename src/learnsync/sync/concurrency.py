"""One writing run per integration at a time, whatever process starts it (CLI, scheduler, UI).

The store's ``runs`` table says which runs are going. A run marked ``running`` for longer than
``STALE_AFTER`` belonged to a process that died: it no longer blocks anyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from learnsync.errors import LearnsyncError
from learnsync.store.repository import RunRecord, Store

STALE_AFTER = timedelta(hours=6)
WRITING_KINDS = frozenset({"content", "filters"})


def running_runs(
    store: Store,
    integration_id: int,
    kinds: Iterable[str],
    *,
    now: datetime,
    stale_after: timedelta = STALE_AFTER,
) -> list[RunRecord]:
    """The runs of these kinds still going (not dry runs, not stale), newest first."""
    wanted = frozenset(kinds)
    return [
        run
        for run in store.list_runs(integration_id, limit=20)
        if run.kind in wanted
        and run.status == "running"
        and not run.dry_run
        and now - run.started_at < stale_after
    ]


def refuse_if_running(store: Store, integration_id: int, *, now: datetime, what: str) -> None:
    """Raise when a content run or a filter save of the integration is going."""
    going = running_runs(store, integration_id, WRITING_KINDS, now=now)
    if going:
        run = going[0]
        raise LearnsyncError(
            f"a {run.kind} run of this integration (run {run.id}, started "
            f"{run.started_at.isoformat(timespec='seconds')}) is still going: run the {what} "
            "again once it has finished"
        )

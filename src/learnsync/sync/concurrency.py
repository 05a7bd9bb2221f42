"""One writing run per integration at a time, whatever process starts it (CLI, scheduler, UI).

A content run or a filter save refuses another of them; a statistics run refuses another
statistics run (it waits for a content run instead, ``sync.stats.wait_for_content_run``). The
store's ``runs`` table says which runs are going, and the check and the new run's record are
one transaction (``Store.start_run(exclusive_of=…)``), so two processes cannot both start. A run
marked ``running`` for longer than ``STALE_AFTER`` belonged to a process that died: it no longer
blocks anyone.
"""

from __future__ import annotations

from datetime import timedelta

from learnsync.errors import LearnsyncError
from learnsync.store.repository import RunConflict, Store

STALE_AFTER = timedelta(hours=6)
WRITING_KINDS = frozenset({"content", "filters"})
# the kinds of run a run of each kind refuses to start beside
EXCLUSIVE_OF = {
    "content": WRITING_KINDS,
    "filters": WRITING_KINDS,
    "stats": frozenset({"stats"}),
}


def start_writing_run(store: Store, integration_id: int, kind: str, *, what: str) -> int:
    """Start a content run, a filter save or a statistics run; refuse while one it excludes
    (:data:`EXCLUSIVE_OF`) is going."""
    try:
        return store.start_run(
            integration_id, kind, False, exclusive_of=EXCLUSIVE_OF[kind], stale_after=STALE_AFTER
        )
    except RunConflict as conflict:
        run = conflict.run
        raise LearnsyncError(
            f"a {run.kind} run of this integration (run {run.id}, started "
            f"{run.started_at.isoformat(timespec='seconds')}) is still going: run the {what} "
            "again once it has finished"
        ) from None

"""What a content run did, item by item: new states, audit rows and report counts, kept together.

Shared by the content sync and the filter save, so every outcome of every write is recorded the
same way: a success updates the item's state and counts; a failure keeps the item's state, records
the error (the next run sends it again), lists it in the report and writes an audit row.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from learnsync.diff.content import ACTIVE
from learnsync.load.bulk import Outcome
from learnsync.store.repository import ContentItemState, RunItem, Store
from learnsync.sync.report import ContentReport

# report counter for each successful action
_COUNTERS = {"created": "created", "updated": "updated", "archived": "archived",
             "restored": "restored"}  # fmt: skip


class ContentLedger:
    def __init__(self, states: Mapping[str, ContentItemState], report: ContentReport) -> None:
        self.states = dict(states)
        self.report = report
        self.changed: dict[str, ContentItemState] = {}
        self.audit: list[RunItem] = []

    def update(self, external_id: str, **fields: Any) -> ContentItemState:
        state = dataclasses.replace(self.states[external_id], **fields)
        self.put(state)
        return state

    def put(self, state: ContentItemState) -> None:
        self.states[state.external_id] = state
        self.changed[state.external_id] = state

    def succeeded(
        self, external_id: str, action: str, detail: str | None = None, **fields: Any
    ) -> None:
        self.update(external_id, last_error=None, **fields)
        setattr(self.report, _COUNTERS[action], getattr(self.report, _COUNTERS[action]) + 1)
        self.audit.append(RunItem(external_id=external_id, action=action, detail=detail))

    def failed(
        self, external_id: str, error: str, *, whole_operation: bool = False, **fields: Any
    ) -> None:
        """``whole_operation``: its bulk operation failed as a whole (the run exits 1)."""
        self.update(external_id, last_error=error, **fields)
        self.report.failed.append({"externalId": external_id, "error": error})
        self.report.in_failed_operations += whole_operation
        self.audit.append(RunItem(external_id=external_id, action="failed", detail=error))

    def skipped(self, external_id: str, reason: str, *, audit: bool = True) -> None:
        """Report a skip; its audit row only with ``audit`` (a new skip or a changed reason: the
        same skip run after run is not re-written every day)."""
        self.report.skipped.append({"externalId": external_id, "reason": reason})
        if audit:
            self.audit.append(RunItem(external_id=external_id, action="skipped", detail=reason))

    def apply_archives(
        self, new_states: Mapping[str, str], outcomes: Mapping[str, Outcome]
    ) -> None:
        """``new_states``: externalId → the archived state to record on success."""
        for external_id, new_state in new_states.items():
            outcome = outcomes.get(external_id)
            if outcome is None:
                continue  # not sent (the write stopped before it): the next run sends it
            if outcome.ok:
                self.succeeded(external_id, "archived", new_state, state=new_state)
            else:
                self.failed(
                    external_id,
                    outcome.error or "archive failed",
                    whole_operation=outcome.operation_failed,
                )

    def apply_restores(self, outcomes: Mapping[str, Outcome]) -> None:
        for external_id, outcome in outcomes.items():
            if outcome.ok:
                self.succeeded(external_id, "restored", state=ACTIVE)
            else:
                self.failed(external_id, outcome.error or "restore failed")

    def save(self, store: Store, record_id: int, run_id: int) -> None:
        store.save_content_items(record_id, self.changed.values())
        store.add_run_items(run_id, self.audit)
        if any(item.action in ("created", "restored") for item in self.audit):
            # the next statistics run reads everything: the older rows of this content were
            # skipped (the content stream's bookmark; docs/stats.md#full-or-incremental-read)
            store.note_content_change(record_id, run_id)


@contextlib.contextmanager
def recording(record: Callable[[dict[str, Outcome]], object]) -> Iterator[dict[str, Outcome]]:
    """Hand a write an outcomes dict it fills as it goes, and record what it holds — also when
    an error (a refused token, say) stops the write half-way: what 360Learning applied stays
    known, and nothing that was not sent is reported as failed."""
    outcomes: dict[str, Outcome] = {}
    try:
        yield outcomes
    finally:
        record(outcomes)

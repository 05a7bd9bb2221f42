"""Write ahead, then reconcile: how the content runs use :mod:`learnsync.store.intents`.

A content sync and a filter save record an intent before each request that changes courses
(:class:`WriteAhead`: the bulk upsert, the bulk archive, the restores) and settle the run's
intents once the outcomes are in the store. A run stopped by an error leaves them open: the
outcomes it recorded may not be the whole truth (a batch whose answer never came). So does a
``kill -9``.

The next content sync or filter save of the integration, before it plans, reads the open intents
of earlier runs (:func:`reconcile_interrupted`): when one archived or restored courses, it asks
360Learning which of the group's courses are archived now; :func:`learnsync.diff.reconcile.
reconcile_content` says what the store must hold (an archived state or ``active``; an upsert's
items sent again), the corrections are saved, the intents settled, and the report warns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from learnsync.diff.reconcile import content_intents, needs_course_status, reconcile_content
from learnsync.model.ports import ThreeSixtyTarget
from learnsync.store.intents import Intents
from learnsync.store.repository import ContentItemState, Store
from learnsync.sync.integration import IntegrationHandle


class WriteAhead:
    """The intents of one run of one integration: :meth:`record` before a request,
    :meth:`settle` once every outcome is stored."""

    def __init__(self, store: Store, record_id: int, run_id: int) -> None:
        self.intents = Intents(store.engine)
        self.record_id = record_id
        self.run_id = run_id
        self.open: list[int] = []

    def record(self, action: str, items: Iterable[Mapping[str, Any]]) -> None:
        keys = list(items)
        if keys:
            self.open.append(self.intents.record(self.record_id, self.run_id, action, keys))

    def settle(self) -> None:
        for intent_id in self.open:
            self.intents.settle(intent_id)
        self.open.clear()


def course_items(
    states: Mapping[str, ContentItemState], archived_states: Mapping[str, str]
) -> list[dict[str, Any]]:
    """An archive's or a restore's items: ``{externalId, courseId, state}`` (``state``: the
    archived state the course goes to, or comes from)."""
    return [
        {
            "externalId": external_id,
            "courseId": states[external_id].course_id if external_id in states else None,
            "state": state,
        }
        for external_id, state in archived_states.items()
    ]


def reconcile_interrupted(
    store: Store,
    threesixty: ThreeSixtyTarget,
    handle: IntegrationHandle,
    *,
    run_id: int,
    group_id: str,
    warnings: list[str],
) -> None:
    """Before a run plans: reconcile the open content intents of the integration's earlier runs
    with 360Learning — the corrections saved and applied to ``handle.states`` (in place), the
    intents settled, and a warning added to ``warnings`` when an earlier run left any."""
    warning = _reconcile(store, threesixty, handle.record_id, run_id, group_id, handle.states)
    if warning:
        warnings.append(warning)


def _reconcile(
    store: Store,
    threesixty: ThreeSixtyTarget,
    record_id: int,
    run_id: int,
    group_id: str,
    states: dict[str, ContentItemState],
) -> str | None:
    intents = Intents(store.engine)
    open_intents = content_intents(intents.open_for(record_id, before_run=run_id))
    if not open_intents:
        return None
    archived = (
        threesixty.archived_course_ids(group_id) if needs_course_status(open_intents) else set()
    )
    result = reconcile_content(open_intents, states, archived)
    changed: list[ContentItemState] = []
    for correction in result.corrections:
        fields: dict[str, Any] = {}
        if correction.state is not None:
            fields["state"] = correction.state
        if correction.resend:
            fields["sent_hash"] = None  # the plan sends it again (an upsert by externalId)
        state = dataclasses.replace(states[correction.external_id], **fields)
        states[correction.external_id] = state
        changed.append(state)
    if changed:
        store.save_content_items(record_id, changed)
    for intent_id in result.settled:
        intents.settle(intent_id)
    return result.warning()

"""What a run interrupted mid-request did: reconcile its write-ahead intents with 360Learning.

A run records an intent before each request that changes courses (:mod:`learnsync.store.intents`)
and settles it once the outcome is stored. Intents a killed run left behind mean "360Learning may
have done this without the store knowing". Before planning, the next run decides from the truth
360Learning tells (which of the integration's courses are archived now) what the store must say.
Only items stored ``active`` or archived are corrected (others are not the intent's business):

- ``archive`` (to ``archived_filter`` / ``archived_removed``): archived in 360Learning → that
  archived state; not archived → ``active``.
- ``restore`` (from an archived state): not archived → ``active``; still archived → stays
  archived (back to the intent's archived state when the store already said ``active``).
- ``upsert``: the payload may or may not have been applied, so the item is sent again (an
  upsert by ``externalId`` is idempotent).

Pure: it reads intents and stored states, and returns the corrections; the pipeline writes them.
Statistics imports (``import``) are not content: :func:`content_intents` leaves them out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from learnsync.diff.content import ACTIVE, ARCHIVED_FILTER, ARCHIVED_STATES
from learnsync.model.state import ContentState

CONTENT_ACTIONS = frozenset({"upsert", "archive", "restore"})


class IntentView(Protocol):
    """An open intent as the reconciliation reads it (met by the store's ``IntentRecord``)."""

    @property
    def id(self) -> int: ...
    @property
    def run_id(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def items(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Correction:
    """The store must say ``state`` for ``external_id`` (``resend``: forget what was sent)."""

    external_id: str
    state: str | None = None  # None: keep the stored state
    resend: bool = False


@dataclass
class ContentReconciliation:
    corrections: list[Correction] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)  # the intents this reconciliation answers
    runs: list[int] = field(default_factory=list)  # the interrupted runs

    def warning(self) -> str | None:
        """One line for the report, ``None`` when no earlier run was interrupted."""
        if not self.settled:
            return None
        runs = ", ".join(str(r) for r in self.runs)
        changed = sum(1 for c in self.corrections if c.state is not None)
        resent = sum(1 for c in self.corrections if c.resend)
        return (
            f"an earlier run was interrupted (run {runs}); what it had asked 360Learning was "
            f"checked: {changed} course states corrected, {resent} courses sent again"
        )


def content_intents(intents: Iterable[IntentView]) -> list[IntentView]:
    return [i for i in intents if i.action in CONTENT_ACTIONS]


def needs_course_status(intents: Iterable[IntentView]) -> bool:
    """Whether the reconciliation needs to know which courses are archived in 360Learning."""
    return any(i.action in ("archive", "restore") for i in intents)


def reconcile_content(
    intents: Sequence[IntentView],
    states: Mapping[str, ContentState],
    archived_course_ids: Collection[str],
) -> ContentReconciliation:
    """The corrections the open content ``intents`` call for, oldest intent first (a later
    intent about the same course wins, as its request came later)."""
    result = ContentReconciliation()
    decided: dict[str, Correction] = {}
    for intent in content_intents(intents):
        for item in intent.items:
            external_id = str(item["externalId"])
            stored = states.get(external_id)
            correction = _correct(intent.action, item, stored, archived_course_ids)
            if correction is not None:
                decided[external_id] = correction
        result.settled.append(intent.id)
        if intent.run_id not in result.runs:
            result.runs.append(intent.run_id)
    result.corrections = list(decided.values())
    return result


def _correct(
    action: str,
    item: Mapping[str, Any],
    stored: ContentState | None,
    archived_course_ids: Collection[str],
) -> Correction | None:
    external_id = str(item["externalId"])
    if action == "upsert":
        return Correction(external_id, resend=True) if stored is not None else None
    if stored is None or (stored.state != ACTIVE and stored.state not in ARCHIVED_STATES):
        return None  # nothing to correct; the next plan decides from what is stored
    course_id = item.get("courseId") or stored.course_id
    archived = course_id is not None and course_id in archived_course_ids
    wanted = str(item.get("state") or "")
    if not archived:
        target = ACTIVE
    elif stored.state in ARCHIVED_STATES:
        target = stored.state
    else:  # stored active, archived in 360Learning: the archive (or a failed restore) holds
        target = wanted if wanted in ARCHIVED_STATES else ARCHIVED_FILTER
    return Correction(external_id, state=target) if target != stored.state else None

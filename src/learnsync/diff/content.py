"""Content diff (docs/sync-rules.md#content-sync): per Coursera item, create / update /
unchanged / archive / restore.

Pure: it reads the mapped catalog, the stored state of every item and the filters, and returns a
:class:`ContentPlan`. Nothing here talks to an API or the store: a stored state is anything that
has the fields of :class:`learnsync.model.state.ContentState` (the store's ``ContentItemState``
does), and the plan hands the very same objects back.

States of a stored item (``ContentState.state``):

- ``active``: a live course in 360Learning (``course_id`` known). If its last write failed,
  ``last_error`` says so and its ``sent_hash`` is still the last accepted one, so it is re-sent.
- ``archived_filter`` / ``archived_removed``: archived by learnsync because a filter excluded it /
  because it left Coursera (``archive_removed`` on).
- ``skipped``: never created; the mapping skips it (``skip_reason``).
- ``failed``: never created; its last create failed (``last_error``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from learnsync.filter.rules import Filters
from learnsync.mapping.content import MappedCourse, SkippedCourse
from learnsync.mapping.hashing import payload_hash
from learnsync.model.state import ContentState

ACTIVE = "active"
ARCHIVED_FILTER = "archived_filter"
ARCHIVED_REMOVED = "archived_removed"
SKIPPED = "skipped"
FAILED = "failed"
ARCHIVED_STATES = frozenset({ARCHIVED_FILTER, ARCHIVED_REMOVED})

# refuse (without --force) to archive more than this share of the active courses
# (docs/sync-rules.md#content-that-leaves-coursera)
ARCHIVE_GUARD_RATIO = 0.20


@dataclass(frozen=True, slots=True)
class Upsert:
    """One course to send to the bulk upsert, and why."""

    course: MappedCourse
    hash: str
    action: str  # "create" | "update" | "restore"
    previous: ContentState | None


@dataclass(slots=True)
class ContentPlan:
    upserts: list[Upsert] = field(default_factory=list)
    archive_filter: list[ContentState] = field(default_factory=list)
    archive_removed: list[ContentState] = field(default_factory=list)
    unchanged: list[MappedCourse] = field(default_factory=list)
    excluded: list[MappedCourse] = field(default_factory=list)  # filtered out, never created
    skipped: list[SkippedCourse] = field(default_factory=list)
    seen: dict[str, MappedCourse | SkippedCourse] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    active_before: int = 0

    def count(self, action: str) -> int:
        return sum(1 for u in self.upserts if u.action == action)

    @property
    def archive_guard_tripped(self) -> bool:
        """True when archiving removed content would exceed 20 % of the active courses."""
        if not self.archive_removed:
            return False
        return len(self.archive_removed) > ARCHIVE_GUARD_RATIO * max(self.active_before, 1)


def is_live(state: ContentState) -> bool:
    """Whether the item is an active course in 360Learning."""
    return state.state == ACTIVE and state.course_id is not None


def dedupe(rows: Iterable[MappedCourse | SkippedCourse]) -> dict[str, MappedCourse | SkippedCourse]:
    """Keep the first occurrence of each externalId (a duplicate is not a skip:
    docs/mapping.md#content-mapping)."""
    seen: dict[str, MappedCourse | SkippedCourse] = {}
    for row in rows:
        if row.external_id and row.external_id not in seen:
            seen[row.external_id] = row
    return seen


def plan_content(
    catalog: Mapping[str, MappedCourse | SkippedCourse],
    states: Mapping[str, ContentState],
    filters: Filters,
    *,
    archive_removed: bool,
) -> ContentPlan:
    """Plan one content sync from a complete catalog fetch (deduplicated by :func:`dedupe`)."""
    plan = ContentPlan(seen=dict(catalog))
    plan.active_before = sum(1 for s in states.values() if is_live(s))

    for external_id, row in catalog.items():
        previous = states.get(external_id)
        if isinstance(row, SkippedCourse):
            plan.skipped.append(row)
            continue
        if not filters.matches(row.language_code, row.content_type):
            if previous is not None and is_live(previous):
                plan.archive_filter.append(previous)
            else:
                plan.excluded.append(row)
            continue
        digest = payload_hash(row.payload)
        if previous is None or previous.course_id is None:
            plan.upserts.append(Upsert(row, digest, "create", previous))
        elif previous.state in ARCHIVED_STATES:
            plan.upserts.append(Upsert(row, digest, "restore", previous))
        elif previous.sent_hash != digest:
            plan.upserts.append(Upsert(row, digest, "update", previous))
        else:
            plan.unchanged.append(row)

    for external_id, previous in states.items():
        if external_id in catalog or not is_live(previous):
            continue
        # content that left Coursera: judged by its last known metadata
        if not filters.matches(previous.language_code, previous.content_type):
            plan.archive_filter.append(previous)
        elif archive_removed:
            plan.archive_removed.append(previous)
    return plan


@dataclass(slots=True)
class FilterChangePlan:
    archive: list[ContentState] = field(default_factory=list)
    restore: list[ContentState] = field(default_factory=list)


def plan_filter_change(states: Mapping[str, ContentState], filters: Filters) -> FilterChangePlan:
    """What saving ``filters`` does at once (docs/sync-rules.md#filters).

    Every active synchronized course that no longer matches is archived, judged by its last known
    Coursera metadata; content archived by a filter that matches again and is still in the catalog
    is restored; matching content is left unchanged.
    """
    plan = FilterChangePlan()
    for state in states.values():
        matches = filters.matches(state.language_code, state.content_type)
        if is_live(state) and not matches:
            plan.archive.append(state)
        elif (
            state.state == ARCHIVED_FILTER
            and matches
            and state.in_catalog
            and state.course_id is not None
        ):
            plan.restore.append(state)
    return plan

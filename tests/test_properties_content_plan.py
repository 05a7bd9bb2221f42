"""Property: the content plan is idempotent.

Plan a content sync (:func:`~learnsync.diff.content.plan_content`) from any catalog, any stored
states and any filters; record what the plan does as a successful run records it (the same ledger
calls as :mod:`learnsync.sync.content`: every write accepted); plan again with the same catalog and
filters: nothing is left to write — no upsert, no archive — and every course that matches the
filters is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given
from hypothesis import strategies as st

from learnsync.diff.content import (
    ACTIVE,
    ARCHIVED_FILTER,
    ARCHIVED_REMOVED,
    FAILED,
    SKIPPED,
    ContentPlan,
    plan_content,
)
from learnsync.filter.rules import Filters
from learnsync.load.bulk import Outcome
from learnsync.mapping.content import MISSING_LAUNCH_URL, MISSING_NAME, MappedCourse, SkippedCourse
from learnsync.mapping.hashing import payload_hash
from learnsync.store.records import ContentItemState
from learnsync.sync.content import _record_upserts
from learnsync.sync.ledger import ContentLedger
from learnsync.sync.report import ContentReport

IDS = ["Course~a", "Course~b", "Course~c", "Specialization~d", "Course~e", "Course~f"]
LANGUAGES = ["en", "EN", "fr", "pt-BR", None]
TYPES = ["Course", "course", "Specialization", None]
NAMES = ["Alpha", "Beta"]


def _payload(external_id: str, name: str) -> dict[str, str]:
    return {"externalId": external_id, "name": name}


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, MappedCourse | SkippedCourse]:
    catalog: dict[str, MappedCourse | SkippedCourse] = {}
    for external_id in draw(st.lists(st.sampled_from(IDS), unique=True)):
        language = draw(st.sampled_from(LANGUAGES))
        kind = draw(st.sampled_from(TYPES))
        if draw(st.integers(0, 4)) == 0:
            reason = draw(st.sampled_from([MISSING_NAME, MISSING_LAUNCH_URL]))
            catalog[external_id] = SkippedCourse(external_id, reason, language, kind, None)
        else:
            payload = _payload(external_id, draw(st.sampled_from(NAMES)))
            catalog[external_id] = MappedCourse(external_id, payload, language, kind)
    return catalog


@st.composite
def stored_states(draw: st.DrawFn) -> dict[str, ContentItemState]:
    states: dict[str, ContentItemState] = {}
    for external_id in draw(st.lists(st.sampled_from(IDS), unique=True)):
        sent = draw(
            st.sampled_from(
                [None, "stale", *(payload_hash(_payload(external_id, n)) for n in NAMES)]
            )
        )
        states[external_id] = ContentItemState(
            external_id=external_id,
            state=draw(
                st.sampled_from([ACTIVE, ARCHIVED_FILTER, ARCHIVED_REMOVED, SKIPPED, FAILED])
            ),
            course_id=draw(st.sampled_from([None, f"id-{external_id}"])),
            sent_hash=sent,
            language_code=draw(st.sampled_from(LANGUAGES)),
            content_type=draw(st.sampled_from(TYPES)),
            in_catalog=draw(st.booleans()),
        )
    return states


FILTERS = st.builds(
    Filters,
    st.frozensets(st.sampled_from(["en", "fr", "pt_BR"]), max_size=2),
    st.frozensets(st.sampled_from(["Course", "specialization"]), max_size=2),
)


def record(
    plan: ContentPlan, states: Mapping[str, ContentItemState]
) -> dict[str, ContentItemState]:
    """The states a content run stores after ``plan``, every write accepted by 360Learning (the
    steps of ``learnsync.sync.content._execute`` and ``_write``)."""
    ledger = ContentLedger(states, ContentReport())
    # what the catalog says now: metadata the filters judge on, presence
    for external_id, row in plan.seen.items():
        if external_id not in ledger.states:
            ledger.put(ContentItemState(external_id=external_id, state=SKIPPED))
        ledger.update(
            external_id,
            language_code=row.language_code,
            content_type=row.content_type,
            in_catalog=True,
            skip_reason=row.reason if isinstance(row, SkippedCourse) else None,
        )
    for external_id, previous in states.items():
        if external_id not in plan.seen and previous.in_catalog:
            ledger.update(external_id, in_catalog=False)
    # upserts (360Learning answers each with the course's id), then un-archives and archives
    upserted = {
        u.course.external_id: Outcome(
            u.course.external_id,
            True,
            resource_id=(u.previous.course_id if u.previous else None)
            or f"new-{u.course.external_id}",
        )
        for u in plan.upserts
    }
    restore_ids = _record_upserts(plan, upserted, ledger)
    ledger.apply_restores({key: Outcome(key, True) for key in restore_ids})
    to_archive = {s.external_id: ARCHIVED_FILTER for s in plan.archive_filter}
    to_archive.update({s.external_id: ARCHIVED_REMOVED for s in plan.archive_removed})
    ledger.apply_archives(to_archive, {key: Outcome(key, True) for key in to_archive})
    return ledger.states


@given(
    catalog=catalogs(),
    states=stored_states(),
    filters=FILTERS,
    archive_removed=st.booleans(),
)
def test_planning_again_after_a_run_writes_nothing(
    catalog: dict[str, MappedCourse | SkippedCourse],
    states: dict[str, ContentItemState],
    filters: Filters,
    archive_removed: bool,
) -> None:
    first = plan_content(catalog, states, filters, archive_removed=archive_removed)
    after = record(first, states)
    again = plan_content(catalog, after, filters, archive_removed=archive_removed)
    assert [(u.course.external_id, u.action) for u in again.upserts] == []
    assert [s.external_id for s in again.archive_filter] == []
    assert [s.external_id for s in again.archive_removed] == []
    matching = {
        key
        for key, row in catalog.items()
        if isinstance(row, MappedCourse) and filters.matches(row.language_code, row.content_type)
    }
    assert {row.external_id for row in again.unchanged} == matching
    # and a third plan is the second one again
    assert record(again, after) == after

"""Reconciling an interrupted run's intents (learnsync.diff.reconcile): table and property."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from learnsync.diff.reconcile import Correction, needs_course_status, reconcile_content
from learnsync.store.records import ContentItemState


@dataclass(frozen=True)
class FakeIntent:
    id: int
    run_id: int
    action: str
    items: list[dict[str, Any]]


def _state(state: str, course_id: str | None = "c1") -> ContentItemState:
    return ContentItemState("Course~a", state, course_id=course_id, sent_hash="h")


ARCHIVE = {"externalId": "Course~a", "courseId": "c1", "state": "archived_filter"}
RESTORE = {"externalId": "Course~a", "courseId": "c1", "state": "archived_filter"}


@pytest.mark.parametrize(
    ("action", "item", "stored", "archived_in_360", "expected"),
    [
        # archive killed after 360Learning applied it, before the store recorded it
        ("archive", ARCHIVE, "active", True, Correction("Course~a", state="archived_filter")),
        # archive killed before 360Learning applied it
        ("archive", ARCHIVE, "active", False, None),
        # the store recorded the archive but 360Learning has it live (a failed archive)
        ("archive", ARCHIVE, "archived_filter", False, Correction("Course~a", state="active")),
        ("archive", ARCHIVE, "archived_filter", True, None),
        (
            "archive",
            {**ARCHIVE, "state": "archived_removed"},
            "active",
            True,
            Correction("Course~a", state="archived_removed"),
        ),
        # restore applied by 360Learning, not recorded
        ("restore", RESTORE, "archived_filter", False, Correction("Course~a", state="active")),
        ("restore", RESTORE, "archived_filter", True, None),
        # restore recorded but not applied
        ("restore", RESTORE, "active", True, Correction("Course~a", state="archived_filter")),
        ("restore", RESTORE, "active", False, None),
        # other states are not the intent's business
        ("archive", ARCHIVE, "skipped", True, None),
        ("archive", ARCHIVE, "archived_removed", True, None),  # archived either way: kept
        ("restore", RESTORE, "failed", False, None),
        # an upsert may or may not have been applied: send it again
        (
            "upsert",
            {"externalId": "Course~a"},
            "active",
            False,
            Correction("Course~a", resend=True),
        ),
    ],
)
def test_an_intent_and_the_truth_in_360learning_decide_the_stored_state(
    action: str,
    item: dict[str, Any],
    stored: str,
    archived_in_360: bool,
    expected: Correction | None,
) -> None:
    intents = [FakeIntent(1, 9, action, [item])]
    result = reconcile_content(
        intents, {"Course~a": _state(stored)}, {"c1"} if archived_in_360 else set()
    )
    assert result.corrections == ([expected] if expected else [])
    assert result.settled == [1] and result.runs == [9]


def test_items_the_store_never_recorded_and_statistics_imports_are_left_alone() -> None:
    intents = [
        FakeIntent(1, 3, "upsert", [{"externalId": "Course~new"}]),
        FakeIntent(2, 3, "archive", [{"externalId": "Course~gone", "courseId": "c9"}]),
        FakeIntent(3, 3, "import", [{"externalId": "Course~a", "learner": "a@x.io"}]),
    ]
    result = reconcile_content(intents, {}, {"c9"})
    assert result.corrections == []
    assert result.settled == [1, 2]  # the import intent is the statistics pipeline's
    assert not needs_course_status([intents[0], intents[2]])
    assert needs_course_status(intents)


def test_a_later_intent_about_the_same_course_wins_and_the_warning_counts() -> None:
    intents = [
        FakeIntent(1, 4, "archive", [ARCHIVE]),
        FakeIntent(2, 5, "restore", [RESTORE]),
    ]
    result = reconcile_content(intents, {"Course~a": _state("archived_filter")}, set())
    assert result.corrections == [Correction("Course~a", state="active")]
    assert result.warning() == (
        "an earlier run was interrupted (run 4, 5); what it had asked 360Learning was checked: "
        "1 course states corrected, 0 courses sent again"
    )
    assert reconcile_content([], {}, set()).warning() is None


STATES = ("active", "archived_filter", "archived_removed")


@given(
    actions=st.lists(st.sampled_from(("archive", "restore")), min_size=1, max_size=4),
    stored=st.sampled_from(STATES),
    archived=st.booleans(),
    wanted=st.sampled_from(("archived_filter", "archived_removed")),
)
def test_after_reconciliation_the_store_agrees_with_360learning(
    actions: list[str], stored: str, archived: bool, wanted: str
) -> None:
    """Whatever sequence of archive/restore intents a killed run left, the stored state ends
    archived exactly when the course is archived in 360Learning."""
    item = {"externalId": "Course~a", "courseId": "c1", "state": wanted}
    intents = [FakeIntent(i, 1, action, [item]) for i, action in enumerate(actions)]
    result = reconcile_content(intents, {"Course~a": _state(stored)}, {"c1"} if archived else set())
    final = next((c.state for c in result.corrections if c.state), stored)
    assert (final in ("archived_filter", "archived_removed")) == archived

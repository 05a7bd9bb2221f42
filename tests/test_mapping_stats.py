"""docs/mapping.md#statistics-mapping: one table row per rule, boundaries included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from learnsync.diff.stats import compact_payload, from_ms, rank, to_ms
from learnsync.mapping.stats import (
    Compact,
    SkippedStat,
    course_external_id,
    is_email,
    iso_utc,
    learner_email,
    map_compact,
    round_half_up,
)
from learnsync.model.coursera import EnrollmentRow

ENROLLED = 1_568_138_449_555  # 2019-09-10T18:00:49.555Z
LAST = 1_569_229_361_000  # 2019-09-23T09:02:41.000Z
FIRST_SEEN = datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
COMPLETED_SEEN = datetime(2025, 2, 3, 4, 5, 6, 789_000, tzinfo=UTC)
KEY = "Course~r0GnHOZaEees-Q6jQMxlrg"
SYNCED = frozenset({KEY})

BASE: dict[str, Any] = {
    "id": "learner@fake.com~Course~r0GnHOZaEees-Q6jQMxlrg",
    "programId": "gywzv9MFEeml3w46OqZe-A",
    "externalId": "learner@fake.com",
    "email": "other@fake.com",
    "contentId": "r0GnHOZaEees-Q6jQMxlrg",
    "contentType": "Course",
    "isCompleted": False,
    "overallProgress": 37,
    "approxTotalCourseHrs": 2.98,
    "enrolledAt": ENROLLED,
    "lastActivityAt": LAST,
    "completedAt": 1_568_748_366_896,
}


def enrollment(**changes: Any) -> EnrollmentRow:
    data = dict(BASE)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return EnrollmentRow.model_validate(data)


class Mapped:
    """A mapped row as these tests read it: the compact item, its dates as datetimes."""

    def __init__(self, item: Compact) -> None:
        self.item = item
        self.learner = item.learner
        self.completed = item.completed
        self.progress = item.progress
        self.time_spent = item.time_spent
        self.first_activity_at = from_ms(item.first)
        self.last_activity_at = from_ms(item.last)

    def payload(self) -> dict[str, Any]:
        return compact_payload(self.item)


def run(synchronized: Any = SYNCED, **changes: Any) -> Mapped | SkippedStat:
    """Map the row; the pair's stored moments are FIRST_SEEN and COMPLETED_SEEN."""
    result = map_compact(
        enrollment(**changes),
        synchronized=synchronized,
        moments=lambda *_: (to_ms(FIRST_SEEN), to_ms(COMPLETED_SEEN)),
        now_ms=0,
    )
    return result if isinstance(result, SkippedStat) else Mapped(result)


def stat(**changes: Any) -> Mapped:
    result = run(**changes)
    assert isinstance(result, Mapped), result
    return result


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_doc_sample_payload() -> None:
    assert stat().payload() == {
        "courseIdentifier": {"type": "externalId", "value": KEY},
        "userIdentifier": {"type": "mail", "value": "learner@fake.com"},
        "progress": 37,
        "timeSpent": 10_728_000,
        "firstActivityAt": "2019-09-10T18:00:49.555Z",
        "lastActivityAt": "2019-09-23T09:02:41.000Z",
    }


def test_payload_never_has_force_new_or_completed_at() -> None:
    payload = stat(isCompleted=True).payload()
    assert set(payload) == {
        "courseIdentifier", "userIdentifier", "progress", "timeSpent",
        "firstActivityAt", "lastActivityAt",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, KEY),
        ({"contentId": " r0GnHOZaEees-Q6jQMxlrg "}, KEY),
        ({"contentId": "Course~r0GnHOZaEees-Q6jQMxlrg"}, KEY),  # prefixed id not doubled
        ({"contentType": "Specialization", "contentId": "s1"}, "Specialization~s1"),
        ({"contentId": ...}, KEY),  # recovered from id "{externalId}~{type}~{contentId}"
        ({"contentType": ...}, KEY),
        ({"contentId": ..., "id": ...}, None),
        ({"contentId": ..., "id": "opaque"}, None),
    ],
)
def test_course_identifier(changes: dict[str, Any], expected: str | None) -> None:
    assert course_external_id(enrollment(**changes)) == expected


@pytest.mark.parametrize(
    ("external_id", "email", "learner"),
    [
        ("learner@fake.com", "other@fake.com", "learner@fake.com"),
        ("  Learner@Fake.COM ", None, "learner@fake.com"),
        ("employee-123", "Mail@Corp.example", "mail@corp.example"),
        (..., " mail@corp.example ", "mail@corp.example"),
        ("", "mail@corp.example", "mail@corp.example"),
        (12345, "mail@corp.example", "mail@corp.example"),  # numeric externalId
        ("a@b", "mail@corp.example", "mail@corp.example"),  # no dot in the domain
        ("a b@c.com", "mail@corp.example", "mail@corp.example"),
        ("a@@c.com", "mail@corp.example", "mail@corp.example"),
    ],
)
def test_learner(external_id: Any, email: Any, learner: str) -> None:
    result = stat(externalId=external_id, email=email)
    assert result.learner == learner
    assert result.payload()["userIdentifier"] == {"type": "mail", "value": learner}
    assert learner_email(enrollment(externalId=external_id, email=email)) == learner


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a@b.co", True),
        ("first.last+tag@sub.example.org", True),
        ("a@b", False),
        ("@b.co", False),
        ("a@", False),
        ("a@b@c.co", False),
        ("a@.b.co", False),
        ("a@b.co.", False),
        ("a@b..co", False),
        ("a b@c.co", False),
        ("a@b.co\t", False),
        ("", False),
        ("plain", False),
    ],
)
def test_is_email(value: str, ok: bool) -> None:
    assert is_email(value) is ok


@pytest.mark.parametrize(
    ("external_id", "email", "skip_learner"),
    [
        ("employee-123", "not-an-email", "employee-123"),
        ("employee-123", ..., "employee-123"),
        (..., ..., ""),
        ("", "", ""),
    ],
)
def test_no_learner_email(external_id: Any, email: Any, skip_learner: str) -> None:
    result = run(externalId=external_id, email=email)
    assert result == SkippedStat(KEY, skip_learner, "no_learner_email")
    assert learner_email(enrollment(externalId=external_id, email=email)) is None


def test_course_not_synchronized_wins_over_no_learner_email() -> None:
    assert run(synchronized=frozenset()).reason == "course_not_synchronized"  # type: ignore[union-attr]
    both = run(synchronized={"Course~other"}, externalId="employee-1", email=None)
    assert both == SkippedStat(KEY, "employee-1", "course_not_synchronized")


def test_missing_content_id() -> None:
    result = run(contentId=..., id=...)
    assert isinstance(result, SkippedStat)
    assert (result.external_id, result.reason) == ("", "missing_content_id")


@pytest.mark.parametrize(
    ("completed", "overall", "expected"),
    [
        (True, 37, 100),
        (True, None, 100),
        (True, 0, 100),
        ("true", 10, 100),  # tolerant model coerces the string
        (False, None, 50),
        (None, None, 50),  # isCompleted missing = not completed
        (..., None, 50),
        (False, 37, 37),
        (False, 0, 0),
        (False, 100, 100),
        (False, 2.5, 3),  # half up, not banker's (round(2.5) == 2)
        (False, 0.5, 1),
        (False, 3.5, 4),
        (False, 2.4999, 2),
        (False, 99.5, 100),
        (False, 0.49999999999999994, 0),
        (False, -5, 0),  # clamped
        (False, -0.4, 0),
        (False, 150, 100),
        (False, "42.5", 43),  # numeric string coerced by the model
        (None, 12, 12),
    ],
)
def test_progress(completed: Any, overall: Any, expected: int) -> None:
    assert stat(isCompleted=completed, overallProgress=overall).progress == expected


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (2.98, 10_728_000),
        (1, 3_600_000),
        (0.5, 1_800_000),
        (1.5e-7, 1),  # 0.54 ms → rounds to 1
        (1.3e-7, 1),  # 0.468 ms → 0, raised to the minimum 1
        (4.2e-7, 2),  # 1.512 ms → 2 (half up)
        (0, 1),
        (-3, 1),
        (None, 1),
        (..., 1),
        (5e301, 1),  # the milliseconds overflow a float: unusable, like a missing value
        (1e16, 1),  # over 2^53 - 1 ms (and a 64-bit integer): unusable too
        (2.5e6, 9_000_000_000_000),  # ~285 years: still exact
        (1e6, 3_600_000_000_000),
    ],
)
def test_time_spent(hours: Any, expected: int) -> None:
    assert stat(approxTotalCourseHrs=hours).time_spent == expected


def test_round_half_up() -> None:
    assert [round_half_up(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 2.49)] == [1, 2, 3, 0, -1, 2]


E = datetime(2019, 9, 10, 18, 0, 49, 555_000, tzinfo=UTC)
L = datetime(2019, 9, 23, 9, 2, 41, tzinfo=UTC)


@pytest.mark.parametrize(
    ("completed", "enrolled", "last", "first_expected", "last_expected"),
    [
        # completed: lastActivityAt when present, else the stored "first seen completed"
        (True, ENROLLED, LAST, E, L),
        (True, ENROLLED, ..., E, COMPLETED_SEEN),
        (True, ..., LAST, L, L),
        (True, ..., ..., FIRST_SEEN, COMPLETED_SEEN),
        # not completed: lastActivityAt, else firstActivityAt
        (False, ENROLLED, LAST, E, L),
        (False, ENROLLED, ..., E, E),
        (False, ..., LAST, L, L),
        (False, ..., ..., FIRST_SEEN, FIRST_SEEN),
        (None, ..., ..., FIRST_SEEN, FIRST_SEEN),
        # never earlier than firstActivityAt
        (False, LAST, ENROLLED, L, L),
        (True, LAST, ENROLLED, L, L),
        (True, ms(COMPLETED_SEEN) + 1000, ..., COMPLETED_SEEN + timedelta(seconds=1),
         COMPLETED_SEEN + timedelta(seconds=1)),
    ],
)  # fmt: skip
def test_activity_dates(
    completed: Any, enrolled: Any, last: Any, first_expected: datetime, last_expected: datetime
) -> None:
    result = stat(isCompleted=completed, enrolledAt=enrolled, lastActivityAt=last)
    assert result.first_activity_at == first_expected
    assert result.last_activity_at == last_expected
    assert result.first_activity_at.tzinfo is not None
    assert result.last_activity_at >= result.first_activity_at


def test_completed_at_is_not_used() -> None:
    a = stat(isCompleted=True, lastActivityAt=..., completedAt=LAST)
    b = stat(isCompleted=True, lastActivityAt=..., completedAt=...)
    assert a.last_activity_at == b.last_activity_at == COMPLETED_SEEN


def test_stored_moments_in_another_zone_come_out_utc() -> None:
    paris = timezone(timedelta(hours=1))
    stored = to_ms(datetime(2025, 1, 1, 10, 0, tzinfo=paris))  # how the pipeline reads them
    result = map_compact(
        enrollment(enrolledAt=..., lastActivityAt=...),
        synchronized=SYNCED,
        moments=lambda *_: (stored, None),
        now_ms=0,
    )
    assert isinstance(result, Compact)
    assert compact_payload(result)["firstActivityAt"] == "2025-01-01T09:00:00.000Z"


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ms(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2025, 7, 8, 22, 0, tzinfo=UTC), "2025-07-08T22:00:00.000Z"),
        (datetime(2025, 7, 8, 22, 0, 0, 999_999, tzinfo=UTC), "2025-07-08T22:00:00.999Z"),
        (datetime(2025, 7, 9, 0, 30, tzinfo=timezone(timedelta(hours=2))),
         "2025-07-08T22:30:00.000Z"),
    ],
)  # fmt: skip
def test_iso_utc(moment: datetime, text: str) -> None:
    assert iso_utc(moment) == text


def test_out_of_range_timestamp_counts_as_missing() -> None:
    result = stat(enrolledAt=10**20, lastActivityAt=...)
    assert result.first_activity_at == FIRST_SEEN


def _m(completed: bool, progress: int, last_day: int) -> int:
    """The merge rank of a row (the staging database keeps the highest; a tie, the first)."""
    return rank(completed, progress, to_ms(datetime(2025, 1, last_day, tzinfo=UTC)))


@pytest.mark.parametrize(
    ("a", "b", "winner"),
    [
        (_m(True, 100, 1), _m(False, 99, 9), "a"),  # completed over not completed
        (_m(False, 99, 9), _m(True, 100, 1), "b"),
        (_m(False, 40, 1), _m(False, 60, 1), "b"),  # then higher progress
        (_m(False, 60, 1), _m(False, 40, 9), "a"),
        (_m(False, 40, 1), _m(False, 40, 2), "b"),  # then later activity
        (_m(True, 100, 5), _m(True, 100, 2), "a"),
        (_m(False, 40, 3), _m(False, 40, 3), "tie"),  # a tie keeps the first row
    ],
)
def test_merge_order(a: int, b: int, winner: str) -> None:
    assert (a > b, a < b) == (winner == "a", winner == "b")


@pytest.mark.parametrize(
    "millis",
    [0, 1, 999, 1_000, 1_568_138_449_555, 1_700_000_000_001, 4_102_444_799_999, 4_294_967_295_999],
)
def test_epoch_ms_is_exact_to_the_millisecond(millis: int) -> None:
    result = stat(enrolledAt=millis, lastActivityAt=millis)
    exact = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    assert result.first_activity_at == exact
    assert result.payload()["firstActivityAt"] == exact.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{exact.microsecond // 1000:03d}Z"
    )

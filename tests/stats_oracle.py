"""The tests' reference for the statistics mapping (docs/mapping.md#statistics-mapping), on
datetimes.

Production maps rows in one way only: :func:`learnsync.mapping.stats.map_compact`, on epoch
milliseconds. This module restates the two date rules and the merge order of the table the plain way
(aware datetimes, one comparison per rule), so the tests can check the production code against a
second, independent reading of the table. The identity, progress, time-spent and skip rules have
no second form: they are the production functions, called here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from learnsync.mapping.stats import (
    SkippedStat,
    course_external_id,
    iso_utc,
    learner_email,
    progress,
    skipped,
    time_spent,
)


@dataclass(frozen=True, slots=True)
class MappedStat:
    """One (course, learner) statistic ready to import."""

    external_id: str  # "{contentType}~{contentId}"
    learner: str  # the e-mail sent as userIdentifier.value (trimmed, lower-cased)
    completed: bool
    progress: int
    time_spent: int  # ms, >= 1
    first_activity_at: datetime  # aware UTC
    last_activity_at: datetime  # aware UTC, never earlier than first_activity_at

    def payload(self) -> dict[str, Any]:
        """The ``ImportExternalStatisticsDTO``; ``forceNew`` is never sent."""
        return {
            "courseIdentifier": {"type": "externalId", "value": self.external_id},
            "userIdentifier": {"type": "mail", "value": self.learner},
            "progress": self.progress,
            "timeSpent": self.time_spent,
            "firstActivityAt": iso_utc(self.first_activity_at),
            "lastActivityAt": iso_utc(self.last_activity_at),
        }


def from_epoch_ms(value: int | None) -> datetime | None:
    """Coursera epoch milliseconds → aware UTC datetime, exactly; ``None`` when missing or out of
    a datetime's range (years 1 to 9999)."""
    if value is None:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    except OverflowError:
        return None


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("first_seen_at and completed_seen_at must be timezone-aware")
    return moment.astimezone(UTC)


def first_activity_at(row: Any, first_seen_at: datetime) -> datetime:
    # firstActivityAt ← enrolledAt; else the row's lastActivityAt; else when learnsync first saw
    # the (course, learner) pair
    return (
        from_epoch_ms(row.enrolled_at)
        or from_epoch_ms(row.last_activity_at)
        or _aware_utc(first_seen_at)
    )


def last_activity_at(row: Any, first: datetime, completed_seen_at: datetime) -> datetime:
    # lastActivityAt ← completed: lastActivityAt, else when learnsync first saw it completed;
    # not completed: lastActivityAt, else firstActivityAt; never earlier than firstActivityAt
    last = from_epoch_ms(row.last_activity_at)
    if last is None:
        last = _aware_utc(completed_seen_at) if row.is_completed is True else first
    return last if last >= first else first


def map_enrollment(
    row: Any,
    *,
    synchronized: Any,
    first_seen_at: datetime,
    completed_seen_at: datetime,
) -> MappedStat | SkippedStat:
    """Map one row, or skip it: ``missing_content_id``, then ``course_not_synchronized`` (which wins
    over ``no_learner_email`` when both apply), then ``no_learner_email``."""
    external_id = course_external_id(row)
    learner = learner_email(row)
    if external_id is None or learner is None or external_id not in synchronized:
        return skipped(row, external_id, learner, synchronized)
    first = first_activity_at(row, first_seen_at)
    return MappedStat(
        external_id=external_id,
        learner=learner,
        completed=row.is_completed is True,
        progress=progress(row),
        time_spent=time_spent(row),
        first_activity_at=first,
        last_activity_at=last_activity_at(row, first, completed_seen_at),
    )


def more_advanced(a: MappedStat, b: MappedStat) -> MappedStat:
    """The merge of rows of one (course, learner): completed over not completed, then higher
    progress, then later activity (lastActivityAt); a tie keeps ``a``."""
    if a.completed != b.completed:
        return a if a.completed else b
    if a.progress != b.progress:
        return a if a.progress > b.progress else b
    return b if b.last_activity_at > a.last_activity_at else a

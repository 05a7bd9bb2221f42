"""Coursera ``enrollmentReports`` row → 360Learning ``ImportExternalStatisticsDTO``.

One named function per row of the statistics table (docs/mapping.md#statistics-mapping;
``STATS_RULES`` lists them in the table's order).
Pure: the two moments that depend on "now" (when learnsync first saw the pair, and first saw it
completed) are passed in by the pipeline, which stores them so the dates never drift. Built to map a
million rows in seconds: no regex compilation per call, no pydantic, no copies.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, final

from learnsync.mapping.content import course_key
from learnsync.model.coursera import EnrollmentFields

COURSE_NOT_SYNCHRONIZED = "course_not_synchronized"
NO_LEARNER_EMAIL = "no_learner_email"
MISSING_CONTENT_ID = "missing_content_id"

MS_PER_HOUR = 3_600_000
PROGRESS_WITHOUT_VALUE = 50


_ISO_MS = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds, ``2025-07-08T22:00:00.000Z`` (360Learning's format).

    Formatted by hand: ``isoformat(timespec=...)`` is the slowest step of a million-row run."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return _ISO_MS % (
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
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


@dataclass(frozen=True, slots=True)
class SkippedStat:
    """A row that is never sent, with its reason."""

    external_id: str
    learner: str  # for no_learner_email: the row's externalId as received, "" when absent
    reason: str  # course_not_synchronized | no_learner_email | missing_content_id


# --- helpers ----------------------------------------------------------------------------------


# one "@", a non-empty local part, a domain of non-empty dot-separated labels (at least two), no
# whitespace anywhere; compiled once
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def is_email(value: str) -> bool:
    """A pragmatic e-mail check: exactly one ``@``, a non-empty local part, a domain with a dot
    between non-empty labels, and no whitespace. (Deliverability is 360Learning's business: an
    address it does not know comes back as a per-item error.)"""
    return _EMAIL.fullmatch(value) is not None


def round_half_up(value: float) -> int:
    """Round half up (``2.5`` → ``3``), not Python's banker's rounding. ``value - floor(value)`` is
    exact in binary floating point, so ``0.49999999999999994`` stays ``0``."""
    whole = math.floor(value)
    return int(whole) + (1 if value - whole >= 0.5 else 0)


def from_epoch_ms(value: int | None) -> datetime | None:
    """Coursera epoch milliseconds → aware UTC datetime; ``None`` when missing or out of range.

    ``fromtimestamp(ms / 1000)`` is exact to the millisecond for any date before 2106 (the float's
    error stays under half a microsecond) and twice as fast as adding a ``timedelta``."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("first_seen_at and completed_seen_at must be timezone-aware")
    return moment.astimezone(UTC)


# --- one named rule per row of the statistics table -------------------------------------------


def course_external_id(row: EnrollmentFields) -> str | None:
    # courseIdentifier ← contentType, contentId: "{contentType}~{contentId}", content's key.
    # When a part is missing it is taken from the row's id "{externalId}~{contentType}~{contentId}".
    key = course_key(row.content_type, row.content_id)
    if key is not None or not row.id:
        return key
    parts = row.id.rsplit("~", 2)
    if len(parts) != 3:
        return None
    return course_key(row.content_type or parts[1], row.content_id or parts[2])


def learner_email(row: EnrollmentFields) -> str | None:
    # userIdentifier ← externalId when, trimmed and lower-cased, it is an e-mail; else email
    # likewise; neither → no_learner_email
    for candidate in (row.external_id, row.email):
        if candidate:
            value = candidate.strip().lower()
            if is_email(value):
                return value
    return None


def progress(row: EnrollmentFields) -> int:
    # progress ← isCompleted true → 100; else no overallProgress → 50; else overallProgress
    # rounded half up and clamped to 0..100 (isCompleted missing counts as not completed)
    if row.is_completed is True:
        return 100
    if row.overall_progress is None:
        return PROGRESS_WITHOUT_VALUE
    return min(max(round_half_up(row.overall_progress), 0), 100)


def time_spent(row: EnrollmentFields) -> int:
    # timeSpent (ms) ← approxTotalCourseHrs × 3,600,000 rounded half up; missing, zero,
    # negative or below 1 → 1 (360Learning requires ≥ 1)
    hours = row.approx_total_course_hrs
    if hours is None or hours <= 0:
        return 1
    return max(round_half_up(hours * MS_PER_HOUR), 1)


def first_activity_at(row: EnrollmentFields, first_seen_at: datetime) -> datetime:
    # firstActivityAt ← enrolledAt; else the row's lastActivityAt; else when learnsync first saw
    # the (course, learner) pair (stored by the pipeline)
    return (
        from_epoch_ms(row.enrolled_at)
        or from_epoch_ms(row.last_activity_at)
        or _aware_utc(first_seen_at)
    )


def last_activity_at(
    row: EnrollmentFields, first: datetime, completed_seen_at: datetime
) -> datetime:
    # lastActivityAt ← completed: lastActivityAt, else when learnsync first saw it completed
    # (stored; Coursera's completedAt is not used); not completed: lastActivityAt, else
    # firstActivityAt; never earlier than firstActivityAt
    last = from_epoch_ms(row.last_activity_at)
    if last is None:
        last = _aware_utc(completed_seen_at) if row.is_completed is True else first
    return last if last >= first else first


STATS_RULES: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("courseIdentifier", course_external_id),
    ("userIdentifier", learner_email),
    ("progress", progress),
    ("timeSpent", time_spent),
    ("firstActivityAt", first_activity_at),
    ("lastActivityAt", last_activity_at),
)


def stat_key(row: EnrollmentFields) -> tuple[str | None, str | None]:
    """``(external_id, learner e-mail)`` exactly as :func:`map_enrollment` computes them, so the
    pipeline can look up the stored moments of the pair before mapping."""
    return course_external_id(row), learner_email(row)


def skipped(
    row: EnrollmentFields,
    external_id: str | None,
    learner: str | None,
    synchronized: Container[str],
) -> SkippedStat:
    """The skip of a row that cannot be sent, by precedence: ``missing_content_id``, then
    ``course_not_synchronized`` (which wins over ``no_learner_email`` when both apply), then
    ``no_learner_email``. Called only when one applies."""
    if external_id is None:
        return SkippedStat("", learner or row.external_id or "", MISSING_CONTENT_ID)
    if external_id not in synchronized:
        return SkippedStat(external_id, learner or row.external_id or "", COURSE_NOT_SYNCHRONIZED)
    return SkippedStat(external_id, row.external_id or "", NO_LEARNER_EMAIL)


def map_enrollment(
    row: EnrollmentFields,
    *,
    synchronized: Container[str],
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


# --- the same table in compact form, for a million rows ------------------------------------------
#
# A mapped row travels as a tuple of scalars with dates in epoch milliseconds, so no datetime is
# built per row. Same rules as above (the skip, identity, progress and time-spent rules are the
# very same functions); the two date rules are restated on milliseconds right here, next to their
# datetime twins. tests/test_stats_diff.py checks the equivalence row by row.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# the epoch-ms range a datetime can hold (years 1..9999); outside it a date counts as missing,
# exactly as ``from_epoch_ms`` returns None
_MIN_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
_MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _ONE_MS

# (stored first_seen ms, stored completed_seen ms) of a pair, either possibly None
Moments = tuple[int | None, int | None]
MomentsLookup = Callable[[str, str], Moments]


@final  # the pipeline tells a Compact from a SkippedStat by ``type(item) is Compact``
class Compact(NamedTuple):
    """One mapped row, as scalars. ``first``/``last`` are epoch ms (the payload's two dates)."""

    external_id: str
    learner: str
    completed: bool
    progress: int
    time_spent: int
    first: int
    last: int
    used_first_seen: bool  # firstActivityAt fell back to the pair's first-seen moment
    used_completed_seen: bool  # lastActivityAt fell back to the first-seen-completed moment


def _valid_ms(value: int | None) -> int | None:
    if value is None or not _MIN_MS <= value <= _MAX_MS:
        return None
    return value


def map_compact(
    row: EnrollmentFields,
    *,
    synchronized: Container[str],
    moments: MomentsLookup,
    now_ms: int,
) -> Compact | SkippedStat:
    """:func:`map_enrollment` for one row, in compact form.

    ``moments(external_id, learner)`` gives the pair's stored first-seen / first-seen-completed
    moments; it is called only when a date falls back to them. A missing moment is ``now_ms``
    (the caller stores it when it saves the item).
    """
    external_id = course_external_id(row)
    learner = learner_email(row)
    if external_id is None or learner is None or external_id not in synchronized:
        return skipped(row, external_id, learner, synchronized)
    completed = row.is_completed is True
    enrolled = _valid_ms(row.enrolled_at)
    last_activity = _valid_ms(row.last_activity_at)
    used_first = enrolled is None and last_activity is None
    used_completed = completed and last_activity is None
    stored: Moments = (None, None)
    if used_first or used_completed:
        stored = moments(external_id, learner)
    # firstActivityAt: enrolledAt, else lastActivityAt, else first seen (see first_activity_at)
    if enrolled is not None:
        first = enrolled
    elif last_activity is not None:
        first = last_activity
    else:
        first = stored[0] if stored[0] is not None else now_ms
    # lastActivityAt: see last_activity_at
    if last_activity is not None:
        last = last_activity
    elif completed:
        last = stored[1] if stored[1] is not None else now_ms
    else:
        last = first
    if last < first:
        last = first
    return Compact(
        external_id,
        learner,
        completed,
        progress(row),
        time_spent(row),
        first,
        last,
        used_first,
        used_completed,
    )

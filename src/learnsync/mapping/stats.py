"""Coursera ``enrollmentReports`` row → 360Learning ``ImportExternalStatisticsDTO``.

One named function per row of the statistics table (docs/mapping.md#statistics-mapping;
``STATS_RULES`` lists them in the table's order), and :func:`map_compact`, the only way a row is
mapped: dates stay epoch milliseconds and a mapped row is a tuple of scalars. Pure: the two moments
that depend on "now" (when learnsync first saw the pair, and first saw it completed) are passed in
by the pipeline, which stores them so the dates never drift. Built to map a million rows in
seconds: no regex compilation per call, no pydantic, no datetime per row, no copies.
(tests/stats_oracle.py restates the date rules and the merge order on datetimes, as the tests'
independent reference.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, final

from learnsync.mapping.content import code, course_key
from learnsync.model.coursera import EnrollmentFields
from learnsync.model.untrusted import MAX_EMAIL_LENGTH, MAX_SAFE_INTEGER, truncate

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
class SkippedStat:
    """A row that is never sent, with its reason."""

    external_id: str
    learner: str  # for no_learner_email: the row's externalId as received (320 characters at
    # most), "" when absent
    reason: str  # course_not_synchronized | no_learner_email | missing_content_id


# --- helpers ----------------------------------------------------------------------------------


# one "@", a non-empty local part, a domain of non-empty dot-separated labels (at least two), no
# whitespace anywhere; compiled once
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def is_email(value: str) -> bool:
    """A pragmatic e-mail check: exactly one ``@``, a non-empty local part, a domain with a dot
    between non-empty labels, no whitespace, 320 characters at most (the store's learner).
    (Deliverability is 360Learning's business: an address it does not know comes back as a
    per-item error.)"""
    return len(value) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(value) is not None


def round_half_up(value: float) -> int:
    """Round half up (``2.5`` → ``3``), not Python's banker's rounding. ``value - floor(value)`` is
    exact in binary floating point, so ``0.49999999999999994`` stays ``0``."""
    whole = math.floor(value)
    return int(whole) + (1 if value - whole >= 0.5 else 0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# the epoch-ms range a datetime can hold (years 1..9999); outside it a date counts as missing
_MIN_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
_MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _ONE_MS


def valid_ms(value: int | None) -> int | None:
    """A Coursera epoch-ms timestamp, or ``None`` when missing or out of range (a missing date)."""
    if value is None or not _MIN_MS <= value <= _MAX_MS:
        return None
    return value


# --- one named rule per row of the statistics table -------------------------------------------


def course_external_id(row: EnrollmentFields) -> str | None:
    # courseIdentifier ← contentType, contentId: "{contentType}~{contentId}", content's key.
    # When a part is missing it is taken from the row's id "{externalId}~{contentType}~{contentId}"
    # (a contentType over 64 characters counts as missing, as in the content mapping).
    key = course_key(row.content_type, row.content_id)
    if key is not None or not row.id:
        return key
    parts = row.id.rsplit("~", 2)
    if len(parts) != 3:
        return None
    return course_key(code(row.content_type) or parts[1], row.content_id or parts[2])


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
    # negative or below 1 → 1 (360Learning requires ≥ 1); so large that the milliseconds are not
    # an exact JSON integer (over 2^53 − 1 ms, ~2.5 million hours) → 1 as well, like any other
    # unusable number
    hours = row.approx_total_course_hrs
    if hours is None or hours <= 0:
        return 1
    ms = hours * MS_PER_HOUR
    if not ms <= MAX_SAFE_INTEGER:  # NaN and infinity included
        return 1
    return max(round_half_up(ms), 1)


# The two date rules take the row's dates already checked by ``valid_ms`` (epoch ms or None) and
# return epoch ms: ``map_compact`` reads each timestamp of a row once.


def first_activity_at(enrolled: int | None, last_activity: int | None, first_seen: int) -> int:
    # firstActivityAt ← enrolledAt; else the row's lastActivityAt; else when learnsync first saw
    # the (course, learner) pair (stored by the pipeline)
    if enrolled is not None:
        return enrolled
    if last_activity is not None:
        return last_activity
    return first_seen


def last_activity_at(
    completed: bool, last_activity: int | None, first: int, completed_seen: int
) -> int:
    # lastActivityAt ← completed: lastActivityAt, else when learnsync first saw it completed
    # (stored; Coursera's completedAt is not used); not completed: lastActivityAt, else
    # firstActivityAt; never earlier than firstActivityAt
    if last_activity is not None:
        last = last_activity
    elif completed:
        last = completed_seen
    else:
        last = first
    return last if last >= first else first


STATS_RULES: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("courseIdentifier", course_external_id),
    ("userIdentifier", learner_email),
    ("progress", progress),
    ("timeSpent", time_spent),
    ("firstActivityAt", first_activity_at),
    ("lastActivityAt", last_activity_at),
)


def skipped(
    row: EnrollmentFields,
    external_id: str | None,
    learner: str | None,
    synchronized: Container[str],
) -> SkippedStat:
    """The skip of a row that cannot be sent, by precedence: ``missing_content_id``, then
    ``course_not_synchronized`` (which wins over ``no_learner_email`` when both apply), then
    ``no_learner_email``. Called only when one applies."""
    received = truncate(row.external_id, MAX_EMAIL_LENGTH) if row.external_id else ""
    if external_id is None:
        return SkippedStat("", learner or received, MISSING_CONTENT_ID)
    if external_id not in synchronized:
        return SkippedStat(external_id, learner or received, COURSE_NOT_SYNCHRONIZED)
    return SkippedStat(external_id, received, NO_LEARNER_EMAIL)


# --- one row, mapped ------------------------------------------------------------------------------
#
# A mapped row travels as a tuple of scalars with dates in epoch milliseconds, so no datetime is
# built per row (a million rows per run).

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


def map_compact(
    row: EnrollmentFields,
    *,
    synchronized: Container[str],
    moments: MomentsLookup,
    now_ms: int,
) -> Compact | SkippedStat:
    """Map one row, or skip it: ``missing_content_id``, then ``course_not_synchronized`` (which wins
    over ``no_learner_email`` when both apply), then ``no_learner_email``.

    ``moments(external_id, learner)`` gives the pair's stored first-seen / first-seen-completed
    moments; it is called only when a date falls back to them. A missing moment is ``now_ms``
    (the caller stores it when it saves the item).
    """
    external_id = course_external_id(row)
    learner = learner_email(row)
    if external_id is None or learner is None or external_id not in synchronized:
        return skipped(row, external_id, learner, synchronized)
    completed = row.is_completed is True
    enrolled = valid_ms(row.enrolled_at)
    last_activity = valid_ms(row.last_activity_at)
    first_seen = completed_seen = now_ms
    if last_activity is None and (enrolled is None or completed):
        # a date falls back to a stored moment of the pair
        stored_first, stored_completed = moments(external_id, learner)
        if stored_first is not None:
            first_seen = stored_first
        if stored_completed is not None:
            completed_seen = stored_completed
    first = first_activity_at(enrolled, last_activity, first_seen)
    return Compact(
        external_id,
        learner,
        completed,
        progress(row),
        time_spent(row),
        first,
        last_activity_at(completed, last_activity, first, completed_seen),
    )

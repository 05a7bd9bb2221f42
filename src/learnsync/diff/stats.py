"""Statistics diff: compact mapped items, the merge order, what must be sent, and when to read all.

A million enrollment rows must fit in seconds and a few MB, so a mapped row travels as a tuple of
scalars (:class:`Compact`) instead of a ``MappedStat`` with datetimes: dates are epoch
milliseconds until a payload is really built for sending. :func:`map_compact` applies exactly the
rules of :func:`learnsync.mapping.stats.map_enrollment` (the equivalence is tested row by row), by
calling the mapping's own rule functions for everything except the date arithmetic.

- :func:`pair_key` — a signed 64-bit key of (externalId, learner): the merge key.
- :func:`rank` — one integer ordering rows like :func:`~learnsync.mapping.stats.more_advanced`
  (completed, then progress, then later activity), so SQL can merge with ``MAX``.
- :func:`item_hash` — the fingerprint stored as ``sent_hash``: a hash of the payload's varying
  fields. The payload is a pure function of (externalId, learner, these fields), so equal hashes
  mean an equal payload; :data:`PAYLOAD_VERSION` is part of it, to be bumped when the payload's
  shape changes so that every item is sent again.
- :func:`must_send` — changed since the last accepted send, and never backwards after completion.
- :func:`decide_read` — full or incremental ``enrollmentReports`` read (see docs/stats.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from learnsync.mapping.stats import (
    COURSE_NOT_SYNCHRONIZED,
    MISSING_CONTENT_ID,
    NO_LEARNER_EMAIL,
    SkippedStat,
    course_external_id,
    from_epoch_ms,
    iso_utc,
    learner_email,
    progress,
    time_spent,
)

PAYLOAD_VERSION = "stats-v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# the epoch-ms range a datetime can hold (years 1..9999); outside it the mapping treats a date
# as missing (``from_epoch_ms`` returns None)
_MIN_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
_MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _ONE_MS
_RANK_TIME_BITS = 43  # epoch ms below 2**43 (year 2248)
_RANK_TIME_MAX = (1 << _RANK_TIME_BITS) - 1

# (stored first_seen ms, stored completed_seen ms) of a pair, either possibly None
Moments = tuple[int | None, int | None]
MomentsLookup = Callable[[str, str], Moments]


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

    def payload(self) -> dict[str, Any]:
        return build_payload(
            self.external_id, self.learner, self.progress, self.time_spent, self.first, self.last
        )


def to_ms(moment: datetime) -> int:
    """Aware datetime → epoch ms, truncated (the payload shows milliseconds only)."""
    if moment.tzinfo is None:
        raise ValueError("moments must be timezone-aware")
    return (moment - _EPOCH) // _ONE_MS


def from_ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def _valid_ms(value: int | None) -> int | None:
    if value is None or not _MIN_MS <= value <= _MAX_MS:
        return None
    return value


def map_compact(
    row: Any,
    *,
    synchronized: Container[str],
    moments: MomentsLookup,
    now_ms: int,
) -> Compact | SkippedStat:
    """:func:`~learnsync.mapping.stats.map_enrollment` for one row, in compact form.

    ``row`` has the attributes of ``EnrollmentRow``. ``moments(external_id, learner)`` gives the
    pair's stored first-seen / first-seen-completed moments; it is called only when a date falls
    back to them. A missing moment is ``now_ms`` (the caller stores it when it saves the item).
    """
    external_id = course_external_id(row)
    learner = learner_email(row)
    if external_id is None:
        return SkippedStat("", learner or row.external_id or "", MISSING_CONTENT_ID)
    if external_id not in synchronized:
        return SkippedStat(external_id, learner or row.external_id or "", COURSE_NOT_SYNCHRONIZED)
    if learner is None:
        return SkippedStat(external_id, row.external_id or "", NO_LEARNER_EMAIL)
    completed = row.is_completed is True
    enrolled = _valid_ms(row.enrolled_at)
    last_activity = _valid_ms(row.last_activity_at)
    used_first = enrolled is None and last_activity is None
    used_completed = completed and last_activity is None
    stored: Moments = (None, None)
    if used_first or used_completed:
        stored = moments(external_id, learner)
    if enrolled is not None:
        first = enrolled
    elif last_activity is not None:
        first = last_activity
    else:
        first = stored[0] if stored[0] is not None else now_ms
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


def build_payload(
    external_id: str, learner: str, progress_: int, time_spent_: int, first: int, last: int
) -> dict[str, Any]:
    """The ``ImportExternalStatisticsDTO`` (same as ``MappedStat.payload()``; no ``forceNew``)."""
    return {
        "courseIdentifier": {"type": "externalId", "value": external_id},
        "userIdentifier": {"type": "mail", "value": learner},
        "progress": progress_,
        "timeSpent": time_spent_,
        "firstActivityAt": iso_utc(from_ms(first)),
        "lastActivityAt": iso_utc(from_ms(last)),
    }


def _hash64(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def pair_key(external_id: str, learner: str) -> int:
    """Signed 64-bit key of the (course, learner) pair (collision odds ~1e-8 at 1M pairs)."""
    return _hash64(f"{external_id}\x00{learner}")


def item_hash(item: Compact) -> int:
    """The fingerprint of the payload ``item`` would send (stored as ``sent_hash``)."""
    return _hash64(f"{PAYLOAD_VERSION}|{item.progress}|{item.time_spent}|{item.first}|{item.last}")


def rank(completed: bool, progress_: int, last: int) -> int:
    """Orders rows of one pair like ``more_advanced``: a larger rank is more advanced."""
    when = min(max(last, 0), _RANK_TIME_MAX)
    return (int(completed) << 50) | (max(min(progress_, 100), 0) << _RANK_TIME_BITS) | when


def must_send(
    new_hash: int, new_completed: bool, sent_hash: int | None, sent_completed: bool
) -> bool:
    """Send when the item changed since 360Learning last accepted it — but never a not-completed
    item once a completed one was sent (progress never goes backwards; counted unchanged)."""
    if sent_completed and not new_completed:
        return False
    return sent_hash is None or sent_hash != new_hash


# --- full or incremental read --------------------------------------------------------------------

LAG_MARGIN = timedelta(days=3)  # Coursera's reports lag up to 48 h: re-read at least 3 days
FULL_READ_EVERY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ReadPlan:
    full: bool
    last_activity_after: datetime | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "full" if self.full else "incremental",
            "lastActivityAfter": (
                iso_utc(self.last_activity_after) if self.last_activity_after else None
            ),
            "reason": self.reason,
        }


def decide_read(
    *,
    now: datetime,
    last_success_started: datetime | None,
    last_full_started: datetime | None,
    new_content_since: bool,
    failed_to_retry: bool,
    force_full: bool = False,
    full_every: timedelta = FULL_READ_EVERY,
    margin: timedelta = LAG_MARGIN,
) -> ReadPlan:
    """Whether this run reads the whole report, or only rows active since the last run − 3 days.

    A full read is needed when an incremental one could miss a row that must be sent:
    the first run; content synchronized since the last stats run (its older rows were skipped);
    items 360Learning rejected (they are retried from their rows); once a week (rows that changed
    without a new ``lastActivityAt`` and any lag beyond Coursera's 48 h).
    """
    if force_full:
        return ReadPlan(True, None, "full read requested")
    if last_success_started is None:
        return ReadPlan(True, None, "first statistics run")
    if new_content_since:
        return ReadPlan(True, None, "content synchronized since the last statistics run")
    if failed_to_retry:
        return ReadPlan(True, None, "items rejected by the last run are sent again")
    if last_full_started is None or now - last_full_started >= full_every:
        return ReadPlan(True, None, f"periodic full read (every {full_every.days} days)")
    return ReadPlan(
        False,
        last_success_started - margin,
        f"rows active since the last statistics run minus {margin.days} days",
    )


__all__ = [
    "FULL_READ_EVERY",
    "LAG_MARGIN",
    "PAYLOAD_VERSION",
    "Compact",
    "ReadPlan",
    "build_payload",
    "decide_read",
    "from_epoch_ms",
    "from_ms",
    "item_hash",
    "map_compact",
    "must_send",
    "pair_key",
    "rank",
    "to_ms",
]

"""Statistics diff: compact mapped items, the merge order, what must be sent, and when to read all.

A million enrollment rows must fit in seconds and a few MB, so a mapped row travels as a tuple of
scalars (:class:`~learnsync.mapping.stats.Compact`, built by
:func:`~learnsync.mapping.stats.map_compact`: the statistics table lives in
:mod:`learnsync.mapping.stats` only; both are re-exported here) and dates stay epoch milliseconds
until a payload is really built for sending.

- :func:`pair_key` — a 64-bit key of (externalId, learner), valid within one run: the merge key.
- :func:`rank` — one integer ordering the rows of one pair by the merge order of the statistics
  table (completed, then progress, then later activity), so SQL merges by one sort key.
- :func:`item_hash` — the value stored as ``sent_hash``: a 64-bit hash of the payload's varying
  fields. The payload is a pure function of (externalId, learner, these fields), so equal values
  mean an equal payload. :data:`PAYLOAD_VERSION` is hashed in, to be bumped when the payload's
  shape changes so that every item is sent again. Hashes stored before revision 0005 kept only 23
  bits (:data:`LEGACY_HASH_BITS`); :func:`same_payload` compares those on their 23 bits until the
  item is sent again.
- :func:`item_rank` — the value stored as ``sent_rank``: the item's coarse rank (completed,
  progress, ``lastActivityAt`` in seconds: 40 bits). :data:`HASH_FORMAT` names the layout of the
  two (recorded in the ``sync_state`` bookmarks: a run whose predecessor stored another layout
  reads everything).
- :func:`must_send` — a full read sends what changed since the last accepted send; an incremental
  read (which sees only a pair's recent rows) sends only what is more advanced than it, or an
  item to retry (rejected or not confirmed); neither ever goes backwards after completion.
- :func:`encode_retry` / :func:`decode_retry` — the mapped values of an item sent and not
  accepted, stored as ``retry_item`` so that the next run sends exactly it again.
- :func:`decide_read` — full or incremental ``enrollmentReports`` read (see docs/stats.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from learnsync.mapping.stats import (
    Compact,
    Moments,
    MomentsLookup,
    iso_utc,
    map_compact,
)

PAYLOAD_VERSION = "stats-v1"
# the layout of sent_rank / sent_hash; recorded in the sync_state bookmarks (format_version)
HASH_FORMAT = "rank40+hash64"
LEGACY_HASH_BITS = 23  # hashes stored before revision 0005: the low 23 bits of item_hash
LEGACY_HASH_MASK = (1 << LEGACY_HASH_BITS) - 1
_SECONDS_MAX = (1 << 32) - 1  # lastActivityAt in epoch seconds, up to 2106
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# lastActivityAt in a rank: ms since year 1, the earliest date a row can carry (years 1 to 9999
# take 49 bits), so every two dates of a merge compare as they are
_RANK_TIME_ORIGIN = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
_RANK_TIME_BITS = 49
_RANK_TIME_MAX = (1 << _RANK_TIME_BITS) - 1


def compact_payload(item: Compact) -> dict[str, Any]:
    return build_payload(
        item.external_id, item.learner, item.progress, item.time_spent, item.first, item.last
    )


def to_ms(moment: datetime) -> int:
    """Aware datetime → epoch ms, truncated (the payload shows milliseconds only)."""
    if moment.tzinfo is None:
        raise ValueError("moments must be timezone-aware")
    return (moment - _EPOCH) // _ONE_MS


def from_ms(value: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def build_payload(
    external_id: str, learner: str, progress_: int, time_spent_: int, first: int, last: int
) -> dict[str, Any]:
    """The ``ImportExternalStatisticsDTO`` (``forceNew`` is never sent)."""
    return {
        "courseIdentifier": {"type": "externalId", "value": external_id},
        "userIdentifier": {"type": "mail", "value": learner},
        "progress": progress_,
        "timeSpent": time_spent_,
        "firstActivityAt": iso_ms(first),
        "lastActivityAt": iso_ms(last),
    }


_DAYS: dict[int, str] = {}  # epoch day → "YYYY-MM-DDT" (a few thousand distinct days per run)


def iso_ms(value: int) -> str:
    """``iso_utc(from_ms(value))`` without building a datetime (~3 times faster; the payload's
    two dates are formatted a million times per full run)."""
    days, ms = divmod(value, 86_400_000)
    day = _DAYS.get(days)
    if day is None:
        d = _EPOCH + timedelta(days=days)
        day = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"
        if len(_DAYS) < 1_000_000:
            _DAYS[days] = day
    seconds, milli = divmod(ms, 1000)
    minutes, sec = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{day}{hour:02d}:{minute:02d}:{sec:02d}.{milli:03d}Z"


def _hash64(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def pair_key(external_id: str, learner: str) -> int:
    """A 64-bit key of the (course, learner) pair, the merge key of one run's staging database.

    Python's own tuple hash (~0.1 µs, vs ~2 µs for a keyed digest): it changes from one process
    to the next, which is fine because the key never leaves the run (stored states are keyed by
    their texts and re-keyed when loaded). Collision odds ~3e-8 at 1M pairs.
    """
    return hash((external_id, learner))


def coarse_rank(completed: bool, progress_: int, last: int) -> int:
    """:func:`rank` at second precision, in 40 bits: what ``sent_rank`` stores."""
    seconds = min(max(last // 1000, 0), _SECONDS_MAX)
    return (int(completed) << 39) | (max(min(progress_, 100), 0) << 32) | seconds


def item_hash(item: Compact) -> int:
    """What ``sent_hash`` stores for ``item``: a signed 64-bit hash of its payload's fields."""
    return _hash64(f"{PAYLOAD_VERSION}|{item.progress}|{item.time_spent}|{item.first}|{item.last}")


def item_rank(item: Compact) -> int:
    """What ``sent_rank`` stores for ``item``: its :func:`coarse_rank`."""
    return coarse_rank(item.completed, item.progress, item.last)


def same_payload(sent_hash: int, new_hash: int) -> bool:
    """Whether the stored hash describes the payload of ``new_hash``: equal, or a 23-bit hash
    stored before revision 0005 equal to its low bits (the staging merge says the same in SQL)."""
    if sent_hash == new_hash:
        return True
    return 0 <= sent_hash <= LEGACY_HASH_MASK and sent_hash == new_hash & LEGACY_HASH_MASK


def encode_retry(item: Compact) -> str:
    """The mapped values of ``item`` as stored in ``retry_item`` (short text, no JSON)."""
    return f"{int(item.completed)}|{item.progress}|{item.time_spent}|{item.first}|{item.last}"


def decode_retry(external_id: str, learner: str, value: str) -> Compact:
    """The item a ``retry_item`` describes (see :func:`encode_retry`)."""
    completed, progress_, spent, first, last = (int(part) for part in value.split("|"))
    return Compact(external_id, learner, bool(completed), progress_, spent, first, last)


def rank(completed: bool, progress_: int, last: int) -> int:
    """The merge order of one pair's rows as one integer (completed, then progress, then later
    ``lastActivityAt``): a larger rank is more advanced."""
    when = min(max(last - _RANK_TIME_ORIGIN, 0), _RANK_TIME_MAX)
    return (
        (int(completed) << (_RANK_TIME_BITS + 7))
        | (max(min(progress_, 100), 0) << _RANK_TIME_BITS)
        | when
    )  # below 2**57: an SQLite INTEGER


def must_send(
    new_hash: int,
    new_completed: bool,
    sent_hash: int | None,
    sent_completed: bool,
    *,
    incremental: bool = False,
    new_rank: int = 0,
    sent_rank: int | None = None,
    retry: bool = False,
) -> bool:
    """Whether the merged item of this run is sent (the staging query says the same in SQL).

    Never a not-completed item once a completed one was sent (progress never goes backwards;
    counted unchanged). Otherwise an item to ``retry`` (its stored state is ``failed``: rejected,
    or not confirmed by a run that stopped) and an item never accepted are sent. After a full
    read: when it differs from what 360Learning last accepted. After an incremental read, which
    sees only the pair's recent rows (a less advanced recent row may win the merge while the most
    advanced row is older): only when it is more advanced than what was accepted (``new_rank`` >
    ``sent_rank``, :func:`item_rank`).
    """
    if sent_completed and not new_completed:
        return False
    if sent_hash is None or retry:
        return True
    if incremental:
        return sent_rank is None or new_rank > sent_rank
    return not same_payload(sent_hash, new_hash)


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
    incomplete: bool,
    force_full: bool = False,
    full_every: timedelta = FULL_READ_EVERY,
    margin: timedelta = LAG_MARGIN,
    hash_format_changed: bool = False,
) -> ReadPlan:
    """Whether this run reads the whole report, or only rows active since the last run − 3 days.

    A full read is needed when an incremental one could miss a row that must be sent:
    the first run; content synchronized since the last stats run (its older rows were skipped);
    a last run whose import stopped early or an upgraded store whose rejected items have no
    stored values (``incomplete``: no watermark in the bookmarks); stored values of another
    layout (:data:`HASH_FORMAT`: their ranks cannot be compared); once a week (rows that changed
    without a new ``lastActivityAt`` and any lag beyond Coursera's 48 h). Items 360Learning
    rejected do not need one: they are re-sent from their stored values.
    """
    if force_full:
        return ReadPlan(True, None, "full read requested")
    if last_success_started is None:
        return ReadPlan(True, None, "first statistics run")
    if hash_format_changed:
        return ReadPlan(True, None, "the stored fingerprints have another layout")
    if new_content_since:
        return ReadPlan(True, None, "content synchronized since the last statistics run")
    if incomplete:
        return ReadPlan(True, None, "the last statistics run did not send everything")
    if last_full_started is None or now - last_full_started >= full_every:
        return ReadPlan(True, None, f"periodic full read (every {full_every.days} days)")
    return ReadPlan(
        False,
        last_success_started - margin,
        f"rows active since the last statistics run minus {margin.days} days",
    )


__all__ = [
    "FULL_READ_EVERY",
    "HASH_FORMAT",
    "LAG_MARGIN",
    "LEGACY_HASH_BITS",
    "LEGACY_HASH_MASK",
    "PAYLOAD_VERSION",
    "Compact",
    "Moments",
    "MomentsLookup",
    "ReadPlan",
    "build_payload",
    "coarse_rank",
    "compact_payload",
    "decide_read",
    "decode_retry",
    "encode_retry",
    "from_ms",
    "iso_ms",
    "item_hash",
    "item_rank",
    "map_compact",
    "must_send",
    "pair_key",
    "rank",
    "same_payload",
    "to_ms",
]

"""Unit tests of the statistics diff: the mapping ≡ the tests' reference (tests/stats_oracle.py),
merge order, change rule, skip precedence, and the full/incremental read decision."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from learnsync.diff.stats import (
    Compact,
    coarse_rank,
    compact_payload,
    decide_read,
    from_ms,
    iso_ms,
    item_hash,
    item_rank,
    map_compact,
    must_send,
    rank,
    same_payload,
    to_ms,
)
from learnsync.extract.stats import LightRow
from learnsync.mapping.stats import SkippedStat, iso_utc
from learnsync.model.coursera import EnrollmentRow
from stats_oracle import MappedStat, map_enrollment, more_advanced

NOW = datetime(2025, 3, 4, 9, 0, 0, 123000, tzinfo=UTC)
SYNC = {"Course~c1", "Specialization~s1"}


def _random_raw(rnd: random.Random) -> dict[str, Any]:
    def pick(*values: Any) -> Any:
        return rnd.choice(values)

    raw = {
        "id": pick(None, "x@y.com~Course~c1", "bad", 12),
        "externalId": pick("a@b.com", " A@B.COM ", "EMP-1", None, 42, "", "a@b"),
        "email": pick("c@d.org", None, "nope", " C@D.org"),
        "contentId": pick("c1", "s1", None, "Course~c1", "zz"),
        "contentType": pick("Course", "Specialization", None, 5),
        "isCompleted": pick(True, False, None, "true", "FALSE", "yes", 1),
        "overallProgress": pick(None, 0, 37, 37.5, 100, 120, -3, "55", "x", True),
        "approxTotalCourseHrs": pick(None, 0, 2.98, -1, "1.5", 1e-9, "inf"),
        "enrolledAt": pick(None, 1568138449555, "1568138449555", 1.5e12, -5, 10**17),
        "lastActivityAt": pick(None, 1569229361000, 1568000000000, "oops", 10**17),
    }
    return {k: v for k, v in raw.items() if v is not None or rnd.random() < 0.5}


@pytest.mark.parametrize("seed", range(4))
def test_map_compact_equals_the_reference(seed: int) -> None:
    rnd = random.Random(seed)
    stored = {("Course~c1", "a@b.com"): (to_ms(NOW) - 86_400_000, None)}
    checked = 0
    for _ in range(2_000):
        raw = _random_raw(rnd)
        expected = None
        fast = map_compact(
            LightRow(raw),
            synchronized=SYNC,
            moments=lambda e, lr: stored.get((e, lr), (None, None)),
            now_ms=to_ms(NOW),
        )
        model = EnrollmentRow.model_validate(raw)
        if isinstance(fast, Compact):
            first_seen, done_seen = stored.get((fast.external_id, fast.learner), (None, None))
            expected = map_enrollment(
                model,
                synchronized=SYNC,
                first_seen_at=from_ms(first_seen) if first_seen is not None else NOW,
                completed_seen_at=from_ms(done_seen) if done_seen is not None else NOW,
            )
            assert isinstance(expected, MappedStat), raw
            assert compact_payload(fast) == expected.payload(), raw
            assert fast.completed == expected.completed
            checked += 1
        else:
            expected = map_enrollment(
                model, synchronized=SYNC, first_seen_at=NOW, completed_seen_at=NOW
            )
            assert fast == expected, raw
    assert checked > 100


def test_light_row_reads_what_the_mapping_reads() -> None:
    raw = {"externalId": 123, "isCompleted": "true", "overallProgress": "12.5", "enrolledAt": "7"}
    row = LightRow(raw)
    model = EnrollmentRow.model_validate(raw)
    for name in LightRow.__slots__:
        assert getattr(row, name) == getattr(model, name), name


# --- skip precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason", "learner"),
    [
        (
            {"contentType": "Course", "contentId": "zz", "externalId": "EMP-1"},
            "course_not_synchronized",
            "EMP-1",
        ),
        (
            {"contentType": "Course", "contentId": "zz", "externalId": "A@B.com"},
            "course_not_synchronized",
            "a@b.com",
        ),
        (
            {"contentType": "Course", "contentId": "c1", "externalId": "EMP-1"},
            "no_learner_email",
            "EMP-1",
        ),
        ({"contentType": "Course", "contentId": "c1"}, "no_learner_email", ""),
        ({"externalId": "a@b.com"}, "missing_content_id", "a@b.com"),
    ],
)
def test_skip_reasons(raw: dict[str, Any], reason: str, learner: str) -> None:
    out = map_compact(LightRow(raw), synchronized=SYNC, moments=lambda *_: (None, None), now_ms=0)
    assert isinstance(out, SkippedStat)
    assert (out.reason, out.learner) == (reason, learner)


# --- merge order ---------------------------------------------------------------------------------


def _stat(completed: bool, progress: int, last_ms: int) -> MappedStat:
    return MappedStat("Course~c1", "a@b.com", completed, progress, 1, from_ms(0), from_ms(last_ms))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((True, 100, 5), (False, 100, 9)),  # completed beats not completed
        ((False, 60, 5), (False, 50, 9)),  # then higher progress
        ((False, 50, 9), (False, 50, 5)),  # then later activity
        ((True, 100, 9), (True, 100, 5)),
    ],
)
def test_rank_orders_like_more_advanced(a: tuple[bool, int, int], b: tuple[bool, int, int]) -> None:
    assert rank(*a) > rank(*b)
    sa, sb = _stat(*a), _stat(*b)
    assert more_advanced(sa, sb) is sa and more_advanced(sb, sa) is sa


def test_rank_agrees_with_more_advanced_everywhere() -> None:
    values = list(itertools.product([True, False], [0, 50, 100], [0, 10, 10_000]))
    for a, b in itertools.product(values, values):
        winner = more_advanced(_stat(*a), _stat(*b))
        by_rank = _stat(*a) if rank(*a) >= rank(*b) else _stat(*b)
        assert winner == by_rank, (a, b)


# --- what is sent --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_hash", "new_completed", "sent_hash", "sent_completed", "send"),
    [
        (1, False, None, False, True),  # never sent
        (1, False, 1, False, False),  # unchanged
        (2, False, 1, False, True),  # changed
        (2, True, 1, False, True),  # now completed
        (2, False, 1, True, False),  # backwards after completion: never
        (2, True, 1, True, True),  # completed, changed again (e.g. time spent)
        (1, True, 1, True, False),
    ],
)
def test_must_send(
    new_hash: int, new_completed: bool, sent_hash: int | None, sent_completed: bool, send: bool
) -> None:
    assert must_send(new_hash, new_completed, sent_hash, sent_completed) is send


# --- full or incremental read ---------------------------------------------------------------

LAST = NOW - timedelta(days=1)
FULL = NOW - timedelta(days=3)


@pytest.mark.parametrize(
    ("kwargs", "full", "after"),
    [
        ({"last_success_started": None, "last_full_started": None}, True, None),
        ({"new_content_since": True}, True, None),
        ({"incomplete": True}, True, None),
        ({"force_full": True}, True, None),
        ({"hash_format_changed": True}, True, None),
        ({"last_full_started": NOW - timedelta(days=7)}, True, None),
        ({"last_full_started": None}, True, None),
        ({}, False, LAST - timedelta(days=3)),
    ],
)
def test_decide_read(kwargs: dict[str, Any], full: bool, after: datetime | None) -> None:
    base: dict[str, Any] = {
        "now": NOW,
        "last_success_started": LAST,
        "last_full_started": FULL,
        "new_content_since": False,
        "incomplete": False,
    }
    plan = decide_read(**{**base, **kwargs})
    assert plan.full is full
    assert plan.last_activity_after == after
    assert plan.reason


def _h(completed: bool, progress: int, last_ms: int, spent: int = 1) -> tuple[int, int]:
    """(payload hash, coarse rank) of an item: what ``sent_hash`` / ``sent_rank`` store."""
    item = Compact("C~1", "a@b.c", completed, progress, spent, 0, last_ms)
    return item_hash(item), item_rank(item)


@pytest.mark.parametrize(
    ("new", "sent", "sent_completed", "full", "incremental"),
    [
        # (new item, accepted item): sent after a full read? after an incremental one?
        (_h(False, 20, 9_000_000), _h(False, 90, 1_000_000), False, True, False),  # less advanced
        (_h(False, 95, 9_000_000), _h(False, 90, 1_000_000), False, True, True),  # more advanced
        (_h(False, 90, 9_000_000), _h(False, 90, 1_000_000), False, True, True),  # later activity
        (_h(False, 90, 1_000_000, 5), _h(False, 90, 1_000_000), False, True, False),  # same rank
        (_h(False, 90, 1_000_000), _h(False, 90, 1_000_000), False, False, False),  # unchanged
        (_h(True, 100, 9_000_000), _h(False, 90, 1_000_000), False, True, True),  # completed
        (_h(False, 99, 9_000_000), _h(True, 100, 1_000_000), True, False, False),  # backwards
    ],
)
def test_must_send_full_and_incremental(
    new: tuple[int, int],
    sent: tuple[int, int],
    sent_completed: bool,
    full: bool,
    incremental: bool,
) -> None:
    completed = new[1] >> 39 == 1

    def send(incremental: bool) -> bool:
        return must_send(
            new[0],
            completed,
            sent[0],
            sent_completed,
            incremental=incremental,
            new_rank=new[1],
            sent_rank=sent[1],
        )

    assert send(False) is full
    assert send(True) is incremental
    # an item to retry (rejected, not confirmed) is sent whatever the read, never backwards
    retry = must_send(new[0], completed, sent[0], sent_completed, incremental=True, retry=True)
    assert retry is not (sent_completed and not completed)


def test_item_hash_fits_a_signed_64_bit_column_and_the_rank_is_coarse() -> None:
    assert all(
        -(2**63) <= _h(c, p, t)[0] < 2**63 for c, p, t in [(True, 100, 2**45), (False, 0, 0)]
    )
    assert _h(False, 50, 7_000)[1] == coarse_rank(False, 50, 7_000)
    assert _h(True, 100, 0)[1] > _h(False, 100, 2**40)[1]
    assert 0 <= _h(True, 100, 2**32 * 1000 + 5)[1] < 2**40


def test_a_hash_stored_before_revision_0005_compares_on_its_23_bits() -> None:
    new = item_hash(Compact("C~1", "a@b.c", False, 10, 1, 0, 5_000))
    assert same_payload(new, new)
    assert same_payload(new & (2**23 - 1), new)  # the legacy value of the same payload
    assert not same_payload((new + 1) & (2**23 - 1), new)


def test_iso_ms_formats_like_iso_utc() -> None:
    rnd = random.Random(5)
    values = [0, 1, 999, 86_399_999, -1, 253_402_300_799_999]
    values += [rnd.randrange(-(10**12), 7 * 10**12) for _ in range(20_000)]
    for value in values:
        assert iso_ms(value) == iso_utc(from_ms(value)), value

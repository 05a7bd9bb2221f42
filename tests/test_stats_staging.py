"""Unit tests of the staging database: the merge, changed-only, never backwards, skips."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from learnsync.diff.stats import Compact, from_ms, item_hash, item_rank, to_ms
from learnsync.store.records import StatItemState
from learnsync.sync.staging import Staging
from stats_oracle import MappedStat, more_advanced

T0 = 1_700_000_000_000


def _item(
    ext: str, learner: str, completed: bool, progress: int, last: int, spent: int = 1
) -> Compact:
    return Compact(ext, learner, completed, progress, spent, T0, T0 + last)


@pytest.fixture
def staging(tmp_path):  # type: ignore[no-untyped-def]
    with Staging.create(str(tmp_path)) as s:
        yield s


def _sent(staging: Staging) -> list[tuple]:  # type: ignore[type-arg]
    return [row for batch in staging.iter_to_send(3) for row in batch]


def test_duplicate_rows_merge_most_advanced_first(staging: Staging) -> None:
    staging.add(_item("Course~a", "x@y.com", False, 40, 50))
    staging.add(_item("Course~a", "x@y.com", True, 100, 10))
    staging.add(_item("Course~a", "x@y.com", False, 90, 99))
    staging.add(_item("Course~b", "x@y.com", False, 10, 1))
    rows = _sent(staging)
    assert staging.merged_count() == 2
    by_ext = {r[1]: r for r in rows}
    assert by_ext["Course~a"][8] == 1 and by_ext["Course~a"][3] == 100
    assert by_ext["Course~b"][3] == 10


def test_merge_matches_more_advanced_on_random_rows(staging: Staging) -> None:
    rnd = random.Random(7)
    expected: dict[str, MappedStat] = {}
    for _ in range(3_000):
        learner = f"l{rnd.randrange(40)}@y.com"
        completed = rnd.random() < 0.3
        item = _item(
            "Course~a",
            learner,
            completed,
            100 if completed else rnd.randrange(101),
            rnd.randrange(5),
        )
        staging.add(item)
        stat = MappedStat(
            item.external_id,
            learner,
            completed,
            item.progress,
            1,
            from_ms(item.first),
            from_ms(item.last),
        )
        expected[learner] = more_advanced(expected[learner], stat) if learner in expected else stat
    got = {r[2]: (bool(r[8]), r[3], r[6]) for r in _sent(staging)}
    want = {k: (v.completed, v.progress, to_ms(v.last_activity_at)) for k, v in expected.items()}
    assert got == want


def _state(
    ext: str, learner: str, item: Compact | None, completed: bool, state: str = "sent"
) -> StatItemState:
    return StatItemState(
        ext,
        learner,
        state,
        item_hash(item) if item else None,
        completed,
        datetime(2025, 1, 1, tzinfo=UTC),
        None,
        sent_rank=item_rank(item) if item else None,
    )


@pytest.mark.parametrize(
    ("stored_item", "stored_completed", "stored_state", "new_item", "sent"),
    [
        (None, False, None, _item("C~1", "a@b.c", False, 10, 1), True),  # never stored
        (
            _item("C~1", "a@b.c", False, 10, 1),
            False,
            "sent",
            _item("C~1", "a@b.c", False, 10, 1),
            False,
        ),
        (
            _item("C~1", "a@b.c", False, 10, 1),
            False,
            "sent",
            _item("C~1", "a@b.c", False, 20, 1),
            True,
        ),
        (
            _item("C~1", "a@b.c", True, 100, 1),
            True,
            "sent",
            _item("C~1", "a@b.c", False, 20, 9),
            False,
        ),
        (
            _item("C~1", "a@b.c", True, 100, 1),
            True,
            "sent",
            _item("C~1", "a@b.c", True, 100, 1, spent=9),
            True,
        ),
        # a rejected item keeps its last accepted hash (here: none), so it is sent again
        (None, False, "failed", _item("C~1", "a@b.c", False, 10, 1), True),
    ],
)
def test_changed_only_and_never_backwards(
    staging: Staging,
    stored_item: Compact | None,
    stored_completed: bool,
    stored_state: str | None,
    new_item: Compact,
    sent: bool,
) -> None:
    if stored_state is not None:
        staging.load_states(
            [_state("C~1", "a@b.c", stored_item, stored_completed, stored_state)], to_ms
        )
    staging.add(new_item)
    assert staging.to_send_count() == int(sent)
    assert len(_sent(staging)) == int(sent)
    assert staging.merged_count() == 1


def test_stored_moments(staging: Staging) -> None:
    state = _state("C~1", "a@b.c", None, False, "failed")
    state.completed_seen_at = datetime(2025, 2, 1, tzinfo=UTC)
    assert staging.load_states([state], to_ms) == 1
    assert staging.moments("C~1", "a@b.c") == (
        to_ms(datetime(2025, 1, 1, tzinfo=UTC)),
        to_ms(datetime(2025, 2, 1, tzinfo=UTC)),
    )
    assert staging.moments("C~1", "other@b.c") == (None, None)


def test_skips_once_per_pair(staging: Staging) -> None:
    for _ in range(3):
        staging.add_skip("Course~zz", "a@b.c", "course_not_synchronized")
    staging.add_skip("Course~a", "EMP-1", "no_learner_email")
    staging.add_skip("Course~a", "EMP-1", "course_not_synchronized")  # the first reason stays
    assert list(staging.iter_skips()) == [
        ("Course~a", "EMP-1", "no_learner_email", None, None),
        ("Course~zz", "a@b.c", "course_not_synchronized", None, None),
    ]


def test_skips_carry_the_stored_state(staging: Staging) -> None:
    staging.load_states(
        [StatItemState("Course~a", "EMP-1", "skipped", last_error="no_learner_email")],
        to_ms,
    )
    staging.add_skip("Course~a", "EMP-1", "no_learner_email")
    staging.add_skip("Course~b", "EMP-1", "no_learner_email")
    assert [s[3:] for s in staging.iter_skips()] == [("skipped", "no_learner_email"), (None, None)]


def test_rows_added_after_a_read_are_merged_again(staging: Staging) -> None:
    staging.add(_item("C~1", "a@b.c", False, 10, 1))
    assert staging.to_send_count() == 1
    staging.add(_item("C~1", "a@b.c", False, 20, 1))
    staging.add(_item("C~2", "a@b.c", False, 20, 1))
    assert staging.merged_count() == 2
    assert sorted(r[3] for b in staging.iter_to_send(10) for r in b) == [20, 20]


def test_batches_hold_at_most_size(staging: Staging) -> None:
    for i in range(7):
        staging.add(_item("C~1", f"l{i}@b.c", False, 1, 1))
    assert [len(b) for b in staging.iter_to_send(3)] == [3, 3, 1]


def test_file_deleted_on_close(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Staging.create(str(tmp_path))
    s.add(_item("C~1", "a@b.c", False, 1, 1))
    s.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("new_item", "sent"),
    [
        (_item("C~1", "a@b.c", False, 20, 9_000), False),  # recent but less advanced
        (_item("C~1", "a@b.c", False, 90, 1_000, spent=7), False),  # same rank
        (_item("C~1", "a@b.c", False, 90, 9_000), True),  # later activity
        (_item("C~1", "a@b.c", True, 100, 500), True),  # completed
    ],
)
def test_incremental_sends_only_more_advanced(
    tmp_path: Path,
    new_item: Compact,
    sent: bool,
) -> None:
    accepted = _item("C~1", "a@b.c", False, 90, 1_000)
    with Staging.create(str(tmp_path), incremental=True) as staging:
        staging.load_states([_state("C~1", "a@b.c", accepted, False)], to_ms)
        staging.add(new_item)
        assert staging.to_send_count() == int(sent)
    with Staging.create(str(tmp_path)) as full:  # a full read sends any change
        full.load_states([_state("C~1", "a@b.c", accepted, False)], to_ms)
        full.add(new_item)
        assert full.to_send_count() == 1

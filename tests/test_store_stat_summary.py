"""Store.stat_summary (the Statistics page's aggregates, grouped in SQL) against the same
numbers computed in Python over every stored row, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from learnsync.service import insights
from learnsync.store import CourseCompletions, StatItemState, Store
from store_support import Clock

DAY = datetime(2024, 5, 10, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(DAY)


def _fill(store: Store, clock: Clock) -> int:
    """Rows rewritten at several instants around UTC midnights; completions likewise."""
    integration = store.get_or_create_integration("stats-summary")
    instants = [
        DAY - timedelta(days=3, microseconds=1),  # the last instant of a day
        DAY - timedelta(days=3),  # the first of the next one
        DAY - timedelta(days=1, hours=12),
        DAY - timedelta(microseconds=1),
        DAY + timedelta(hours=7, minutes=30),
    ]
    states = ("sent", "sent", "skipped", "failed")
    for n, instant in enumerate(instants):
        clock.now = instant
        items = []
        for k in range(6 + n):
            completed = k % 3 != 2
            items.append(
                StatItemState(
                    external_id=f"course-{k % (n + 2)}",
                    learner=f"learner-{(k * 7 + n) % 9}@example.com",
                    state=states[(k + n) % len(states)],
                    sent_completed=completed,
                    completed_seen_at=instants[(k + n) % len(instants)] if completed else None,
                )
            )
        store.save_stat_items(integration.id, items)
    # an earlier row, outside any window
    clock.now = DAY - timedelta(days=40)
    store.save_stat_items(
        integration.id,
        [
            StatItemState(
                "course-old",
                "old@example.com",
                "sent",
                sent_completed=True,
                completed_seen_at=DAY - timedelta(days=40),
            )
        ],
    )
    return integration.id


def test_stat_summary_matches_python(store: Store, clock: Clock) -> None:
    integration_id = _fill(store, clock)
    rows = list(store.iter_stat_items(integration_id))
    since = DAY - timedelta(days=3)

    summary = store.stat_summary(integration_id, since, top=3)

    assert summary.pairs_by_state == dict(Counter(r.state for r in rows))
    completed: Counter[date] = Counter()
    active: dict[date, set[str]] = {}
    for r in rows:
        if r.completed_seen_at is not None and r.completed_seen_at >= since:
            completed[r.completed_seen_at.date()] += 1
        assert r.updated_at is not None
        if r.updated_at >= since:
            active.setdefault(r.updated_at.date(), set()).add(r.learner)
    assert summary.completions_by_day == dict(completed)
    assert summary.active_learners_by_day == {d: len(s) for d, s in active.items()}
    assert all(isinstance(d, date) for d in summary.completions_by_day)

    by_course = Counter(r.external_id for r in rows if r.sent_completed)
    pairs = Counter(r.external_id for r in rows)
    expected = sorted(by_course.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert summary.top_courses == [CourseCompletions(c, n, pairs[c]) for c, n in expected]


def test_statistics_page_numbers(store: Store, clock: Clock) -> None:
    integration_id = _fill(store, clock)
    record = store.get_integration("stats-summary")
    assert record is not None and record.id == integration_id
    now = DAY + timedelta(hours=9)

    stats = insights.statistics(store, record, now, days=4, top=2)

    rows = list(store.iter_stat_items(integration_id))
    assert stats.days == [DAY.date() - timedelta(days=n) for n in (3, 2, 1, 0)]
    assert stats.completions == [
        sum(1 for r in rows if r.completed_seen_at and r.completed_seen_at.date() == d)
        for d in stats.days
    ]
    assert stats.active_learners == [
        len({r.learner for r in rows if r.updated_at and r.updated_at.date() == d})
        for d in stats.days
    ]
    assert (stats.sent, stats.skipped, stats.failed) == tuple(
        sum(1 for r in rows if r.state == s) for s in ("sent", "skipped", "failed")
    )
    assert stats.pairs == len(rows)
    assert [c.external_id for c in stats.top_courses] == [
        c.external_id for c in store.stat_summary(integration_id, DAY, top=2).top_courses
    ]
    assert insights.statistics(store, None, now).pairs == 0

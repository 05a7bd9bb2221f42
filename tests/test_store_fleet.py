"""What a fleet shares in the store (learnsync.store.fleet): live workers and roles.

On SQLite and PostgreSQL, with a fake clock: a worker not seen for ``ALIVE`` is not counted; of
two schedulers exactly one holds the role, and a standby takes it over once it expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from learnsync.store import Store
from learnsync.store.fleet import ALIVE, ROLE_TTL, Roles, Workers
from store_support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 2, 8, 45, tzinfo=UTC))


def test_workers_alive_are_those_seen_recently(store: Store, clock: Clock) -> None:
    workers = Workers(store.engine, clock)
    workers.register("w1@a", "a", 10, 2, "learnsync.priority,learnsync")
    workers.register("w2@b", "b", 11, 4, "learnsync")
    assert [w.name for w in workers.alive()] == ["w1@a", "w2@b"]
    clock.advance(ALIVE - timedelta(seconds=1))
    workers.beat("w1@a")
    clock.advance(timedelta(seconds=2))
    alive = workers.alive()
    assert [(w.name, w.concurrency, w.queues) for w in alive] == [
        ("w1@a", 2, "learnsync.priority,learnsync")
    ]
    workers.leave("w1@a")
    assert workers.alive() == []
    clock.advance(timedelta(days=2))
    assert workers.prune() == 1  # w2@b, killed: its row aged out


def test_a_worker_registered_again_is_one_row(store: Store, clock: Clock) -> None:
    workers = Workers(store.engine, clock)
    workers.register("w@a", "a", 10, 2, "q")
    workers.register("w@a", "a", 12, 3, "q")
    [only] = workers.alive()
    assert (only.pid, only.concurrency) == (12, 3)


def test_one_process_holds_a_role_and_a_standby_takes_it_over(store: Store, clock: Clock) -> None:
    roles = Roles(store.engine, clock)
    assert roles.hold("scheduler", "s1") is True
    assert roles.hold("scheduler", "s2") is False  # standing by
    clock.advance(ROLE_TTL - timedelta(seconds=1))
    assert roles.hold("scheduler", "s1") is True  # renewed
    clock.advance(ROLE_TTL - timedelta(seconds=1))
    assert roles.hold("scheduler", "s2") is False
    assert roles.holder("scheduler") == "s1"
    clock.advance(timedelta(seconds=2))  # s1 stopped renewing: expired
    assert roles.holder("scheduler") is None
    assert roles.hold("scheduler", "s2") is True
    assert roles.hold("scheduler", "s1") is False
    roles.give_up("scheduler", "s1")  # not its role: nothing happens
    assert roles.holder("scheduler") == "s2"
    roles.give_up("scheduler", "s2")
    assert roles.hold("scheduler", "s1") is True  # handed over at once

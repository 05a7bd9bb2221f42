"""Scheduler: 08:45 / 09:00 Paris across DST changes, run once per slot, catch-up, run lock."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from learnsync.errors import ConfigError
from learnsync.service.core import Service
from learnsync.service.scheduler import (
    Scheduler,
    latest_slot,
    next_slot,
    offset,
    slot_on,
    spread_from_env,
)
from learnsync.service.secrets import SecretBox
from service_support import sample_input


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("day", "at", "utc"),
    [
        (date(2024, 3, 30), "08:45", "07:45"),  # winter, UTC+1
        (date(2024, 3, 31), "08:45", "06:45"),  # DST starts at 02:00 that night: UTC+2
        (date(2024, 3, 31), "09:00", "07:00"),
        (date(2024, 10, 26), "09:00", "07:00"),  # summer
        (date(2024, 10, 27), "08:45", "07:45"),  # DST ends at 03:00 that night: UTC+1
        (date(2024, 10, 27), "09:00", "08:00"),
    ],
)
def test_paris_slots_across_dst(day: date, at: str, utc: str) -> None:
    slot = slot_on(day, at, "Europe/Paris")
    assert slot.tzinfo is UTC
    assert slot.strftime("%Y-%m-%d %H:%M") == f"{day.isoformat()} {utc}"


def test_next_and_latest_slot_around_the_change() -> None:
    before = datetime(2024, 3, 30, 7, 46, tzinfo=UTC)  # just after Saturday's 08:45 Paris
    assert next_slot(before, "08:45", "Europe/Paris") == datetime(2024, 3, 31, 6, 45, tzinfo=UTC)
    assert latest_slot(before, "08:45", "Europe/Paris") == datetime(2024, 3, 30, 7, 45, tzinfo=UTC)
    # 23 h later on the clock face it is already past Sunday's slot (the day has 23 hours)
    assert latest_slot(before + timedelta(hours=23), "08:45", "Europe/Paris") == datetime(
        2024, 3, 31, 6, 45, tzinfo=UTC
    )


@pytest.fixture
def env(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2024, 3, 29, 12, 0, tzinfo=UTC))
    calls: list[tuple[str, datetime]] = []
    gate = threading.Event()
    gate.set()

    def pipeline(kind: str):  # type: ignore[no-untyped-def]
        def run(config, progress, ticket, params):  # type: ignore[no-untyped-def]
            gate.wait(10)
            calls.append((kind, clock()))

        return run

    service = Service(
        f"sqlite:///{tmp_path / 'sched.db'}",
        SecretBox.generate(),
        clock=clock,
        pipelines={"content": pipeline("content"), "stats": pipeline("stats")},
    )
    service.integrations.save(sample_input())
    yield service, clock, calls, gate
    gate.set()
    service.close()


def test_runs_each_slot_once_across_dst(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, calls, _ = env
    scheduler = Scheduler(service.repo, service.runs, clock=clock)
    assert scheduler.tick() == []  # created at noon Friday: nothing missed
    starts: list[tuple[str, str]] = []
    # walk through Saturday and Sunday (DST starts Sunday 02:00) minute by minute around slots
    for day in (30, 31):
        for hour in range(5, 10):
            for minute in range(0, 60, 5):
                clock.now = datetime(2024, 3, day, hour, minute, tzinfo=UTC)
                for started in scheduler.tick():
                    starts.append((started.kind, clock.now.strftime("%d %H:%M")))
                # the runs' leases live on this clock too: let a run end before the clock
                # jumps past its lease's 2 minutes (as real time would, minute by minute)
                service.runs.wait()
    assert starts == [
        ("content", "30 07:45"),
        ("stats", "30 08:00"),
        ("content", "31 06:45"),
        ("stats", "31 07:00"),
    ]
    service.runs.wait()
    assert [k for k, _ in calls] == ["content", "stats", "content", "stats"]


def test_missed_slots_run_once_at_start_up(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, calls, _ = env
    clock.now = datetime(2024, 4, 3, 12, 0, tzinfo=UTC)  # down for five days
    scheduler = Scheduler(service.repo, service.runs, clock=clock)
    started = scheduler.tick()
    assert [(s.kind, s.slot) for s in started] == [
        ("content", datetime(2024, 4, 3, 6, 45, tzinfo=UTC)),
        ("stats", datetime(2024, 4, 3, 7, 0, tzinfo=UTC)),
    ]
    assert scheduler.tick() == []
    # a second process (another scheduler on the same database) does not run them again
    other = Scheduler(service.repo, service.runs, clock=clock)
    assert other.tick() == []
    service.runs.wait()
    assert len(calls) == 2


def test_edited_schedule_and_disabled_one(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, _calls, _ = env
    service.repo.set_schedule(1, "content", time_of_day="22:00", timezone="UTC", enabled=True)
    service.repo.set_schedule(
        1, "stats", time_of_day="09:00", timezone="Europe/Paris", enabled=False
    )
    scheduler = Scheduler(service.repo, service.runs, clock=clock)
    clock.now = datetime(2024, 3, 29, 22, 1, tzinfo=UTC)
    assert [s.kind for s in scheduler.tick()] == ["content"]
    service.runs.wait()  # before the clock (the leases' too) jumps to the next morning
    clock.now = datetime(2024, 3, 30, 9, 0, tzinfo=UTC)
    assert scheduler.tick() == []
    assert scheduler.next_runs(1) == {
        "content": datetime(2024, 3, 30, 22, 0, tzinfo=UTC),
        "stats": None,
    }


def test_one_run_per_integration_and_stats_wait_for_content(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, calls, gate = env
    gate.clear()
    clock.now = datetime(2024, 3, 30, 8, 1, tzinfo=UTC)  # both slots due
    first = service.runs.start(1, "content")  # blocked inside the pipeline
    second = service.runs.start(1, "stats")  # queued behind the integration's lease
    # another process sharing the database queues the due slots too: they wait in the queue
    other = Service(service.store_url, SecretBox.generate(), clock=clock, owner="other-process")
    try:
        scheduler = Scheduler(other.repo, other.runs, clock=clock)
        assert [s.kind for s in scheduler.tick()] == ["content", "stats"]
        assert service.runs.get(second).status == "queued"
        gate.set()
        service.runs.wait()
        other.runs.wait()
        assert service.runs.get(first).status == "succeeded"
        assert service.runs.get(second).status == "succeeded"
        assert [k for k, _ in calls] == ["content", "stats", "content", "stats"]
    finally:
        other.close()


def test_of_two_schedulers_one_enqueues_and_the_other_takes_over(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, calls, _ = env
    other = Service(
        service.store_url,
        service.integrations.box,  # another process of the same deployment: the same key
        clock=clock,
        owner="standby-host:1:x",
        pipelines=service.runs.pipelines,
    )
    try:
        first, second = other.scheduler(), service.scheduler()
        clock.now = datetime(2024, 3, 30, 8, 1, tzinfo=UTC)  # both slots due
        assert [s.kind for s in first.tick()] == ["content", "stats"]  # it holds the role
        clock.now += timedelta(seconds=30)
        assert second.tick() == []  # standing by
        clock.now += timedelta(seconds=20)
        assert first.tick() == []  # active, renewing; nothing due
        service.runs.wait()
        other.runs.wait()
        first.stop()  # hands the role over at once
        clock.now = datetime(2024, 3, 31, 8, 1, tzinfo=UTC)  # the next morning's slots
        assert [s.kind for s in second.tick()] == ["content", "stats"]
        assert first.tick() == []  # the role is the other's now
        service.runs.wait()
        other.runs.wait()
        assert len(calls) == 4
    finally:
        other.close()


def test_runs_start_at_their_integrations_offset_within_the_spread(env) -> None:  # type: ignore[no-untyped-def]
    service, clock, _calls, _ = env
    spread = 600.0
    delay = offset(1, spread)
    assert timedelta(0) <= delay < timedelta(seconds=spread) and delay == offset(1, spread)
    assert len({offset(n, spread) for n in range(50)}) > 30  # integrations spread apart
    assert offset(1, 0) == timedelta(0)
    scheduler = Scheduler(service.repo, service.runs, clock=clock, spread=spread)
    slot = datetime(2024, 3, 30, 7, 45, tzinfo=UTC)  # 08:45 Paris
    clock.now = slot + delay - timedelta(seconds=1)
    assert scheduler.tick() == []
    assert scheduler.next_runs(1)["content"] == slot + delay
    clock.now = slot + delay
    [started] = scheduler.tick()
    assert (started.kind, started.slot) == ("content", slot)  # the slot, claimed once
    service.runs.wait()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", 0.0), ("0", 0.0), ("600", 600.0), (" 3600 ", 3600.0)]
)
def test_the_spread_setting(raw: str, seconds: float) -> None:
    assert spread_from_env({"LEARNSYNC_SCHEDULE_SPREAD": raw}) == seconds


@pytest.mark.parametrize("raw", ["-1", "3601", "ten", "1.5"])
def test_a_bad_spread_setting_is_refused_with_the_range(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"LEARNSYNC_SCHEDULE_SPREAD.*0 to 3600"):
        spread_from_env({"LEARNSYNC_SCHEDULE_SPREAD": raw})

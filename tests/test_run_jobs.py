"""Runs as jobs (learnsync.store.jobs): queue, lease, progress, cancel, crash expiry.

On SQLite and PostgreSQL; a fake clock drives lease expiry; separate processes race for one
integration's lease.
"""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from learnsync.store import Store
from learnsync.store.db import create_store_engine
from learnsync.store.jobs import (
    LEASE_TTL,
    IntegrationBusy,
    LeaseLost,
    NotQueued,
    RunJobs,
    WaitsBehind,
    default_owner,
    owner_gone,
)
from store_support import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 12, 2, 8, 45, tzinfo=UTC))


@pytest.fixture
def jobs(store: Store, clock: Clock) -> RunJobs:
    return RunJobs(store.engine, clock)


def _integration(store: Store, name: str = "a") -> int:
    return store.get_or_create_integration(f"https://x|g|{name}").id


def test_a_submitted_run_is_queued_with_its_trigger(store: Store, jobs: RunJobs) -> None:
    run_id = jobs.submit(_integration(store), "content", "schedule")
    job = jobs.get(run_id)
    assert job is not None
    assert (job.status, job.trigger, job.kind, job.done, job.total) == (
        "queued",
        "schedule",
        "content",
        0,
        None,
    )
    assert job.queued_at == jobs.now()
    assert [j.id for j in jobs.queued()] == [run_id]


def test_start_takes_the_lease_and_a_second_run_waits_behind_it(
    store: Store, jobs: RunJobs
) -> None:
    integration = _integration(store)
    first = jobs.submit(integration, "content", "manual")
    second = jobs.submit(integration, "stats", "schedule")
    assert jobs.start(first, "host-a").status == "running"
    with pytest.raises(IntegrationBusy, match=rf"a content run \(run {first}\)") as busy:
        jobs.start(second, "host-b")
    assert busy.value.lease.owner == "host-a"
    assert jobs.get(second).status == "queued"  # type: ignore[union-attr]
    assert jobs.claim_next("host-b") is None  # the only queued run's integration is busy
    jobs.release(first, "host-a")
    claimed = jobs.claim_next("host-b")
    assert claimed is not None and claimed.id == second and claimed.status == "running"
    lease = jobs.lease(integration)
    assert lease is not None and (lease.run_id, lease.owner) == (second, "host-b")


def test_claim_next_passes_a_busy_integration_for_a_free_one(store: Store, jobs: RunJobs) -> None:
    busy, free = _integration(store, "busy"), _integration(store, "free")
    jobs.start(jobs.submit(busy, "content", "manual"), "w1")
    waiting = jobs.submit(busy, "stats", "schedule")
    other = jobs.submit(free, "stats", "schedule")
    claimed = jobs.claim_next("w2")
    assert claimed is not None and claimed.id == other
    assert jobs.claim_next("w2") is None
    assert [j.id for j in jobs.queued()] == [waiting]


def test_dry_runs_take_no_lease(store: Store, jobs: RunJobs) -> None:
    integration = _integration(store)
    jobs.start(jobs.submit(integration, "content", "cli"), "w1")
    dry = jobs.submit(integration, "content", "cli", dry_run=True)
    assert jobs.start(dry, "w2").status == "running"
    jobs.beat(dry, "w2", stage="reading", done=3)
    assert jobs.lease(integration).run_id != dry  # type: ignore[union-attr]


def test_beat_stores_progress_and_renews_the_lease(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    integration = _integration(store)
    run_id = jobs.submit(integration, "stats", "cli")
    jobs.start(run_id, "w1")
    clock.advance(timedelta(seconds=30))
    beat = jobs.beat(run_id, "w1", stage="sending", done=250, total=1000)
    assert not beat.cancel_requested
    job = jobs.get(run_id)
    assert job is not None
    assert (job.stage, job.done, job.total, job.heartbeat_at) == (
        "sending",
        250,
        1000,
        clock.now,
    )
    assert jobs.lease(integration).expires_at == clock.now + LEASE_TTL  # type: ignore[union-attr]
    jobs.beat(run_id, "w1", done=300)  # a beat without a stage keeps the stage and total
    job = jobs.get(run_id)
    assert job is not None and (job.stage, job.done, job.total) == ("sending", 300, 1000)


def test_cancel_a_queued_run_at_once_and_a_running_one_at_its_next_beat(
    store: Store, jobs: RunJobs
) -> None:
    integration = _integration(store)
    running = jobs.submit(integration, "content", "manual")
    queued = jobs.submit(integration, "stats", "manual")
    jobs.start(running, "w1")
    assert jobs.cancel(queued) == "cancelled"
    assert jobs.get(queued).status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(NotQueued):
        jobs.start(queued, "w2")
    assert jobs.cancel(running) == "cancelling"
    assert jobs.beat(running, "w1").cancel_requested
    jobs.end(running, "w1", "cancelled", "cancelled by admin")
    assert jobs.get(running).status == "cancelled"  # type: ignore[union-attr]
    assert jobs.lease(integration) is None
    assert jobs.cancel(running) == "cancelled"  # an ended run stays as it is
    assert jobs.claim_next("w2") is None  # the cancelled queued run is not started


def test_a_crashed_runs_lease_expires_and_the_run_is_failed_with_the_reason(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    integration = _integration(store)
    dead = jobs.submit(integration, "content", "cli")
    jobs.start(dead, "killed-host")
    jobs.beat(dead, "killed-host", stage="sending")
    beat_at = clock.now
    after = jobs.submit(integration, "content", "cli")
    clock.advance(LEASE_TTL - timedelta(seconds=1))
    with pytest.raises(IntegrationBusy):
        jobs.start(after, "w2")  # not expired yet
    clock.advance(timedelta(seconds=1))
    assert jobs.start(after, "w2").status == "running"
    failed = jobs.get(dead)
    assert failed is not None and failed.status == "failed"
    assert failed.error == (
        f"the process running it stopped: no heartbeat since "
        f"{beat_at:%Y-%m-%d %H:%M:%S} UTC, its lease expired"
    )
    assert failed.finished_at == clock.now
    with pytest.raises(LeaseLost):
        jobs.beat(dead, "killed-host")  # it must not write on: another run owns the integration


def test_expire_frees_integrations_without_a_claimant(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    integration = _integration(store)
    run_id = jobs.submit(integration, "stats", "schedule")
    jobs.start(run_id, "w1")
    assert jobs.expire() == []
    clock.advance(LEASE_TTL * 2)
    assert jobs.expire() == [run_id]
    assert jobs.lease(integration) is None
    assert jobs.get(run_id).status == "failed"  # type: ignore[union-attr]


def test_every_status_of_the_lifecycle_is_accepted_by_the_schema(
    store: Store, jobs: RunJobs
) -> None:
    run_id = jobs.submit(_integration(store), "content", "cli")
    for status in ("running", "partial", "succeeded", "failed", "cancelled", "queued"):
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET status = :s WHERE id = :id"), {"s": status, "id": run_id}
            )
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'paused' WHERE id = :id"), {"id": run_id})


def _race(url: str, run_id: int, go: Event) -> str:
    engine = create_store_engine(url)
    try:
        go.wait(30)
        RunJobs(engine).start(run_id, f"proc-{run_id}")
        return "started"
    except IntegrationBusy:
        return "busy"
    finally:
        engine.dispose()


def _race_entry(url: str, run_id: int, go: Event, results: Queue[tuple[int, str]]) -> None:
    results.put((run_id, _race(url, run_id, go)))


def test_processes_racing_for_one_integration_only_one_starts(store: Store, url: str) -> None:
    jobs = RunJobs(store.engine)
    integration = _integration(store)
    run_ids = [jobs.submit(integration, kind, "cli") for kind in ("content", "stats") * 3]
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_race_entry, args=(url, run_id, go, results)) for run_id in run_ids
    ]
    for worker in workers:
        worker.start()
    go.set()
    outcomes = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(30)
    assert sorted(outcomes.values()) == ["busy"] * 5 + ["started"]
    winner = next(run_id for run_id, outcome in outcomes.items() if outcome == "started")
    assert jobs.lease(integration).run_id == winner  # type: ignore[union-attr]
    assert [j.id for j in jobs.queued()] == sorted(set(run_ids) - {winner})


def test_a_lease_of_a_process_of_this_host_that_is_gone_is_taken_at_once(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    """A CLI run after a ``kill -9`` does not wait for the lease to expire."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_owner = f"{socket.gethostname()}:{int(child.stdout)}:abcd1234"
    alive_owner = f"{socket.gethostname()}:1:abcd1234"  # init: alive, another user's or ours
    elsewhere = f"another-host.example:{int(child.stdout)}:abcd1234"
    assert owner_gone(dead_owner)
    assert not owner_gone(alive_owner) and not owner_gone(elsewhere)
    assert not owner_gone(default_owner())  # this very process

    integration = _integration(store)
    killed = jobs.submit(integration, "content", "cli")
    jobs.start(killed, elsewhere)
    after = jobs.submit(integration, "content", "cli")
    with pytest.raises(IntegrationBusy):
        jobs.start(after, "w2")  # another host's process: only its expiry frees it
    jobs.release(killed, elsewhere)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET status = 'queued' WHERE id = :id"), {"id": killed})
    jobs.start(killed, dead_owner)
    assert jobs.start(after, "w2").status == "running"
    failed = jobs.get(killed)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and failed.error.startswith(
        f"the process running it (pid {int(child.stdout)}) stopped: last heartbeat "
    )


def test_a_fleet_run_whose_process_died_is_retried_once_then_is_a_poison_run(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    integration = _integration(store)
    run_id = jobs.submit(integration, "content", "schedule", max_attempts=2)
    first = jobs.start(run_id, "worker-a")
    assert (first.attempts, first.worker) == (1, "worker-a")
    clock.advance(LEASE_TTL)
    assert jobs.expire() == [run_id]
    again = jobs.get(run_id)
    assert again is not None and again.status == "queued"  # retried: queued again
    assert again.queued_at == clock.now and again.error is not None
    assert again.error.startswith("attempt 1 stopped (the process running it stopped")
    assert jobs.lease(integration) is None

    second = jobs.claim_next("worker-b")
    assert second is not None and (second.id, second.attempts, second.worker) == (
        run_id,
        2,
        "worker-b",
    )
    clock.advance(LEASE_TTL)
    assert jobs.expire() == [run_id]
    poison = jobs.get(run_id)
    assert poison is not None and poison.status == "failed"
    assert poison.error is not None
    assert poison.error.startswith("stopped after 2 attempts, not retried again: the process")
    assert jobs.claim_next("worker-c") is None


def test_a_run_with_one_attempt_fails_when_its_process_died(
    store: Store, jobs: RunJobs, clock: Clock
) -> None:
    run_id = jobs.submit(_integration(store), "content", "manual")
    jobs.start(run_id, "serve-a")
    clock.advance(LEASE_TTL)
    jobs.expire()
    failed = jobs.get(run_id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and failed.error.startswith("the process running it stopped")


def test_a_message_for_a_run_whose_process_is_gone_starts_it_again(
    store: Store, jobs: RunJobs
) -> None:
    pid = [sys.executable, "-c", "import os; print(os.getpid())"]
    child = subprocess.run(pid, check=True, capture_output=True, text=True)
    dead_owner = f"{socket.gethostname()}:{int(child.stdout)}:deadbeef"
    run_id = jobs.submit(_integration(store), "stats", "schedule", max_attempts=2)
    jobs.start(run_id, dead_owner)
    # the killed worker's message handed to another worker: the run starts there at once
    restarted = jobs.start(run_id, "worker-b")
    assert (restarted.status, restarted.attempts, restarted.worker) == ("running", 2, "worker-b")
    with pytest.raises(NotQueued):
        jobs.start(run_id, "worker-c")  # a live run is not started twice


@pytest.mark.parametrize(
    ("triggers", "first"),
    [
        (("schedule", "schedule", "manual"), 2),
        (("schedule", "filters", "manual"), 1),
        (("cli", "schedule"), 0),
        (("manual", "schedule"), 0),
    ],
)
def test_runs_a_person_asked_for_pass_scheduled_ones(
    store: Store, jobs: RunJobs, triggers: tuple[str, ...], first: int
) -> None:
    ids = [
        jobs.submit(_integration(store, f"i{n}"), "content", trigger)
        for n, trigger in enumerate(triggers)
    ]
    claimed = jobs.claim_next("w")
    assert claimed is not None and claimed.id == ids[first]


def test_in_order_a_run_waits_behind_an_older_queued_run_of_its_integration(
    store: Store, jobs: RunJobs
) -> None:
    integration = _integration(store)
    content = jobs.submit(integration, "content", "schedule")
    stats = jobs.submit(integration, "stats", "schedule")
    other = jobs.submit(_integration(store, "b"), "stats", "schedule")
    assert jobs.ahead_of(stats) == content and jobs.ahead_of(content) is None
    with pytest.raises(WaitsBehind, match=rf"behind run {content}"):
        jobs.start(stats, "w1", in_order=True)
    assert jobs.start(other, "w1", in_order=True).status == "running"  # another integration
    jobs.start(content, "w1", in_order=True)
    assert jobs.ahead_of(stats) == content  # running: still ahead of it
    jobs.end(content, "w1", "succeeded")
    assert jobs.ahead_of(stats) is None
    assert jobs.start(stats, "w2", in_order=True).status == "running"

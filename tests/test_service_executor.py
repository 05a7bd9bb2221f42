"""The bounded executor (learnsync.service.executor) over a real store: pool size, queueing
behind a busy integration, cancellation, crashes, progress and the heartbeat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from learnsync.errors import LearnsyncError
from learnsync.service.executor import Executor, JobProgress, execute_started
from learnsync.store import Store
from learnsync.store.jobs import JobRecord, RunJobs


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store.open(url) as opened:
        yield opened


def _integration(store: Store, name: str) -> int:
    return store.get_or_create_integration(f"https://x|g|{name}").id


def _succeed(job: JobRecord, progress: JobProgress) -> None:
    progress.jobs.end(job.id, progress.owner, "succeeded")


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _status(jobs: RunJobs, run_id: int) -> str:
    job = jobs.get(run_id)
    assert job is not None
    return job.status


class Gate:
    """A body that records how many run at once and waits until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.order: list[int] = []

    def __call__(self, job: JobRecord, progress: JobProgress) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.order.append(job.id)
        try:
            self.release.wait(20)
        finally:
            with self.lock:
                self.now -= 1
        _succeed(job, progress)


def test_the_pool_runs_at_most_size_runs_at_once(store: Store) -> None:
    jobs = RunJobs(store.engine)
    run_ids = [jobs.submit(_integration(store, str(i)), "content", "schedule") for i in range(6)]
    gate = Gate()
    executor = Executor(jobs, gate, size=2, poll=0.05)
    executor.start()
    try:
        _wait_for(lambda: gate.now == 2)
        time.sleep(0.3)  # a third would have started by now
        assert gate.now == 2 and len(jobs.queued()) == 4
        gate.release.set()
        _wait_for(lambda: all(_status(jobs, r) == "succeeded" for r in run_ids))
    finally:
        gate.release.set()
        executor.stop()
    assert gate.most == 2
    assert sorted(gate.order[:2]) == run_ids[:2]  # the oldest first
    assert sorted(gate.order) == run_ids


def test_a_run_of_a_busy_integration_waits_in_the_queue_not_in_a_worker(store: Store) -> None:
    jobs = RunJobs(store.engine)
    integration = _integration(store, "one")
    first = jobs.submit(integration, "content", "schedule")
    second = jobs.submit(integration, "stats", "schedule")
    other = jobs.submit(_integration(store, "two"), "stats", "schedule")
    gate = Gate()
    executor = Executor(jobs, gate, size=2, poll=0.05)
    executor.start()
    try:
        _wait_for(lambda: gate.now == 2)
        assert set(gate.order) == {first, other}  # the second worker took the free integration
        assert _status(jobs, second) == "queued"
        gate.release.set()
        _wait_for(lambda: _status(jobs, second) == "succeeded")
    finally:
        gate.release.set()
        executor.stop()
    assert gate.order.index(second) > gate.order.index(first)


def test_a_cancelled_run_stops_at_its_next_progress_step(store: Store) -> None:
    jobs = RunJobs(store.engine)
    run_id = jobs.submit(_integration(store, "c"), "content", "manual")
    started = threading.Event()
    steps: list[int] = []

    def body(job: JobRecord, progress: JobProgress) -> None:
        progress.interval = 0.0
        progress.stage("sending", total=1_000_000)
        started.set()
        for step in range(1_000_000):
            steps.append(step)
            progress.advance()
            time.sleep(0.005)
        _succeed(job, progress)

    executor = Executor(jobs, body, size=1, poll=0.05)
    executor.start()
    try:
        assert started.wait(20)
        assert jobs.cancel(run_id) == "cancelling"
        _wait_for(lambda: _status(jobs, run_id) == "cancelled")
    finally:
        executor.stop()
    job = jobs.get(run_id)
    assert job is not None and job.error == "cancelled while it ran; what it had written is kept"
    assert job.stage == "sending" and 0 < job.done < 1_000_000
    assert jobs.lease(job.integration_id) is None
    assert len(steps) < 1_000_000


def test_a_stopping_executor_waits_then_cancels_the_runs_still_going(store: Store) -> None:
    jobs = RunJobs(store.engine)
    run_id = jobs.submit(_integration(store, "s"), "stats", "schedule")
    started = threading.Event()

    def body(job: JobRecord, progress: JobProgress) -> None:
        progress.interval = 0.0
        progress.stage("sending", total=None)
        started.set()
        for _ in range(3000):  # a long run (30 s) that only a cancel request cuts short
            progress.advance()
            time.sleep(0.01)
        _succeed(job, progress)

    executor = Executor(jobs, body, size=1, poll=0.05)
    executor.start()
    assert started.wait(20)
    executor.stop(timeout=0.3)  # waited 0.3 s, then asked it to stop: it did, at its next step
    assert _status(jobs, run_id) == "cancelled"
    job = jobs.get(run_id)
    assert job is not None and jobs.lease(job.integration_id) is None


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            RuntimeError("token=s3cr3t refused"),
            "unexpected RuntimeError; the service log has the details",
        ),
        (
            LearnsyncError("360Learning refused\nthe credentials"),
            "360Learning refused the credentials",
        ),
        (  # an upstream's answer quoted in the error: no terminal escape reaches the row
            LearnsyncError("360Learning said: \x1b[31mno\x00 \u202eway"),
            "360Learning said: [31mno way",
        ),
    ],
)
def test_a_body_that_raises_fails_its_run_with_one_line_and_frees_the_integration(
    store: Store, error: Exception, expected: str
) -> None:
    jobs = RunJobs(store.engine)
    integration = _integration(store, "x")
    run_id = jobs.submit(integration, "stats", "manual")
    job = jobs.start(run_id, "me")

    def body(_job: JobRecord, _progress: JobProgress) -> None:
        raise error

    execute_started(jobs, job, "me", body)
    ended = jobs.get(run_id)
    assert ended is not None and (ended.status, ended.error) == ("failed", expected)
    assert jobs.lease(integration) is None


def test_a_body_that_records_no_outcome_is_a_failed_run(store: Store) -> None:
    jobs = RunJobs(store.engine)
    run_id = jobs.submit(_integration(store, "n"), "content", "cli")
    execute_started(jobs, jobs.start(run_id, "me"), "me", lambda _j, _p: None)
    job = jobs.get(run_id)
    assert job is not None
    assert (job.status, job.error) == ("failed", "the run ended without recording its outcome")


def test_the_heartbeat_keeps_a_quiet_runs_lease_alive(store: Store) -> None:
    jobs = RunJobs(store.engine, ttl=timedelta(seconds=0.6))
    integration = _integration(store, "quiet")
    run_id = jobs.submit(integration, "stats", "cli")
    expired: list[list[int]] = []

    def body(job: JobRecord, progress: JobProgress) -> None:
        for _ in range(8):  # 2 s without a progress step: more than three lease lifetimes
            time.sleep(0.25)
            expired.append(RunJobs(store.engine).expire())
        _succeed(job, progress)

    execute_started(jobs, jobs.start(run_id, "me"), "me", body)
    assert expired == [[]] * 8
    assert _status(jobs, run_id) == "succeeded"


def test_progress_is_in_the_run_row_for_any_process_to_read(store: Store) -> None:
    jobs = RunJobs(store.engine)
    run_id = jobs.submit(_integration(store, "p"), "content", "manual")
    seen: list[tuple[str | None, int, int | None]] = []

    def body(job: JobRecord, progress: JobProgress) -> None:
        progress.stage("reading", total=40)
        progress.interval = 0.0
        progress.advance(25)
        other = RunJobs(store.engine).get(job.id)  # another reader of the database
        assert other is not None
        seen.append((other.stage, other.done, other.total))
        _succeed(job, progress)

    execute_started(jobs, jobs.start(run_id, "me"), "me", body)
    assert seen == [("reading", 25, 40)]

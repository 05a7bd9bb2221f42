"""Two ``learnsync worker`` processes on one store and one broker (real Redis, PostgreSQL).

- runs of one integration submitted together never overlap, whichever worker takes them, and
  each run records the worker that executed it;
- a worker killed with SIGKILL in the middle of a run (its whole process group: a machine lost)
  lets the run's lease expire; the service's sweep queues it again and hands it to the fleet,
  the other worker runs it to the end (second attempt), and 360Learning ends exactly as after
  an uninterrupted run of the same world — nothing created twice, nothing missing;
- a run a person asked for is sent to the priority queue, a scheduled one to the main queue;
- a worker stopped with SIGTERM finishes the run it executes, then exits 0.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_support import assert_same, end_state
from fleet_support import Fleet, running_fleet
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.store.fleet import Workers
from learnsync.workers.fleet import default_queues, dispatcher, priority_queue

pytestmark = pytest.mark.postgres

WORLD = World(seed=23, catalog_size=60, learners=20, enrollments=80)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    one = ["--concurrency", "1"]
    with running_fleet(tmp_path_factory.mktemp("fleet2"), WORLD, [one, one]) as made:
        made.service.runs.expire_every = 0.5  # dead workers found quickly (serve: 15 s)
        made.service.runs.start_executor()  # the sweep, as serve starts it
        yield made


def test_both_workers_are_alive_in_the_store(fleet: Fleet) -> None:
    alive = Workers(fleet.service.store.engine).alive()
    assert sorted(w.pid for w in alive) == sorted(w.proc.pid for w in fleet.workers)
    assert {w.queues for w in alive} == {",".join(default_queues(fleet.queue))}


def test_runs_of_one_integration_never_overlap(fleet: Fleet) -> None:
    integration_id = fleet.integration("Coursera (one at a time)")
    ids = [
        fleet.service.runs.start(integration_id, kind, "manual")
        for kind in ("content", "stats", "content", "stats")
    ]
    jobs = [fleet.final(run_id, 90) for run_id in ids]

    assert [j.status for j in jobs] == ["succeeded"] * 4, [j.error for j in jobs]
    ordered = sorted(jobs, key=lambda j: j.started_at)
    assert [j.id for j in ordered] == ids  # in submission order: statistics after content
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.finished_at is not None and earlier.finished_at <= later.started_at
    host = socket.gethostname()
    assert all(j.attempts == 1 and (j.worker or "").startswith(f"{host}:") for j in jobs)


def _worker_of(fleet: Fleet, owner: str) -> Any:
    pid = int(owner.split(":")[1])
    group = os.getpgid(pid)
    return next(w for w in fleet.workers if w.proc.pid == group)


def test_a_worker_killed_mid_run_the_run_completes_on_the_other(
    fleet: Fleet, tmp_path: Path
) -> None:
    with running_stack(WORLD) as killed, running_stack(WORLD) as clean:
        reference = fleet.integration("Coursera (clean)", clean)
        done = fleet.final(fleet.service.runs.start(reference, "content"), 60)
        assert done.status == "succeeded", done.error

        integration_id = fleet.integration("Coursera (killed)", killed)
        # bulk operations that take a while: the kill lands while the run follows one
        killed.threesixty.faults.add(
            Fault(path="/bulk/operations", kind="slow", delay=1.5, times=-1)
        )
        run_id = fleet.service.runs.start(integration_id, "content")

        def submitted() -> Any:
            job = fleet.service.runs.get(run_id)
            busy = job is not None and job.status == "running" and job.worker
            return job if busy and killed.threesixty.operations else None

        job = fleet.wait(submitted, 60, "the run following a bulk operation")
        victim = _worker_of(fleet, job.worker or "")
        victim.kill()

        retried = fleet.final(run_id, 90)
        killed.threesixty.faults.clear()

        assert retried.status == "succeeded", retried.error
        assert retried.attempts == 2
        survivor = next(w for w in fleet.workers if w is not victim)
        assert _worker_of(fleet, retried.worker or "") is survivor
        assert_same(end_state(killed), end_state(clean))
        fleet.workers.remove(victim)


class _App:
    """A Celery app that records what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any], str]] = []

    def send_task(self, name: str, *, args: list[Any], queue: str) -> None:
        self.sent.append((name, args, queue))


@pytest.mark.parametrize(
    ("trigger", "queue"),
    [("manual", "q.priority"), ("filters", "q.priority"), ("schedule", "q"), ("cli", "q")],
)
def test_a_run_a_person_asked_for_goes_to_the_priority_queue(trigger: str, queue: str) -> None:
    app = _App()
    dispatcher(app, "q")(7, trigger)  # type: ignore[arg-type]
    assert app.sent == [("learnsync.execute_run", [7], queue)]
    assert default_queues("q") == [priority_queue("q"), "q"]  # a worker reads it first


def test_a_worker_stopped_with_term_finishes_its_run_then_exits(fleet: Fleet) -> None:
    """SIGTERM to the worker's main process (systemd's stop with ``KillMode=mixed``): a warm
    shutdown — the run it executes ends normally, then the worker exits 0."""
    [worker] = [w for w in fleet.workers if w.proc.poll() is None][-1:]
    with running_stack(WORLD) as slow:
        slow.threesixty.faults.add(Fault(path="/bulk/operations", kind="slow", delay=1.0, times=-1))
        run_id = fleet.service.runs.start(fleet.integration("Coursera (term)", slow), "content")

        def following() -> Any:
            job = fleet.service.runs.get(run_id)
            busy = job is not None and job.status == "running" and job.worker
            return job if busy and slow.threesixty.operations else None

        job = fleet.wait(following, 60, "the run following a bulk operation")
        assert _worker_of(fleet, job.worker or "") is worker
        os.kill(worker.proc.pid, signal.SIGTERM)

        done = fleet.final(run_id, 90)
        assert (done.status, done.attempts) == ("succeeded", 1), done.error
        assert worker.proc.wait(60) == 0

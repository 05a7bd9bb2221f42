"""``learnsync worker``: runs executed by a fleet on Celery, over a real Redis and a real worker.

Both simulators run in the test process (``running_stack``); the service is built as ``serve``
builds it with ``LEARNSYNC_BROKER_URL`` set (it only submits and sends the run's id), on a
PostgreSQL schema of its own; ``learnsync worker`` is a subprocess on the same store, the same
secret key and the same broker. The broker is a Redis database and a queue whose names are
this test run's own, so parallel runs cannot take each other's messages.

- a run submitted through the service ends ``succeeded``, executed by the worker, with the
  simulator's courses created;
- a task message sent twice for one run executes it once (the second finds it not queued);
- without a broker a service executes nothing through a dispatch, and with one its sweep hands
  queued runs again (a lost message loses no run);
- the worker refuses a SQLite store, and a missing broker, with one line and exit 2; so does
  ``serve`` with a broker on a SQLite store, or a broker setting that is not a broker URL; and so
  does ``learnsync scheduler``, which otherwise holds the scheduler role until SIGTERM, then
  hands it over at once and exits 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from fleet_support import Fleet, running_fleet
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.store.fleet import Roles
from learnsync.store.testing import sqlite_url
from learnsync.workers.fleet import dispatcher, make_app
from service_support import sample_input

pytestmark = pytest.mark.postgres

WORLD = World(seed=11, catalog_size=40, learners=10, enrollments=30)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("fleet"), WORLD, [["--concurrency", "2"]]) as made:
        yield made


def test_a_run_submitted_by_the_service_is_executed_by_a_worker(fleet: Fleet) -> None:
    integration_id = fleet.integration("Coursera (fleet)")
    assert fleet.service.runs.dispatch is not None  # serve with a broker: it only submits
    run_id = fleet.service.runs.start(integration_id, "content")

    job = fleet.final(run_id)

    assert job.status == "succeeded", job.error
    # the row records its end, then the worker gives the lease back
    lease_of = fleet.service.runs.jobs.lease
    fleet.wait(lambda: lease_of(integration_id) is None, 10, "the lease released")
    assert len(fleet.stack.threesixty.courses) > 0
    started = fleet.of_run(run_id, "run started")
    assert len(started) == 1 and started[0]["logger"] == "learnsync.service.runs"
    assert fleet.service.runs.pool_started is False  # nothing ran in the service's pool


def test_a_duplicated_message_executes_its_run_once(fleet: Fleet) -> None:
    integration_id = fleet.integration("Coursera (twice)")
    run_id = fleet.service.runs.jobs.submit(integration_id, "content", "manual")
    send = dispatcher(make_app(fleet.broker, fleet.queue), fleet.queue)
    send(run_id, "manual")
    send(run_id, "schedule")

    job = fleet.final(run_id)

    assert job.status == "succeeded", job.error
    # the second message finds the run started or ended (at once, or after a busy retry)
    fleet.wait(lambda: fleet.of_run(run_id, "not queued"), 30, "the duplicate left alone")
    assert len(fleet.of_run(run_id, "run started")) == 1
    assert len(fleet.of_run(run_id, "not queued")) == 1


def test_the_sweep_hands_queued_runs_again(tmp_path: Path) -> None:
    handed: list[int] = []
    service = Service(
        sqlite_url(tmp_path),
        SecretBox.generate(),
        dispatch=lambda run_id, _trigger: handed.append(run_id),
    )
    try:
        integration_id = service.integrations.save(sample_input())
        first = service.runs.start(integration_id, "content")
        assert handed == [first]  # submitted and handed; nothing executes here
        assert service.runs.get(first).status == "queued"  # type: ignore[union-attr]
        handed.clear()
        service.runs.start_executor()  # serve's start: every queued run handed again
        deadline = time.monotonic() + 5
        while not handed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handed == [first]
        assert service.runs.pool_started is False
    finally:
        service.close()


def _learnsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "learnsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_refuses_sqlite_and_a_missing_broker(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEARNSYNC_BROKER_URL": "redis://127.0.0.1:6379/15",
        "LEARNSYNC_SECRET_KEY": Fernet.generate_key().decode(),
    }
    sqlite = _learnsync("worker", "--store", sqlite_url(tmp_path), env=env)
    assert sqlite.returncode == 2
    assert len(sqlite.stderr.strip().splitlines()) == 1, sqlite.stderr
    assert "PostgreSQL" in sqlite.stderr and "SQLite" in sqlite.stderr
    assert not (tmp_path / "learnsync-test.db").exists()

    env.pop("LEARNSYNC_BROKER_URL")
    no_broker = _learnsync(
        "worker", "--store", "postgresql+psycopg://nobody@127.0.0.1/test", env=env
    )
    assert no_broker.returncode == 2
    assert len(no_broker.stderr.strip().splitlines()) == 1, no_broker.stderr
    assert "LEARNSYNC_BROKER_URL" in no_broker.stderr


def test_serve_with_a_broker_refuses_sqlite_and_a_bad_broker_url(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEARNSYNC_BROKER_URL": "redis://127.0.0.1:6379/15",
        "LEARNSYNC_SECRET_KEY": Fernet.generate_key().decode(),
    }
    serve = ["serve", "--port", "0", "--no-scheduler", "--store", sqlite_url(tmp_path)]
    sqlite = _learnsync(*serve, env=env)
    assert sqlite.returncode == 2
    assert len(sqlite.stderr.strip().splitlines()) == 1, sqlite.stderr
    assert "PostgreSQL" in sqlite.stderr

    env["LEARNSYNC_BROKER_URL"] = "http://user:hunter2@broker"
    bad = _learnsync(*serve, env=env)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "LEARNSYNC_BROKER_URL" in bad.stderr and "hunter2" not in bad.stderr


def test_the_scheduler_refuses_sqlite_and_a_missing_broker(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEARNSYNC_BROKER_URL": "redis://127.0.0.1:6379/15",
        "LEARNSYNC_SECRET_KEY": Fernet.generate_key().decode(),
    }
    sqlite = _learnsync("scheduler", "--store", sqlite_url(tmp_path), env=env)
    assert sqlite.returncode == 2
    assert len(sqlite.stderr.strip().splitlines()) == 1, sqlite.stderr
    assert "PostgreSQL" in sqlite.stderr

    env.pop("LEARNSYNC_BROKER_URL")
    no_broker = _learnsync(
        "scheduler", "--store", "postgresql+psycopg://nobody@127.0.0.1/test", env=env
    )
    assert no_broker.returncode == 2
    assert "LEARNSYNC_BROKER_URL" in no_broker.stderr and "serve" in no_broker.stderr


def test_the_scheduler_command_holds_the_role_and_hands_it_over_on_term(
    fleet: Fleet, tmp_path: Path
) -> None:
    roles = Roles(fleet.service.store.engine)
    log = (tmp_path / "scheduler.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "learnsync", "scheduler"],
        env={**fleet.env, "LEARNSYNC_STORE_URL": fleet.store_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        holder = fleet.wait(lambda: roles.holder("scheduler"), 30, "the scheduler's role held")
        assert holder.split(":")[1] == str(proc.pid)  # host:pid:… of the scheduler process
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert roles.holder("scheduler") is None  # handed over at once, not after 60 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()

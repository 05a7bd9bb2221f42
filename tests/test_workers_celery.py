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
  ``serve`` with a broker on a SQLite store, or a broker setting that is not a broker URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from learnsync.cli.service import _service as serve_service
from learnsync.config import parse_config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.jobs import JobRecord
from learnsync.store.testing import PostgresUnavailable, postgres_schema_url, sqlite_url
from learnsync.workers.fleet import broker_url_from_env, dispatcher, make_app
from service_support import sample_input

pytestmark = pytest.mark.postgres

WORLD = World(seed=11, catalog_size=40, learners=10, enrollments=30)
REDIS = ("127.0.0.1", 6379)
FINAL = ("succeeded", "partial", "failed", "cancelled")


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} unavailable")


def _redis_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


@dataclass
class Fleet:
    stack: Stack
    store_url: str
    broker: str
    queue: str
    env: dict[str, str]
    service: Service
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines."""
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found

    def of_run(self, run_id: int, message: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("run") == run_id and message in e["message"]]


def _wait(predicate: Any, timeout: float, what: str, fleet: Fleet) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    tail = fleet.log.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise AssertionError(f"{what}: not within {timeout} s; worker log:\n{tail}")


def _final(fleet: Fleet, run_id: int, timeout: float = 45.0) -> JobRecord:
    def ended() -> JobRecord | None:
        job = fleet.service.runs.get(run_id)
        return job if job is not None and job.status in FINAL else None

    return _wait(ended, timeout, f"run {run_id} ended", fleet)  # type: ignore[no-any-return]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM), then the worker's process group killed if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # a pool process left behind


def _ready(fleet: Fleet, proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None or any("ready" in e["message"] for e in fleet.entries())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not _redis_up():
        _unavailable("Redis on 127.0.0.1:6379")
    import redis

    tmp = tmp_path_factory.mktemp("fleet")
    db = random.SystemRandom().randrange(1, 16)
    queue = f"learnsync-test-{uuid.uuid4().hex}"
    broker = f"redis://{REDIS[0]}:{REDIS[1]}/{db}"
    env = {
        **os.environ,
        "LEARNSYNC_BROKER_URL": broker,
        "LEARNSYNC_BROKER_QUEUE": queue,
        "LEARNSYNC_SECRET_KEY": Fernet.generate_key().decode(),
    }
    env.pop("LEARNSYNC_SECRET_KEY_FILE", None)
    log = tmp / "worker.log"
    with contextlib.ExitStack() as stack:
        try:
            store_url = stack.enter_context(postgres_schema_url())
        except PostgresUnavailable:
            _unavailable("PostgreSQL")
        client = redis.Redis(host=REDIS[0], port=REDIS[1], db=db)
        stack.callback(client.close)
        # the queue (what a failed test left in it) and its bindings
        for name in (queue, f"{queue}.priority"):
            stack.callback(
                client.delete, name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"
            )
        sims = stack.enter_context(running_stack(WORLD))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name in ("LEARNSYNC_BROKER_URL", "LEARNSYNC_BROKER_QUEUE", "LEARNSYNC_SECRET_KEY"):
            patch.setenv(name, env[name])
        patch.delenv("LEARNSYNC_SECRET_KEY_FILE", raising=False)
        # the service as serve builds it with LEARNSYNC_BROKER_URL (it migrates the schema)
        service = serve_service(store_url, broker=broker_url_from_env())
        stack.callback(service.close)
        out = stack.enter_context(log.open("wb"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "learnsync", "worker", "--concurrency", "2"],
            env={**env, "LEARNSYNC_STORE_URL": store_url},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(_stop, proc)
        made = Fleet(sims, store_url, broker, queue, env, service, log)
        _wait(lambda: _ready(made, proc), 30, "the worker ready", made)
        assert proc.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        yield made


def _integration(fleet: Fleet, label: str) -> int:
    raw = tomllib.loads(fleet.stack.config_toml(fleet.store_url))
    return fleet.service.integrations.save(input_from_config(parse_config(raw), label))


def test_a_run_submitted_by_the_service_is_executed_by_a_worker(fleet: Fleet) -> None:
    integration_id = _integration(fleet, "Coursera (fleet)")
    assert fleet.service.runs.dispatch is not None  # serve with a broker: it only submits
    run_id = fleet.service.runs.start(integration_id, "content")

    job = _final(fleet, run_id)

    assert job.status == "succeeded", job.error
    # the row records its end, then the worker gives the lease back
    lease_of = fleet.service.runs.jobs.lease
    _wait(lambda: lease_of(integration_id) is None, 10, "the lease released", fleet)
    assert len(fleet.stack.threesixty.courses) > 0
    started = fleet.of_run(run_id, "run started")
    assert len(started) == 1 and started[0]["logger"] == "learnsync.service.runs"
    assert fleet.service.runs.pool_started is False  # nothing ran in the service's pool


def test_a_duplicated_message_executes_its_run_once(fleet: Fleet) -> None:
    integration_id = _integration(fleet, "Coursera (twice)")
    run_id = fleet.service.runs.jobs.submit(integration_id, "content", "manual")
    send = dispatcher(make_app(fleet.broker, fleet.queue), fleet.queue)
    send(run_id, "manual")
    send(run_id, "schedule")

    job = _final(fleet, run_id)

    assert job.status == "succeeded", job.error
    # the second message finds the run started or ended (at once, or after a busy retry)
    _wait(lambda: fleet.of_run(run_id, "not queued"), 30, "the duplicate left alone", fleet)
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

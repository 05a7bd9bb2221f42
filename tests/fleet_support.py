"""A fleet for the tests: a serve-like service with a broker, and real ``learnsync worker``
processes on one PostgreSQL schema and one Redis database and queue of this test run's own.

Both simulators run in the test process (``running_stack``); the service is built as ``serve``
builds it with ``LEARNSYNC_BROKER_URL`` set (it only submits and sends the run's id); each
worker is a subprocess (its own process group, its JSON log in a file) on the same store, the
same secret key and the same broker.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.fernet import Fernet

from learnsync.cli.service import _service as serve_service
from learnsync.config import parse_config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.store.jobs import JobRecord
from learnsync.store.testing import PostgresUnavailable, postgres_schema_url
from learnsync.workers.fleet import broker_url_from_env

REDIS = ("127.0.0.1", 6379)
FINAL = ("succeeded", "partial", "failed", "cancelled")
T = TypeVar("T")


def unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI")
    pytest.skip(f"{what} unavailable")


def redis_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


def log_entries(log: Path) -> list[dict[str, Any]]:
    """A worker's JSON log lines."""
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def wait_for(
    predicate: Callable[[], T | None], timeout: float, what: str, logs: Callable[[], str]
) -> T:
    """``predicate()``'s first truthy value within ``timeout`` seconds, else an AssertionError
    saying ``what`` did not happen, with ``logs()`` (the workers' log tails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s; worker logs:\n{logs()}")


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def entries(self) -> list[dict[str, Any]]:
        return log_entries(self.log)

    def ready(self) -> bool:
        return self.proc.poll() is not None or any("ready" in e["message"] for e in self.entries())

    def kill(self) -> None:
        """``kill -9`` of the worker and its pool processes (a machine lost)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then the process group killed if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # a pool process left behind


@dataclass
class Fleet:
    stack: Stack
    store_url: str
    broker: str
    queue: str
    env: dict[str, str]
    service: Service
    workers: list[WorkerProcess] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.workers[0].log

    def entries(self) -> list[dict[str, Any]]:
        """Every worker's JSON log lines."""
        return [e for w in self.workers for e in w.entries()]

    def of_run(self, run_id: int, message: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("run") == run_id and message in e["message"]]

    def tails(self) -> str:
        return "\n".join(
            f"--- {w.log.name}\n" + w.log.read_text(encoding="utf-8", errors="replace")[-3000:]
            for w in self.workers
        )

    def wait(self, predicate: Callable[[], T | None], timeout: float, what: str) -> T:
        return wait_for(predicate, timeout, what, self.tails)

    def final(self, run_id: int, timeout: float = 45.0) -> JobRecord:
        def ended() -> JobRecord | None:
            job = self.service.runs.get(run_id)
            return job if job is not None and job.status in FINAL else None

        return self.wait(ended, timeout, f"run {run_id} ended")

    def integration(self, label: str, stack: Stack | None = None) -> int:
        raw = tomllib.loads((stack or self.stack).config_toml(self.store_url))
        return self.service.integrations.save(input_from_config(parse_config(raw), label))

    def start_worker(self, log: Path, *args: str) -> WorkerProcess:
        out = log.open("wb")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "learnsync", "worker", *args],
                env={**self.env, "LEARNSYNC_STORE_URL": self.store_url},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            out.close()  # the child has its own copy
        worker = WorkerProcess(proc, log)
        self.workers.append(worker)
        self.wait(worker.ready, 30, f"the worker {log.name} ready")
        assert proc.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        return worker


@contextlib.contextmanager
def running_fleet(tmp: Path, world: World, worker_args: list[list[str]]) -> Iterator[Fleet]:
    """Simulators of ``world``, the service, and one worker per entry of ``worker_args``."""
    if not redis_up():
        unavailable("Redis on 127.0.0.1:6379")
    import redis

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
    with contextlib.ExitStack() as stack:
        try:
            store_url = stack.enter_context(postgres_schema_url())
        except PostgresUnavailable:
            unavailable("PostgreSQL")
        client = redis.Redis(host=REDIS[0], port=REDIS[1], db=db)
        stack.callback(client.close)
        # the queues (what a failed test left in them) and their bindings
        for name in (queue, f"{queue}.priority"):
            stack.callback(
                client.delete, name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"
            )
        sims = stack.enter_context(running_stack(world))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name in ("LEARNSYNC_BROKER_URL", "LEARNSYNC_BROKER_QUEUE", "LEARNSYNC_SECRET_KEY"):
            patch.setenv(name, env[name])
        patch.delenv("LEARNSYNC_SECRET_KEY_FILE", raising=False)
        # the service as serve builds it with LEARNSYNC_BROKER_URL (it migrates the schema)
        service = serve_service(store_url, broker=broker_url_from_env())
        stack.callback(service.close)
        made = Fleet(sims, store_url, broker, queue, env, service)
        stack.callback(lambda: [w.stop() for w in made.workers])
        for n, args in enumerate(worker_args):
            made.start_worker(tmp / f"worker-{n}.log", *args)
        yield made

"""Two ``learnsync worker`` processes as if on two other hosts: each in a network namespace.

The test makes two Linux network namespaces (``netns_support.namespaces``), each joined to the
root namespace by a veth pair on a /30 of its own, its loopback left down. PostgreSQL and Redis
listen on 127.0.0.1 only: in the root namespace the test relays them (``netns_support.Relay``)
from each namespace's gateway (the root side of its veth), and both simulators listen on the
first namespace's gateway (the second namespace reaches that address through its own link and
default route). Each worker (``ip netns exec NAME python -m learnsync worker``) gets the store
URL and the broker URL of its own gateway, the secret key in ``LEARNSYNC_SECRET_KEY``, a working
directory, ``HOME`` and ``TMPDIR`` of its own, and nothing else shared: no file, no loopback.

The service is built as ``serve`` builds it with ``LEARNSYNC_BROKER_URL``, its endpoint policy
allowing only the simulators' address (``LEARNSYNC_ALLOWED_HOSTS``, as in the workers). Four
integrations get two content runs each, submitted at once:

- every run ends ``succeeded``;
- both workers executed runs (the run row does not say who executed it: each worker's JSON log
  lines do, ``run started`` with the run's id), and each worker's PostgreSQL and Redis traffic
  went through its own relay;
- no two runs of one integration overlapped (``started_at`` / ``finished_at`` of the rows);
- from inside a namespace, 127.0.0.1:5432 and 127.0.0.1:6379 cannot be reached at all (its
  loopback is down, 127.0.0.0/8 unreachable).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from fleet_support import FINAL, REDIS, WorkerProcess, redis_up, wait_for
from fleet_support import unavailable as missing
from learnsync.cli.service import _service as serve_service
from learnsync.config import parse_config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.store.jobs import JobRecord
from learnsync.store.testing import PostgresUnavailable, postgres_schema_url
from learnsync.workers.fleet import broker_url_from_env
from netns_support import Namespace, NamespaceError, Relay, namespaces, unavailable

pytestmark = pytest.mark.postgres

WORLD = World(seed=23, catalog_size=40, learners=10, enrollments=30)
INTEGRATIONS = 4
RUNS_EACH = 2


@dataclass
class Worker(WorkerProcess):
    netns: Namespace
    relays: tuple[Relay, Relay]  # PostgreSQL, Redis: on this worker's gateway

    def started(self) -> set[int]:
        """The runs this worker executed."""
        return {e["run"] for e in self.entries() if e["message"] == "run started"}

    def tail(self) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
        return f"--- worker in {self.netns.name} (exit {self.proc.poll()}):\n{text}"


def _wait(predicate: Any, timeout: float, what: str, workers: list[Worker]) -> Any:
    return wait_for(predicate, timeout, what, lambda: "\n".join(w.tail() for w in workers))


def _via(url: str, host: str, port: int) -> str:
    """``url`` with its host and port replaced (its query, the schema's search_path, kept)."""
    return make_url(url).set(host=host, port=port).render_as_string(hide_password=False)


def _dial_loopback(netns: Namespace) -> str:
    """What a process in ``netns`` gets when it dials PostgreSQL and Redis on loopback: per
    port, ``connected`` or the error's name."""
    probe = (
        "import errno, socket\n"
        "for port in (5432, 6379):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', port), timeout=2).close()\n"
        "    except OSError as exc:\n"
        "        print(port, errno.errorcode.get(exc.errno or 0, type(exc).__name__))\n"
        "    else:\n"
        "        print(port, 'connected')\n"
    )
    done = subprocess.run(
        netns.command(sys.executable, "-c", probe), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Hosts:
    stack: Stack
    service: Service
    store_url: str
    workers: list[Worker]


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    why = unavailable()
    if why:
        pytest.skip(why)  # in CI too: a machine without root or ip cannot run this
    if not redis_up():
        missing("Redis on 127.0.0.1:6379")
    import redis

    db = random.SystemRandom().randrange(1, 16)
    queue = f"learnsync-test-{uuid.uuid4().hex}"
    key = Fernet.generate_key().decode()
    with contextlib.ExitStack() as stack:
        try:
            store_url = stack.enter_context(postgres_schema_url())
        except PostgresUnavailable:
            missing("PostgreSQL")
        pg = make_url(store_url)
        pg_target = (pg.host or "127.0.0.1", pg.port or 5432)
        client = redis.Redis(host=REDIS[0], port=REDIS[1], db=db)
        stack.callback(client.close)
        # the queues (what a failed test left in them: the scheduled one, a priority one) and
        # their bindings
        names = (queue, f"{queue}.priority")
        stack.callback(
            client.delete,
            *names,
            *(f"_kombu.binding.{n}" for n in names),
            *(f"_kombu.binding_permanent.{n}" for n in names),
        )
        try:
            made = stack.enter_context(namespaces(2))
        except NamespaceError as exc:
            if os.environ.get("CI"):
                pytest.fail(f"network namespaces are required in CI (root, ip): {exc}")
            pytest.skip(f"network namespaces unavailable: {exc}")
        simulators = made[0].gateway  # the simulators' host, as the integrations name it
        sims = stack.enter_context(running_stack(WORLD, host=simulators))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("LEARNSYNC_BROKER_URL", f"redis://{REDIS[0]}:{REDIS[1]}/{db}")
        patch.setenv("LEARNSYNC_BROKER_QUEUE", queue)
        patch.setenv("LEARNSYNC_SECRET_KEY", key)
        patch.setenv("LEARNSYNC_ALLOWED_HOSTS", simulators)  # loopback no longer allowed
        patch.delenv("LEARNSYNC_SECRET_KEY_FILE", raising=False)
        # the service as serve builds it with LEARNSYNC_BROKER_URL (it migrates the schema);
        # it is on the root host, where PostgreSQL and Redis are local
        service = serve_service(store_url, broker=broker_url_from_env())
        stack.callback(service.close)

        workers: list[Worker] = []
        for index, netns in enumerate(made):
            relays = (Relay(netns.gateway, pg_target), Relay(netns.gateway, REDIS))
            for relay in relays:
                stack.callback(relay.close)
            home = tmp_path / f"host-{index}"
            (home / "tmp").mkdir(parents=True)
            env = {
                "PATH": os.environ.get("PATH", os.defpath),
                "LANG": "C.UTF-8",
                "HOME": str(home),
                "TMPDIR": str(home / "tmp"),
                "LEARNSYNC_STORE_URL": _via(store_url, netns.gateway, relays[0].port),
                "LEARNSYNC_BROKER_URL": f"redis://{netns.gateway}:{relays[1].port}/{db}",
                "LEARNSYNC_BROKER_QUEUE": queue,
                "LEARNSYNC_SECRET_KEY": key,
                "LEARNSYNC_ALLOWED_HOSTS": simulators,
            }
            if "PYTHONPATH" in os.environ:  # the source tree under test, when one is given
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            log = tmp_path / f"worker-{index}.log"
            out = stack.enter_context(log.open("wb"))
            argv = [sys.executable, "-m", "learnsync", "worker", "--concurrency", "2"]
            proc = subprocess.Popen(
                netns.command(*argv),
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            worker = Worker(proc, log, netns, relays)
            stack.callback(worker.stop)
            workers.append(worker)
        _wait(lambda: all(w.ready() for w in workers), 30, "both workers ready", workers)
        for worker in workers:
            assert worker.proc.poll() is None, worker.tail()
        yield Hosts(sims, service, store_url, workers)


def _integration(hosts: Hosts, label: str) -> int:
    raw = tomllib.loads(hosts.stack.config_toml(hosts.store_url))
    return hosts.service.integrations.save(input_from_config(parse_config(raw), label))


def test_two_workers_in_their_own_network_namespaces_execute_the_runs(hosts: Hosts) -> None:
    # in the namespaces loopback is down and 127.0.0.0/8 unreachable: no PostgreSQL, no Redis
    for worker in hosts.workers:
        assert _dial_loopback(worker.netns).split() == [
            "5432",
            "EHOSTUNREACH",
            "6379",
            "EHOSTUNREACH",
        ]
    simulators = f"http://{hosts.workers[0].netns.gateway}:"
    assert hosts.stack.coursera_url.startswith(simulators)
    assert hosts.stack.threesixty_url.startswith(simulators)

    integrations = [_integration(hosts, f"Coursera (host {n})") for n in range(INTEGRATIONS)]
    assert hosts.service.runs.dispatch is not None  # serve with a broker: it only submits
    # round by round: the second run of an integration is queued while its first may still run
    runs = [hosts.service.runs.start(i, "content") for _ in range(RUNS_EACH) for i in integrations]

    def ended() -> list[JobRecord] | None:
        jobs = [hosts.service.runs.get(r) for r in runs]
        if all(j is not None and j.status in FINAL for j in jobs):
            return [j for j in jobs if j is not None]
        return None

    jobs: list[JobRecord] = _wait(ended, 35, "every run ended", hosts.workers)

    assert [(j.id, j.status, j.error) for j in jobs] == [(j.id, "succeeded", None) for j in jobs]
    executed = [w.started() & set(runs) for w in hosts.workers]
    assert all(executed), f"runs executed per worker: {executed}"
    assert sorted(executed[0] | executed[1]) == sorted(runs)
    assert not executed[0] & executed[1]  # each run started once, by one worker
    for integration_id in integrations:
        mine = sorted(
            (j for j in jobs if j.integration_id == integration_id), key=lambda j: j.started_at
        )
        assert len(mine) == RUNS_EACH
        for earlier, later in itertools.pairwise(mine):
            assert earlier.finished_at is not None
            assert earlier.finished_at <= later.started_at, (earlier, later)
    for worker in hosts.workers:  # each worker's store and broker: through its own link
        assert all(relay.connections > 0 for relay in worker.relays), worker.netns
    assert hosts.service.runs.pool_started is False  # nothing ran in the service's pool
    assert len(hosts.stack.threesixty.courses) > 0

"""The Celery app of the fleet, its one task, and what sends it.

The task carries a run's id only. A worker that receives it starts that run
(:meth:`~learnsync.store.jobs.RunJobs.start` with the worker process's owner): a run that is
no longer queued (ended, cancelled, started by another worker — a duplicated message) is left
alone; a run whose integration is busy is asked for again in ``RETRY_SECONDS`` (up to
``MAX_RETRIES`` times; after that the service's sweep sends it again). The started run is
executed as the service's pool would (:func:`~learnsync.service.executor.execute_started`
around :meth:`~learnsync.service.runs.RunManager.body`: the integration's Config, then
:func:`~learnsync.sync.execute.execute_run`; heartbeat, progress into the row, one-line
failure). The row and the lease are the truth, so a lost or duplicated message can neither
lose nor double a run. Messages are acknowledged once their task ended (``acks_late``), one at
a time per worker process (prefetch 1), and given back when the process running them died.

Two queues: ``<queue>.priority`` for the runs a person waits for (*Sync now*, a filter save:
:data:`~learnsync.store.jobs.PRIORITY_TRIGGERS`) and ``<queue>`` for scheduled ones; a worker
takes from the priority queue first (Redis: ``queue_order_strategy`` ``priority``). A fleet's
runs are submitted with two attempts: a run whose worker died (its lease expired) is queued
again once and handed to the fleet (by the next worker that asks for it, or by serve's sweep);
a run that killed its worker twice fails as a poison run. When a run ended, its worker hands
the integration's next queued run at once (statistics after content, without waiting for a
retry).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from typing import Any

from celery import Celery
from sqlalchemy.pool import NullPool

from learnsync.errors import ConfigError
from learnsync.http.shared import SharedLimits
from learnsync.service.core import Service
from learnsync.service.endpoints import EndpointPolicy
from learnsync.service.executor import execute_started
from learnsync.service.runs import Dispatch
from learnsync.service.secrets import secret_box_from_env
from learnsync.store.db import create_store_engine
from learnsync.store.fleet import Workers
from learnsync.store.jobs import (
    PRIORITY_TRIGGERS,
    IntegrationBusy,
    JobRecord,
    NotQueued,
    WaitsBehind,
)

log = logging.getLogger("learnsync.workers")

BROKER_ENV = "LEARNSYNC_BROKER_URL"
QUEUE_ENV = "LEARNSYNC_BROKER_QUEUE"
LIMITS_ENV = "LEARNSYNC_LIMITS_URL"
DEFAULT_QUEUE = "learnsync"
TASK_NAME = "learnsync.execute_run"
RETRY_SECONDS = 15
MAX_RETRIES = 20  # 5 minutes of a busy integration; then the service's sweep sends it again
SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def priority_queue(queue: str) -> str:
    """The queue of the runs a person waits for, beside ``queue``."""
    return f"{queue}.priority"


def default_queues(queue: str) -> list[str]:
    """What a worker takes runs from unless told: the priority queue first."""
    return [priority_queue(queue), queue]


def broker_url_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``LEARNSYNC_BROKER_URL``, or ``None`` (serve executes its runs itself). A value that is
    not a Redis or AMQP URL is a :class:`ConfigError` (never quoted: it may hold a password)."""
    raw = (os.environ if env is None else env).get(BROKER_ENV, "").strip()
    if not raw:
        return None
    if raw.partition("://")[0].lower() not in SCHEMES or "://" not in raw:
        raise ConfigError(
            f"{BROKER_ENV} is not a broker URL: give redis://HOST:6379/0 or "
            f"amqp://USER:PASSWORD@HOST:5672//, or unset it (serve then executes its runs itself)"
        )
    return raw


def limits_url_from_env(broker_url: str, env: Mapping[str, str] | None = None) -> str:
    """The Redis holding the fleet's shared request limits: ``LEARNSYNC_LIMITS_URL``, else the
    broker when it is a Redis. An AMQP broker without it is a :class:`ConfigError`: every
    worker would otherwise press a company with its own 10 writes a second."""
    raw = (os.environ if env is None else env).get(LIMITS_ENV, "").strip()
    if raw:
        if raw.partition("://")[0].lower() not in ("redis", "rediss") or "://" not in raw:
            raise ConfigError(
                f"{LIMITS_ENV} is not a Redis URL: give redis://HOST:6379/1, or unset it to "
                "keep the limits in the broker's Redis"
            )
        return raw
    if broker_url.partition("://")[0].lower() in ("redis", "rediss"):
        return broker_url
    raise ConfigError(
        f"the fleet shares its request limits per company in Redis: with an AMQP broker, set "
        f"{LIMITS_ENV}=redis://HOST:6379/1 for serve and every worker"
    )


def fleet_limits(broker_url: str) -> SharedLimits:
    """The fleet's shared limits (:func:`limits_url_from_env`)."""
    return SharedLimits.in_redis(limits_url_from_env(broker_url))


def queue_from_env(env: Mapping[str, str] | None = None) -> str:
    """``LEARNSYNC_BROKER_QUEUE``: the queue serve sends runs to (default ``learnsync``)."""
    return (os.environ if env is None else env).get(QUEUE_ENV, "").strip() or DEFAULT_QUEUE


def make_app(broker_url: str, queue: str = DEFAULT_QUEUE) -> Celery:
    """The fleet's Celery app on ``broker_url``; tasks go to ``queue`` unless told."""
    app = Celery("learnsync", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        task_acks_late=True,  # a message is acknowledged once its run ended
        task_reject_on_worker_lost=True,  # … and given back when its process died
        worker_prefetch_multiplier=1,  # a worker process holds one message at a time
        task_ignore_result=True,  # the run row is the result
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    if broker_url.lower().startswith("redis"):
        app.conf.broker_transport_options = {
            # a broker that does not answer: a submit (a web request) waits 5 s, not for ever;
            # the run stays queued and the sweep sends it again
            "socket_connect_timeout": 5,
            # a worker's queues are read in the order given: the priority queue first
            "queue_order_strategy": "priority",
        }
    app.task(
        name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES
    )(execute_task)
    return app


def dispatcher(app: Celery, queue: str = DEFAULT_QUEUE) -> Dispatch:
    """What serve hands each submitted run to: one message, the run id, on ``queue`` — or on
    its priority queue for the runs a person asked for."""

    def dispatch(run_id: int, trigger: str) -> None:
        target = priority_queue(queue) if trigger in PRIORITY_TRIGGERS else queue
        app.send_task(TASK_NAME, args=[run_id], queue=target)

    return dispatch


# ---------------------------------------------------------------------- a worker's presence


class Presence:
    """A worker process's row in ``workers`` (:class:`~learnsync.store.fleet.Workers`): written
    when it starts (rows of workers unseen for a day are forgotten then), renewed every
    ``interval`` seconds by a thread, removed when it stops. Its engine keeps no connection
    between beats (``NullPool``): the pool processes forked from this one inherit nothing open."""

    def __init__(
        self, store_url: str, name: str, concurrency: int, queues: list[str], interval: float = 10
    ) -> None:
        self.name, self.concurrency, self.queues = name, concurrency, ",".join(queues)
        self.interval = interval
        self.engine = create_store_engine(store_url, poolclass=NullPool)
        self.workers = Workers(self.engine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="presence", daemon=True)

    def __enter__(self) -> Presence:
        self.workers.prune()  # rows of workers killed long ago (a day unseen)
        self.workers.register(
            self.name, socket.gethostname(), os.getpid(), self.concurrency, self.queues
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval)
        try:
            self.workers.leave(self.name)
        except Exception as error:  # the store went away: the row ages out
            log.warning("could not remove the worker's row: %s", type(error).__name__)
        self.engine.dispose()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.workers.beat(self.name)
            except Exception as error:  # the next beat tries again
                log.warning("worker heartbeat failed: %s", type(error).__name__)


def worker_name() -> str:
    """The Celery node name of this worker process: unique per host and process."""
    return f"learnsync-{os.getpid()}@{socket.gethostname()}"


# ---------------------------------------------------------------------- in a worker process

_store_url: str | None = None
_limits_url: str | None = None
_service: tuple[int, Service] | None = None  # (pid, the service of that process)


def set_store(url: str, limits_url: str | None = None) -> None:
    """The store a worker's processes execute runs on, and the Redis of the fleet's shared
    limits (before the worker starts)."""
    global _store_url, _limits_url, _service
    _store_url, _limits_url, _service = url, limits_url, None


def worker_service() -> Service:
    """This process's service (a forked worker process builds its own: store, key, owner)."""
    global _service
    if _service is None or _service[0] != os.getpid():
        if _store_url is None:
            raise ConfigError("the worker has no store: give --store or LEARNSYNC_STORE_URL")
        limits = SharedLimits.in_redis(_limits_url) if _limits_url else None
        _service = (
            os.getpid(),
            Service(
                _store_url,
                secret_box_from_env(),
                endpoints=EndpointPolicy.from_env(),
                limits=limits,
            ),
        )
    return _service[1]


def execute_task(task: Any, run_id: int) -> str:
    """The task (``task``: the bound Celery task): start run ``run_id`` on its lease and
    execute it; what happened, in a word."""
    runs = worker_service().runs
    extra = {"run": run_id}
    try:
        job = runs.jobs.start(int(run_id), runs.owner, in_order=True)
    except LookupError:
        log.warning("no such run: message dropped", extra=extra)
        return "unknown"
    except NotQueued as exc:
        log.info("run not queued, nothing to do: %s", exc, extra=extra)
        return "not queued"
    except WaitsBehind as exc:
        # the worker that ends the older run hands this one (hand_next)
        log.info("%s: handed again when that one ended", exc, extra=extra)
        return "waits"
    except IntegrationBusy as exc:
        if task.request.retries >= MAX_RETRIES:
            log.info("integration still busy; left to the sweep: %s", exc, extra=extra)
            return "busy"
        log.info("integration busy, asked again in %d s: %s", RETRY_SECONDS, exc, extra=extra)
        raise task.retry(countdown=RETRY_SECONDS) from None
    execute_started(runs.jobs, job, runs.owner, runs.body)
    hand_next(runs.jobs.queued(job.integration_id), task.app)
    return "executed"


def hand_next(queued: list[JobRecord], app: Celery) -> None:
    """Send the oldest of an integration's queued runs again (its integration is free now)."""
    if not queued:
        return
    nxt = queued[0]
    try:
        dispatcher(app, app.conf.task_default_queue)(nxt.id, nxt.trigger)
    except Exception as exc:  # the sweep hands it later
        log.warning("could not hand the next run: %s", type(exc).__name__, extra={"run": nxt.id})

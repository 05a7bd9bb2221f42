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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from celery import Celery

from learnsync.errors import ConfigError
from learnsync.service.core import Service
from learnsync.service.endpoints import EndpointPolicy
from learnsync.service.executor import execute_started
from learnsync.service.runs import Dispatch
from learnsync.service.secrets import secret_box_from_env
from learnsync.store.jobs import IntegrationBusy, NotQueued

log = logging.getLogger("learnsync.workers")

BROKER_ENV = "LEARNSYNC_BROKER_URL"
QUEUE_ENV = "LEARNSYNC_BROKER_QUEUE"
DEFAULT_QUEUE = "learnsync"
TASK_NAME = "learnsync.execute_run"
RETRY_SECONDS = 15
MAX_RETRIES = 20  # 5 minutes of a busy integration; then the service's sweep sends it again
SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


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
        # a broker that does not answer: a submit (a web request) waits 5 s, not for ever; the
        # run stays queued and the sweep sends it again
        app.conf.broker_transport_options = {"socket_connect_timeout": 5}
    app.task(
        name=TASK_NAME, bind=True, acks_late=True, ignore_result=True, max_retries=MAX_RETRIES
    )(execute_task)
    return app


def dispatcher(app: Celery) -> Dispatch:
    """What serve hands each submitted run to: one message, the run id, on the app's queue."""

    def dispatch(run_id: int) -> None:
        app.send_task(TASK_NAME, args=[run_id])

    return dispatch


# ---------------------------------------------------------------------- in a worker process

_store_url: str | None = None
_service: tuple[int, Service] | None = None  # (pid, the service of that process)


def set_store(url: str) -> None:
    """The store a worker's processes execute runs on (before the worker starts)."""
    global _store_url, _service
    _store_url, _service = url, None


def worker_service() -> Service:
    """This process's service (a forked worker process builds its own: store, key, owner)."""
    global _service
    if _service is None or _service[0] != os.getpid():
        if _store_url is None:
            raise ConfigError("the worker has no store: give --store or LEARNSYNC_STORE_URL")
        _service = (
            os.getpid(),
            Service(_store_url, secret_box_from_env(), endpoints=EndpointPolicy.from_env()),
        )
    return _service[1]


def execute_task(task: Any, run_id: int) -> str:
    """The task (``task``: the bound Celery task): start run ``run_id`` on its lease and
    execute it; what happened, in a word."""
    runs = worker_service().runs
    extra = {"run": run_id}
    try:
        job = runs.jobs.start(int(run_id), runs.owner)
    except LookupError:
        log.warning("no such run: message dropped", extra=extra)
        return "unknown"
    except NotQueued as exc:
        log.info("run not queued, nothing to do: %s", exc, extra=extra)
        return "not queued"
    except IntegrationBusy as exc:
        if task.request.retries >= MAX_RETRIES:
            log.info("integration still busy; left to the sweep: %s", exc, extra=extra)
            return "busy"
        log.info("integration busy, asked again in %d s: %s", RETRY_SECONDS, exc, extra=extra)
        raise task.retry(countdown=RETRY_SECONDS) from None
    execute_started(runs.jobs, job, runs.owner, runs.body)
    return "executed"

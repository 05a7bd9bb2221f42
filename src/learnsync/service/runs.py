"""Runs started by the web app or the scheduler: submitted to the queue, executed on the pool.

:meth:`RunManager.start` only submits (:meth:`learnsync.store.jobs.RunJobs.submit`: the run's
row exists, ``queued``, before anything can fail) and wakes the bounded :class:`Executor`
(``LEARNSYNC_RUN_WORKERS`` threads, default 2). A worker claims the oldest queued run of a free
integration — its lease taken, its row ``running`` — and runs :meth:`RunManager.body`: the
integration's Config, then :func:`~learnsync.sync.execute.execute_run` (the one entry point
that executes a run by id) with the service's store and clock, the integration's clients and
the run's progress sink (:class:`JobProgress`, stored in the row); the pipeline records its
report and final status into that row. Whatever fails before or around it ends the row
``failed`` with one line (:func:`~learnsync.service.executor.execute_started`). Live progress
is read from the row (``stage``, ``done``/``total``, ``heartbeat_at``): nothing is kept in
memory, and a restarted service shows the same.

With a ``dispatch`` (``serve`` with ``LEARNSYNC_BROKER_URL``: :mod:`learnsync.workers`), the
manager executes nothing: :meth:`RunManager.start` submits, then hands the run's id to the
fleet (``learnsync worker``), which starts it on the lease and runs :meth:`RunManager.body`
there. The row and the lease stay the truth: a message that could not be sent or was lost is
sent again by the sweep (:meth:`RunManager.start_executor`: every queued run at once, then
every ``sweep`` seconds the ones queued that long, and leases of dead workers expired), and a
duplicated one finds its run no longer queued.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from learnsync.config import Config
from learnsync.errors import ConfigError
from learnsync.http.shared import SharedLimits
from learnsync.model.progress import Progress
from learnsync.service.executor import DEFAULT_POOL_SIZE, Executor, JobProgress
from learnsync.service.integrations import Integrations
from learnsync.service.logs import run_context
from learnsync.store.jobs import JobRecord, RunJobs, default_owner
from learnsync.store.repository import Store
from learnsync.store.service_repository import ServiceRepository
from learnsync.sync.context import open_clients
from learnsync.sync.execute import execute_run
from learnsync.sync.runner import RunTicket

log = logging.getLogger("learnsync.service.runs")

KINDS = ("content", "stats", "filters")
FINAL = ("succeeded", "partial", "failed", "cancelled")
WORKERS_ENV = "LEARNSYNC_RUN_WORKERS"

Dispatch = Callable[[int, str], None]
"""Hand a submitted run to the workers of a fleet: its id (the row says the rest) and its
trigger (which queue: a run a person asked for goes ahead of scheduled ones)."""
DEFAULT_SWEEP = 300.0
EXPIRE_EVERY = 15.0  # how often the sweep looks for runs of dead workers
# a fleet's run whose worker died (its lease expired) is started once more; then it is a poison
# run (it failed twice the same way: killed its worker) and is not retried again
FLEET_ATTEMPTS = 2


class Pipeline(Protocol):
    """The typed seam between the service and a pipeline: run ``config`` as the started run
    ``ticket`` (record its outcome into that row), report progress to ``progress``, return the
    report. A fake that records nothing has its report recorded by the manager."""

    def __call__(
        self, config: Config, progress: Progress, ticket: RunTicket, params: dict[str, Any]
    ) -> Any: ...


def run_workers_from_env(env: Mapping[str, str] | None = None) -> int:
    """How many runs the service executes at once: ``LEARNSYNC_RUN_WORKERS`` (1 to 64,
    default 2). A bad value is a :class:`ConfigError` (exit 2)."""
    raw = (os.environ if env is None else env).get(WORKERS_ENV, "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= 64:
        raise ConfigError(
            f"{WORKERS_ENV}={raw!r} is not a number of workers: give a whole number from 1 to 64 "
            f"(default {DEFAULT_POOL_SIZE}), or unset it"
        )
    return size


class RunManager:
    """Submit runs (web app, scheduler) and execute the queue on a bounded pool."""

    def __init__(
        self,
        integrations: Integrations,
        repo: ServiceRepository,
        store: Store,
        *,
        pipelines: dict[str, Pipeline] | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        size: int | None = None,
        dispatch: Dispatch | None = None,
        sweep: float = DEFAULT_SWEEP,
        attempts: int | None = None,
        limits: SharedLimits | None = None,
    ) -> None:
        """``dispatch``: runs are executed by a fleet of workers, not by this process's pool
        (``sweep``: how often queued runs are handed again, seconds); ``attempts``: how many
        times a submitted run may start (a run whose process died is queued again while it has
        attempts left; default :data:`FLEET_ATTEMPTS` with a ``dispatch``, else 1 — a killed
        ``serve`` leaves its run failed, as the CLI does); ``limits``: the request rates and
        bulk slots every run of a company shares (default: this process's own)."""
        self.integrations = integrations
        self.repo = repo
        self.store = store
        self.pipelines: dict[str, Pipeline] = {kind: self.execute for kind in KINDS}
        self.pipelines.update(pipelines or {})
        self.owner = owner or default_owner()
        self.clock = clock
        self.size = size
        self.jobs = RunJobs(store.engine, clock=clock)
        self._executor: Executor | None = None
        # the runs this manager submitted that have not ended yet (for wait): an ended run leaves
        # it, so a service that runs for months keeps no list of them
        self._submitted: set[int] = set()
        self._submitted_lock = threading.Lock()
        self.dispatch = dispatch
        self.sweep = sweep
        self.expire_every = EXPIRE_EVERY
        self.limits = limits if limits is not None else SharedLimits.in_memory()
        self.attempts = attempts if attempts is not None else (FLEET_ATTEMPTS if dispatch else 1)
        self._sweeper: threading.Thread | None = None
        self._stop_sweep = threading.Event()

    @property
    def executor(self) -> Executor:
        """The pool, started on first use (``serve`` starts it at once: runs left queued by
        an earlier process are executed too)."""
        if self._executor is None:
            size = self.size if self.size is not None else run_workers_from_env()
            self._executor = Executor(
                self.jobs, self.body, size=size, owner=self.owner, on_end=self._ended
            )
            self._executor.start()
        return self._executor

    @property
    def pool_started(self) -> bool:
        """Whether this process's pool executes runs (never with a ``dispatch``)."""
        return self._executor is not None

    def start_executor(self) -> None:
        """Execute the queue from now on: the pool (started), or with a ``dispatch`` the sweep
        (every queued run handed to the workers at once — runs left queued by an earlier
        process run —, then every ``sweep`` seconds the runs queued that long)."""
        if self.dispatch is None:
            self.executor.wake()
            return
        if self._sweeper is None:
            self._sweeper = threading.Thread(target=self._sweep, name="sweep", daemon=True)
            self._sweeper.start()

    def _hand(self, run_id: int, trigger: str) -> None:
        assert self.dispatch is not None
        try:
            self.dispatch(run_id, trigger)
        except Exception as exc:
            # the run stays queued: the sweep hands it again
            log.error(
                "could not hand the run to the workers (%s); the sweep hands it again",
                type(exc).__name__,
                extra={"run": run_id},
            )

    def _sweep(self) -> None:
        """Every ``expire_every`` seconds: leases of dead workers expired, their runs queued
        again handed at once; every ``sweep`` seconds: the runs queued that long handed again
        (the first pass hands every queued run)."""
        older = 0.0
        next_full = 0.0
        while not self._stop_sweep.is_set():
            full = time.monotonic() >= next_full
            try:
                # leases of workers that died: their runs queued again (handed now) or failed
                expired = set(self.jobs.expire())
                now = self.jobs.now()
                for job in self.jobs.queued() if (full or expired) else []:
                    queued_at = job.queued_at or job.started_at
                    if queued_at.tzinfo is None:
                        queued_at = queued_at.replace(tzinfo=UTC)
                    if job.id in expired or (full and (now - queued_at).total_seconds() >= older):
                        self._hand(job.id, job.trigger)
                with self._submitted_lock:
                    submitted = list(self._submitted)
                for run_id in submitted:
                    seen = self.jobs.get(run_id)
                    if seen is None or seen.status in FINAL:
                        self._ended(run_id)
            except Exception:
                log.exception("could not read the run queue")
            if full:
                older = self.sweep
                next_full = time.monotonic() + self.sweep
            self._stop_sweep.wait(min(self.sweep, self.expire_every))

    def start(
        self,
        integration_id: int,
        kind: str,
        trigger: str = "manual",
        params: dict[str, Any] | None = None,
    ) -> int:
        """Submit a run; its id. It waits in the queue behind any run of its integration."""
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}")
        self.integrations.get(integration_id)  # LookupError for an unknown integration
        run_id = self.jobs.submit(
            integration_id, kind, trigger, params=params, max_attempts=self.attempts
        )
        with self._submitted_lock:
            self._submitted.add(run_id)
        log.info("run queued", extra={"integration": integration_id, "run": run_id, "kind": kind})
        if self.dispatch is not None:
            # an integration's runs go to the fleet one after the other: one behind an older
            # run is handed by the worker that ends that run (statistics after content)
            ahead = self.jobs.ahead_of(run_id)
            if ahead is None:
                self._hand(run_id, trigger)
            else:
                log.info("run waits behind run %d", ahead, extra={"run": run_id})
        else:
            self.executor.wake()
        return run_id

    def cancel(self, run_id: int) -> str:
        """Cancel a run: ``cancelled`` (it was queued), ``cancelling`` (it stops at its next
        progress step) or its final status (it had ended)."""
        status = self.jobs.cancel(run_id)
        log.info("run cancel: %s", status, extra={"run": run_id})
        if status == "cancelled":
            self._ended(run_id)
        return status

    def _ended(self, run_id: int) -> None:
        with self._submitted_lock:
            self._submitted.discard(run_id)

    def get(self, run_id: int) -> JobRecord | None:
        return self.jobs.get(run_id)

    def latest(self, integration_id: int) -> JobRecord | None:
        """The integration's newest run, read from the store (any process's)."""
        last = self.store.last_run_id(integration_id)
        return self.jobs.get(last) if last else None

    def current(self, integration_id: int) -> JobRecord | None:
        """The run to show live: the oldest running or queued one, else the newest."""
        going = self.jobs.queued(integration_id)
        lease = self.jobs.lease(integration_id)
        if lease is not None:
            running = self.jobs.get(lease.run_id)
            if running is not None and running.status == "running":
                return running
        return going[0] if going else self.latest(integration_id)

    def execute(
        self, config: Config, progress: Progress, ticket: RunTicket, params: dict[str, Any]
    ) -> Any:
        """The real pipelines: :func:`~learnsync.sync.execute.execute_run` with the service's
        store and clock and the integration's clients, opened for this run (``params`` are read
        from the run's row)."""
        clients = open_clients(config, self.limits)
        try:
            return execute_run(
                ticket,
                config,
                store=self.store,
                clients=clients,
                progress=progress,
                clock=self.clock,
            )
        finally:
            clients.close()

    def body(self, job: JobRecord, progress: JobProgress) -> None:
        """What a worker runs for a started run (``execute_started`` is around it)."""
        extra = {"integration": job.integration_id, "run": job.id, "kind": job.kind}
        with run_context(job.integration_id, job.id, job.kind):
            log.info("run started", extra=extra)
            config = self.integrations.config(job.integration_id)
            ticket = RunTicket(job.id, self.owner)
            report = self.pipelines[job.kind](config, progress, ticket, job.params or {})
            if job.kind != "filters":
                # the run minted a Coursera access token from the refresh token: it is alive
                self.repo.mark_token_used(job.integration_id)
            now = self.jobs.get(job.id)
            if now is not None and now.status == "running":
                # a pipeline that recorded nothing into its run (a fake): its report, here
                data = report.to_record() if hasattr(report, "to_record") else {}
                failed = bool(getattr(report, "failed", None))
                self.store.finish_run(job.id, "partial" if failed else "succeeded", data)
            log.info("run ended", extra=extra)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until the runs this manager submitted have ended (tests, shutdown): their row
        final and their lease given back — what a run does after recording its end (marking the
        refresh token used) is done too."""
        deadline = time.monotonic() + timeout
        with self._submitted_lock:
            waiting = sorted(self._submitted)
        for run_id in waiting:
            while time.monotonic() < deadline:
                job = self.jobs.get(run_id)
                lease = self.jobs.lease(job.integration_id) if job is not None else None
                if job is None or (
                    job.status in FINAL and (lease is None or lease.run_id != run_id)
                ):
                    self._ended(run_id)
                    break
                time.sleep(0.05)

    def close(self, timeout: float = 5.0) -> None:
        self._stop_sweep.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout)
        if self._executor is not None:
            self._executor.stop(timeout)

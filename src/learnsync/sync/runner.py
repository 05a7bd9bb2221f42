"""A pipeline run as a job on the integration's lease (docs/architecture.md#runs-as-jobs).

Every run that writes is a row of ``runs`` created before anything can fail, and holds its
integration's lease (:mod:`learnsync.store.jobs`) while it writes. Who started it owns the
lease; :func:`learnsync.sync.execute.execute_run` executes it and records its end into the row
(:func:`recorded_run`):

- the service's executor claims a queued run and passes the started run (:class:`RunTicket`);
- the command line submits and starts its own (:func:`leased_run`: :func:`begin_run`, then
  :class:`LeaseKeeper` keeps the lease alive and gives it back at the end).

A command-line content run and filter save are refused while another run of the integration
holds the lease; a statistics run waits in the queue instead (:data:`QUEUE_WAIT`, retried every
:data:`QUEUE_POLL`). The run ends ``succeeded``, ``partial`` (items failed), ``failed`` (an
exception, one line) or ``cancelled`` (:class:`~learnsync.errors.RunCancelled`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from learnsync.config import Config
from learnsync.errors import LearnsyncError, RunCancelled
from learnsync.http.waiting import Budget
from learnsync.model.progress import Progress
from learnsync.store.jobs import IntegrationBusy, LeaseLost, RunJobs, default_owner
from learnsync.store.repository import Store
from learnsync.sync.integration import integration_fields

log = logging.getLogger("learnsync.sync.runner")

QUEUE_WAIT = 2 * 3600.0  # seconds a statistics run waits in the queue for a busy integration
QUEUE_POLL = 15.0  # seconds between two attempts to start it


@dataclass(frozen=True)
class RunTicket:
    """A run already started — leased and ``running`` — by the caller (the service's executor):
    the pipeline records into it and neither takes nor releases the lease."""

    run_id: int
    owner: str


def one_line(message: str, limit: int = 500) -> str:
    """A message as one line of printable text (a run row's error: it may quote an upstream's
    answer), at most ``limit`` characters long."""
    text = " ".join("".join(c if c.isprintable() else " " for c in message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_line(exc: BaseException) -> str:
    """The stored error of a run stopped by ``exc``."""
    if isinstance(exc, LearnsyncError):
        return one_line(exc.message) or "failed"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return one_line(str(exc)) or f"unexpected {type(exc).__name__}"


def integration_record_id(config: Config, store: Store) -> int:
    """The integration's store id, its record created first when missing (a ``--config`` run,
    by key, as :func:`~learnsync.sync.integration.prepare_integration` does): the run row
    needs it before anything that can fail."""
    if config.integration_id is not None:
        record = store.get_integration(config.integration_id)
        if record is None:
            raise LearnsyncError(f"no integration with id {config.integration_id} in the store")
        return record.id
    return store.get_or_create_integration(config.integration_key, **integration_fields(config)).id


def _holder(busy: IntegrationBusy) -> str:
    holder = busy.holder
    if holder is None:
        return f"a run of this integration (run {busy.lease.run_id})"
    return f"a {holder.kind} run of this integration (run {holder.id})"


def begin_run(
    store: Store,
    integration_id: int,
    kind: str,
    *,
    what: str,
    wait: bool,
    params: dict[str, Any] | None = None,
    wait_seconds: float = QUEUE_WAIT,
    poll: float = QUEUE_POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunTicket:
    """Submit a command-line run and start it: its lease taken, its row ``running``.

    While another run holds the lease: refused at once (``wait=False``), or retried every
    ``poll`` seconds for up to ``wait_seconds`` (``wait=True``, on the injected clock). A run
    that does not start ends ``cancelled`` and a one-line :class:`LearnsyncError` (exit 1) says
    to run ``what`` again once the other run has finished.
    """
    jobs = RunJobs(store.engine)
    run_id = jobs.submit(integration_id, kind, "cli", params=params)
    owner = default_owner()
    budget = Budget(wait_seconds, clock=clock, sleep=sleep) if wait else None
    try:
        while True:
            try:
                jobs.start(run_id, owner)
                return RunTicket(run_id, owner)
            except IntegrationBusy as busy:
                if budget is None or budget.expired:
                    going = _holder(busy)
                    jobs.end(run_id, owner, "cancelled", f"not started: {going} is going")
                    waited = f" after {wait_seconds / 60:.0f} minutes of waiting" if budget else ""
                    raise LearnsyncError(
                        f"{going} is still going{waited}: run the {what} again once it has finished"
                    ) from None
                budget.sleep(poll)
    except BaseException as exc:
        if not isinstance(exc, LearnsyncError):  # interrupted while waiting in the queue
            jobs.end(run_id, owner, "cancelled", f"not started: {error_line(exc)}")
        raise


class _Checked:
    """A progress sink that stops the run (:class:`RunCancelled`) at its next step once the
    heartbeat saw a cancel request or the lost lease."""

    def __init__(self, inner: Progress, keeper: LeaseKeeper) -> None:
        self.inner, self.keeper = inner, keeper

    def stage(self, name: str, total: int | None = None) -> None:
        self.keeper.check()
        self.inner.stage(name, total)

    def advance(self, units: int = 1, total: int | None = None) -> None:
        self.keeper.check()
        self.inner.advance(units, total)


class LeaseKeeper:
    """Keep a run's lease alive while it works: a heartbeat thread calls
    :meth:`RunJobs.beat` every third of the lease's life; on exit it stops, then the lease is
    released (``release=False``: left to the caller)."""

    def __init__(self, jobs: RunJobs, run_id: int, owner: str, *, release: bool = True) -> None:
        self.jobs, self.run_id, self.owner = jobs, run_id, owner
        self.release = release
        self.cancel_requested = False
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"beat-{run_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.release:
            self.jobs.release(self.run_id, self.owner)

    def checked(self, progress: Progress) -> Progress:
        return _Checked(progress, self)

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(f"run {self.run_id} lost its integration's lease")
        if self.cancel_requested:
            raise RunCancelled("cancelled while it ran; what it had written is kept")

    def _beat(self) -> None:
        while not self._stop.wait(self.jobs.ttl.total_seconds() / 3):
            try:
                self.cancel_requested = self.jobs.beat(self.run_id, self.owner).cancel_requested
            except LeaseLost:
                self.lost = True
                return
            except Exception:
                log.exception("heartbeat failed", extra={"run": self.run_id})


@dataclass
class ActiveRun:
    """The run a pipeline records into: its id and the final status it earned (``partial``
    when items failed), with the line that says why (``error``)."""

    run_id: int
    status: str = "succeeded"
    error: str | None = None

    def items_failed(self, failed: bool, why: str | None = None) -> None:
        if failed:
            self.status = "partial"
            self.error = why


@contextmanager
def leased_run(
    store: Store,
    integration_id: Callable[[], int],
    kind: str,
    *,
    what: str,
    progress: Progress,
    params: dict[str, Any] | None = None,
    wait: bool = False,
    wait_seconds: float = QUEUE_WAIT,
    poll: float = QUEUE_POLL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[tuple[RunTicket, Progress]]:
    """A command-line run: submitted and started on the integration's lease (:func:`begin_run`),
    the lease kept alive while the block runs and given back at its end (:class:`LeaseKeeper`);
    yields the started run and the progress sink that stops it at its next step once a cancel
    request or the loss of the lease is seen. The block executes the run
    (:func:`learnsync.sync.execute.execute_run`), which records its end."""
    ticket = begin_run(
        store,
        integration_id(),
        kind,
        what=what,
        params=params,
        wait=wait,
        wait_seconds=wait_seconds,
        poll=poll,
        clock=clock,
        sleep=sleep,
    )
    keeper = LeaseKeeper(RunJobs(store.engine), ticket.run_id, ticket.owner)
    with keeper:
        yield ticket, keeper.checked(progress)


@contextmanager
def recorded_run(
    store: Store, ticket: RunTicket, *, report: Callable[[], dict[str, Any]]
) -> Iterator[ActiveRun]:
    """Record the end of the started run ``ticket`` with ``report()``: ``active.status`` (and
    ``active.error``) when the body returned, ``cancelled`` on :class:`RunCancelled`, ``failed``
    with one line on any other exception (raised again). The lease is the caller's."""
    active = ActiveRun(ticket.run_id)
    try:
        yield active
    except RunCancelled as exc:
        store.finish_run(ticket.run_id, "cancelled", report(), error=exc.message)
        raise
    except BaseException as exc:
        store.finish_run(ticket.run_id, "failed", report(), error=error_line(exc))
        raise
    store.finish_run(ticket.run_id, active.status, report(), error=active.error)

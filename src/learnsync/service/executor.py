"""Execute queued runs: inline (the CLI) or on a small bounded pool (``serve``, the scheduler).

Runners only submit (:meth:`learnsync.store.jobs.RunJobs.submit`); what executes a run is a
:data:`RunBody` — given the started run and a progress sink, it does the work and records the
run's report and final status itself. Around it, :func:`execute_started` keeps the run's lease
alive (a heartbeat thread), writes progress into the run row (:class:`JobProgress`), turns a
cancel request into :class:`RunCancelled` at the next progress step, and, when the body raised,
marks the run failed with one line a person can act on — then releases the lease.

:class:`Executor` is the pool: a dispatcher thread claims the oldest queued run of a free
integration (:meth:`RunJobs.claim_next`) whenever one of its ``size`` workers is idle, so 500
due integrations are 500 queued rows and ``size`` threads, and a run whose integration is busy
waits in the queue instead of inside a worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from learnsync.errors import LearnsyncError, RunCancelled
from learnsync.store.jobs import JobRecord, LeaseLost, RunJobs, default_owner
from learnsync.sync.runner import LeaseKeeper, one_line

__all__ = ["Executor", "JobProgress", "RunBody", "RunCancelled", "execute_started", "one_line"]

log = logging.getLogger("learnsync.service.executor")

DEFAULT_POOL_SIZE = 2


class JobProgress:
    """The pipelines' Progress protocol (:class:`learnsync.model.progress.Progress`), stored in
    the run row: a new stage at once, advances at most every ``interval`` seconds."""

    def __init__(
        self,
        jobs: RunJobs,
        job: JobRecord,
        owner: str,
        *,
        interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jobs, self.job, self.owner = jobs, job, owner
        self.interval = interval
        self._monotonic = monotonic
        self._last = monotonic()
        self.stage_name = "starting"
        self.done = 0
        self.total: int | None = None

    def stage(self, name: str, total: int | None = None) -> None:
        self.stage_name, self.done, self.total = name, 0, total
        self._beat()

    def advance(self, units: int = 1, total: int | None = None) -> None:
        self.done += units
        if total is not None:
            self.total = total
        if self._monotonic() - self._last >= self.interval:
            self._beat()

    def _beat(self) -> None:
        self._last = self._monotonic()
        beat = self.jobs.beat(
            self.job.id, self.owner, stage=self.stage_name, done=self.done, total=self.total
        )
        if beat.cancel_requested:
            raise RunCancelled("cancelled while it ran; what it had written is kept")


RunBody = Callable[[JobRecord, JobProgress], None]


def unexpected(exc: BaseException) -> str:
    """What a person reads of a crash: its type, not its text (which may quote a secret)."""
    return f"unexpected {type(exc).__name__}; the service log has the details"


def execute_started(jobs: RunJobs, job: JobRecord, owner: str, body: RunBody) -> None:
    """Run ``body`` for a run this owner started; the lease is released whatever happens."""
    extra = {"run": job.id, "integration": job.integration_id, "kind": job.kind}
    with LeaseKeeper(jobs, job.id, owner):  # heartbeat thread; the lease released at the end
        try:
            body(job, JobProgress(jobs, job, owner))
            # a body records its run's end; one that returned without doing so has a bug
            jobs.end(job.id, owner, "failed", "the run ended without recording its outcome")
        except RunCancelled as exc:
            jobs.end(job.id, owner, "cancelled", exc.message)
        except LeaseLost:
            log.error("run lost its lease and stopped", extra=extra)
        except LearnsyncError as exc:
            jobs.end(job.id, owner, "failed", one_line(exc.message) or "failed")
        except Exception as exc:
            log.exception("run crashed", extra=extra)
            jobs.end(job.id, owner, "failed", unexpected(exc))


class Executor:
    """A bounded pool executing the queue's runs; :meth:`wake` after a submit starts it at once."""

    def __init__(
        self,
        jobs: RunJobs,
        body: RunBody,
        *,
        size: int = DEFAULT_POOL_SIZE,
        owner: str | None = None,
        poll: float = 2.0,
        on_end: Callable[[int], None] | None = None,
    ) -> None:
        """``on_end(run_id)``: called once a run this pool executed has ended."""
        if size < 1:
            raise ValueError("the executor needs at least one worker")
        self.jobs, self.body, self.size = jobs, body, size
        self.owner = owner or default_owner()
        self.poll = poll
        self.on_end = on_end
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="run")
        self._busy = threading.Semaphore(size)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._running: dict[Future[None], int] = {}  # → its run id
        self._mutex = threading.Lock()

    def start(self) -> None:
        self._dispatcher = threading.Thread(target=self._dispatch, name="dispatcher", daemon=True)
        self._dispatcher.start()

    def wake(self) -> None:
        """Look at the queue now (a run was just submitted or one just ended)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming runs and wait up to ``timeout`` s for the running ones; a run still
        going then is asked to stop (:meth:`RunJobs.cancel`: it ends ``cancelled`` at its next
        progress step, what it wrote kept) and awaited — a stopping service does not leave a
        run to a lease that only expires."""
        self._stop.set()
        self._wake.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)
        with self._mutex:
            running = dict(self._running)
        _done, going = wait(running, timeout)
        for future in going:
            log.warning("service stopping: run cancelled", extra={"run": running[future]})
            self.jobs.cancel(running[future])
        self._pool.shutdown(wait=True, cancel_futures=True)

    def running(self) -> int:
        with self._mutex:
            return len(self._running)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            if not self._busy.acquire(timeout=self.poll):
                continue  # every worker is busy; a finishing run releases one
            job = None
            try:
                job = self.jobs.claim_next(self.owner)
            except Exception:
                log.exception("could not read the run queue")
            if job is None:
                self._busy.release()
                self._wake.wait(self.poll)
                self._wake.clear()
                continue
            future = self._pool.submit(execute_started, self.jobs, job, self.owner, self.body)
            with self._mutex:
                self._running[future] = job.id
            future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._mutex:
            run_id = self._running.pop(future, None)
        if self.on_end is not None and run_id is not None:
            self.on_end(run_id)
        self._busy.release()
        self._wake.set()

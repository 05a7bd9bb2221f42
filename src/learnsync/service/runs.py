"""Runs started by the web app or the scheduler: one per integration at a time, in a thread.

The database lock (:meth:`ServiceRepository.acquire_lock`) is what guarantees "one run per
integration" across processes; a heartbeat keeps it alive while the run lasts, and a crashed
process's lock expires after ``LOCK_TTL``. Progress lives in memory (it is only shown live);
the result is in the store's ``runs`` table, written by the pipeline itself — or, when an
attempt failed before its pipeline recorded a run (refused credentials, an integration that
could not be prepared), by the manager: every attempt leaves a row, failed with a one-line error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from learnsync.config import Config
from learnsync.errors import GuardError, LearnsyncError
from learnsync.service.integrations import Integrations
from learnsync.service.logs import run_context
from learnsync.store.repository import Store
from learnsync.store.service_repository import ServiceRepository

log = logging.getLogger("learnsync.service.runs")

LOCK_TTL = timedelta(minutes=10)
KINDS = ("content", "stats")

Pipeline = Callable[[Config, Any], Any]  # (config, progress) -> report


class RunBusy(LearnsyncError):
    """Another run of this integration is going (here or in another process)."""


def _content(config: Config, progress: Any) -> Any:
    from learnsync.sync.content import run_content_sync

    return run_content_sync(config, progress=progress)


def _stats(config: Config, progress: Any) -> Any:
    from learnsync.sync.stats import run_stats_sync

    return run_stats_sync(config, progress=progress)


DEFAULT_PIPELINES: dict[str, Pipeline] = {"content": _content, "stats": _stats}


@dataclass
class LiveRun:
    key: str
    integration_id: int
    kind: str
    trigger: str  # "manual" or "schedule"
    started_at: datetime
    status: str = "running"  # running, succeeded, failed
    stage: str = "starting"
    done: int = 0
    total: int | None = None
    message: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "integration_id": self.integration_id,
            "kind": self.kind,
            "trigger": self.trigger,
            "status": self.status,
            "stage": self.stage,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class _LiveProgress:
    """The pipelines' Progress protocol, written into a LiveRun the web page polls."""

    def __init__(self, run: LiveRun) -> None:
        self.run = run

    def stage(self, name: str, total: int | None = None) -> None:
        self.run.stage, self.run.total, self.run.done = name, total, 0

    def advance(self, units: int = 1, total: int | None = None) -> None:
        self.run.done += units
        if total is not None:
            self.run.total = total


def one_line(message: str, limit: int = 500) -> str:
    """A message as one line (a run row's error, the live message), at most ``limit`` long."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunManager:
    def __init__(
        self,
        integrations: Integrations,
        repo: ServiceRepository,
        *,
        pipelines: dict[str, Pipeline] | None = None,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        store: Store | None = None,
    ) -> None:
        self.integrations = integrations
        self.repo = repo
        self.store = store  # where failed attempts without a pipeline row are recorded
        self.pipelines = pipelines or DEFAULT_PIPELINES
        self.owner = owner or default_owner()
        self.clock = clock
        self._runs: dict[str, LiveRun] = {}
        self._latest: dict[int, str] = {}
        self._threads: list[threading.Thread] = []
        self._mutex = threading.Lock()

    def _lock(self, integration_id: int, kind: str) -> None:
        """Take the integration's run lock in the database, or raise :class:`RunBusy`."""
        if not self.repo.acquire_lock(integration_id, self.owner, kind, LOCK_TTL):
            held = self.repo.get_lock(integration_id)
            what = f"a {held.kind} run" if held else "another run"
            raise RunBusy(f"{what} of this integration is going; try again when it has finished")

    @contextmanager
    def exclusive(self, integration_id: int, kind: str) -> Iterator[None]:
        """Hold the run lock around a short write outside a run (a filter save)."""
        self._lock(integration_id, kind)
        before = self._last_run(integration_id)
        try:
            yield
        except LearnsyncError as exc:
            self._record_failure(integration_id, kind, before, exc.message)
            raise
        except Exception as exc:
            self._record_failure(integration_id, kind, before, _unexpected(exc))
            raise
        finally:
            self.repo.release_lock(integration_id, self.owner)

    def _last_run(self, integration_id: int) -> int | None:
        """The newest run row of the integration before an attempt (None: nothing to record to)."""
        if self.store is None:
            return None
        try:
            return self.store.last_run_id(self.integrations.get(integration_id).id)
        except Exception:
            log.exception("could not read the last run", extra={"integration": integration_id})
            return None

    def _record_failure(
        self, integration_id: int, kind: str, before: int | None, message: str
    ) -> None:
        """A failed run row for an attempt whose pipeline recorded none (no double row)."""
        if self.store is None or before is None:
            return
        extra = {"integration": integration_id, "kind": kind}
        try:
            if self.store.last_run_id(integration_id) > before:
                return  # the pipeline recorded the attempt (and its failure) itself
            self.store.record_failed_run(integration_id, kind, one_line(message) or "failed")
        except Exception:
            log.exception("could not record the failed run", extra=extra)

    def _claim(self, integration_id: int, kind: str, trigger: str) -> LiveRun:
        if kind not in KINDS:
            raise ValueError(f"unknown run kind {kind!r}")
        self.integrations.get(integration_id)  # LookupError for an unknown integration
        self._lock(integration_id, kind)
        run = LiveRun(uuid.uuid4().hex, integration_id, kind, trigger, self.clock())
        with self._mutex:
            self._runs[run.key] = run
            self._latest[integration_id] = run.key
        return run

    def start(self, integration_id: int, kind: str, trigger: str = "manual") -> LiveRun:
        """Start a run in a background thread; :class:`RunBusy` when one is going."""
        run = self._claim(integration_id, kind, trigger)
        thread = threading.Thread(
            target=self._execute, args=(run,), name=f"run-{integration_id}-{kind}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return run

    def run_now(self, integration_id: int, kind: str, trigger: str = "schedule") -> LiveRun:
        """Run in the calling thread (the scheduler's worker); :class:`RunBusy` when busy."""
        run = self._claim(integration_id, kind, trigger)
        self._execute(run)
        return run

    def _execute(self, run: LiveRun) -> None:
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(run, stop), daemon=True)
        beat.start()
        extra = {"integration": run.integration_id, "run": run.key, "kind": run.kind}
        context = run_context(run.integration_id, run.key, run.kind)
        context.__enter__()
        log.info("run started", extra=extra)
        before = self._last_run(run.integration_id)
        try:
            config = self.integrations.config(run.integration_id)
            report = self.pipelines[run.kind](config, _LiveProgress(run))
            run.report = report.to_record() if hasattr(report, "to_record") else {}
            run.status = "succeeded"
            run.message = report.summary() if hasattr(report, "summary") else "done"
            # the run minted a Coursera access token from the refresh token: it is alive
            self.repo.mark_token_used(run.integration_id)
        except GuardError as exc:
            run.status = "failed"
            run.message = exc.message
            if exc.report is not None:
                run.report = exc.report.to_record()
            self._record_failure(run.integration_id, run.kind, before, run.message)
        except LearnsyncError as exc:
            run.status, run.message = "failed", exc.message
            self._record_failure(run.integration_id, run.kind, before, run.message)
        except Exception as exc:
            run.status, run.message = "failed", _unexpected(exc)
            log.exception("run crashed", extra=extra)
            self._record_failure(run.integration_id, run.kind, before, run.message)
        finally:
            stop.set()
            run.finished_at = self.clock()
            run.stage = "finished"
            self.repo.release_lock(run.integration_id, self.owner)
            log.info("run %s: %s", run.status, run.message, extra=extra)
            context.__exit__(None, None, None)

    def _heartbeat(self, run: LiveRun, stop: threading.Event) -> None:
        while not stop.wait(LOCK_TTL.total_seconds() / 3):
            self.repo.refresh_lock(run.integration_id, self.owner, LOCK_TTL)

    def get(self, key: str) -> LiveRun | None:
        return self._runs.get(key)

    def latest(self, integration_id: int) -> LiveRun | None:
        key = self._latest.get(integration_id)
        return self._runs.get(key) if key else None

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the background runs (tests, shutdown)."""
        for thread in list(self._threads):
            thread.join(timeout)


def _unexpected(exc: BaseException) -> str:
    """What a person reads of a crash: its type, not its text (which may quote a secret)."""
    return f"unexpected {type(exc).__name__}; the service log has the details"

"""The one entry point that executes a run: by its id, with everything it needs injected.

Runners only submit (docs/architecture.md#runs-as-jobs-the-queue-the-lease-the-executor): the
command line submits and starts its run on the integration's lease and executes it inline; the
service's executor claims a queued run and executes it on its pool. Both then call
:func:`execute_run` with the started run (:class:`~learnsync.sync.runner.RunTicket`), the
integration's :class:`~learnsync.config.Config`, the store, the API clients, the clock and the
progress sink. It reads the run's kind and arguments (``runs.params``: a filters run's filters,
a forced content run) from its row and runs that pipeline, which records the run's end into
the row; it opens nothing itself and leaves the lease to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from learnsync.config import Config
from learnsync.diff.stats import FULL_READ_EVERY
from learnsync.model.progress import Progress
from learnsync.store.jobs import RunJobs
from learnsync.store.repository import Store
from learnsync.sync.content import execute_content
from learnsync.sync.context import Clients
from learnsync.sync.filters import execute_filters
from learnsync.sync.report import ContentReport, StatsReport
from learnsync.sync.runner import (
    QUEUE_POLL,
    QUEUE_WAIT,
    RunTicket,
    integration_record_id,
    leased_run,
)
from learnsync.sync.stats import execute_stats

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class StatsTuning:
    """Knobs of a statistics run that are not the run's arguments (tests, benchmarks)."""

    full_every: timedelta = FULL_READ_EVERY
    force_full: bool = False
    staging_dir: str | None = None


def execute_run(
    ticket: RunTicket,
    config: Config,
    *,
    store: Store,
    clients: Clients,
    progress: Progress,
    clock: Clock,
    tuning: StatsTuning | None = None,
) -> ContentReport | StatsReport:
    """Execute the started run ``ticket`` of ``config``'s integration; its report (its end is
    recorded into its row, also when it raises)."""
    job = RunJobs(store.engine).get(ticket.run_id)
    if job is None:
        raise LookupError(f"no run with id {ticket.run_id}")
    params = job.params or {}
    if job.kind == "content":
        return execute_content(
            config,
            ticket,
            store=store,
            clients=clients,
            progress=progress,
            clock=clock,
            force=bool(params.get("force", False)),
        )
    if job.kind == "filters":
        return execute_filters(
            config,
            ticket,
            store=store,
            clients=clients,
            progress=progress,
            languages=[str(v) for v in params.get("languages", [])],
            content_types=[str(v) for v in params.get("content_types", [])],
            clear=bool(params.get("clear", True)),
        )
    tuning = tuning or StatsTuning()
    return execute_stats(
        config,
        ticket,
        store=store,
        clients=clients,
        progress=progress,
        clock=clock,
        full_every=tuning.full_every,
        force_full=tuning.force_full,
        staging_dir=tuning.staging_dir,
    )


def execute_inline(
    config: Config,
    kind: str,
    *,
    store: Store,
    clients: Clients,
    progress: Progress,
    clock: Clock,
    what: str,
    params: dict[str, Any] | None = None,
    wait: bool = False,
    wait_seconds: float = QUEUE_WAIT,
    poll: float = QUEUE_POLL,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    tuning: StatsTuning | None = None,
) -> ContentReport | StatsReport:
    """A command-line run of ``kind``: submitted and started on the integration's lease
    (:func:`~learnsync.sync.runner.leased_run`; ``wait``: in the queue while the integration is
    busy, else refused), then executed here by :func:`execute_run`."""
    with leased_run(
        store,
        lambda: integration_record_id(config, store),
        kind,
        what=what,
        progress=progress,
        params=params,
        wait=wait,
        wait_seconds=wait_seconds,
        poll=poll,
        clock=monotonic,
        sleep=sleep,
    ) as (ticket, checked):
        return execute_run(
            ticket,
            config,
            store=store,
            clients=clients,
            progress=checked,
            clock=clock,
            tuning=tuning,
        )

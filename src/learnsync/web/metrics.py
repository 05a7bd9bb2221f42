"""``/metrics`` in the Prometheus text format: integration ids only (no names, no personal
data, no secret), so it can stay anonymous for a scraper. Read from the runs' summary columns
only, never from their reports; the fleet's gauges from the queue, the workers' rows and the
shared request limits (a company by its hashed key only: ``http.shared.company_key``)."""

from __future__ import annotations

from collections import Counter

from learnsync.http.shared import Saturation
from learnsync.service.core import Service
from learnsync.web.fleet import FleetStatus, fleet_status


def render(service: Service) -> str:
    items = service.repo.list_integrations()
    runs: Counter[tuple[int, str, str]] = Counter()
    outcomes: Counter[tuple[int, str, str]] = Counter()
    durations: dict[tuple[int, str], float] = {}
    last_success: dict[tuple[int, str], float] = {}
    for item in items:
        record = service.store.get_integration(item.id)
        if record is None:
            continue
        for run in service.store.list_runs(record.id, limit=1000, with_report=False):
            runs[(item.id, run.kind, run.status)] += 1
            for key in ("created", "updated", "unchanged", "archived", "restored", "sent"):
                count = getattr(run, f"{key}_count")
                if count is not None:
                    outcomes[(item.id, run.kind, key)] += count
            for key in ("skipped", "failed"):
                outcomes[(item.id, run.kind, key)] += getattr(run, f"{key}_count") or 0
            if run.finished_at is not None and (item.id, run.kind) not in durations:
                durations[(item.id, run.kind)] = (run.finished_at - run.started_at).total_seconds()
            if run.status == "succeeded" and run.finished_at is not None:
                key2 = (item.id, run.kind)
                last_success[key2] = max(last_success.get(key2, 0.0), run.finished_at.timestamp())
    lines = [
        "# HELP learnsync_integrations Integrations configured.",
        "# TYPE learnsync_integrations gauge",
        f"learnsync_integrations {len(items)}",
        "# HELP learnsync_runs_total Runs by integration, kind and status (last 1000 each).",
        "# TYPE learnsync_runs_total counter",
    ]
    lines += [
        f'learnsync_runs_total{{integration="{i}",kind="{k}",status="{s}"}} {n}'
        for (i, k, s), n in sorted(runs.items())
    ]
    lines += [
        "# HELP learnsync_items_total Items by outcome.",
        "# TYPE learnsync_items_total counter",
    ]
    lines += [
        f'learnsync_items_total{{integration="{i}",kind="{k}",outcome="{o}"}} {n}'
        for (i, k, o), n in sorted(outcomes.items())
    ]
    lines += [
        "# HELP learnsync_last_run_duration_seconds Duration of the last finished run.",
        "# TYPE learnsync_last_run_duration_seconds gauge",
    ]
    lines += [
        f'learnsync_last_run_duration_seconds{{integration="{i}",kind="{k}"}} {v:.3f}'
        for (i, k), v in sorted(durations.items())
    ]
    lines += [
        "# HELP learnsync_last_success_timestamp_seconds End of the last successful run.",
        "# TYPE learnsync_last_success_timestamp_seconds gauge",
    ]
    lines += [
        f'learnsync_last_success_timestamp_seconds{{integration="{i}",kind="{k}"}} {v:.0f}'
        for (i, k), v in sorted(last_success.items())
    ]
    lines += fleet_lines(fleet_status(service))
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A label value as the text format escapes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fleet_lines(status: FleetStatus) -> list[str]:
    """The queue, the runs going, the workers, the scheduler and the limiters' saturation."""
    counts = status.counts
    lines = [
        "# HELP learnsync_runs_queued Runs waiting in the queue, by queue (priority: a person"
        " asked for them; scheduled: the others).",
        "# TYPE learnsync_runs_queued gauge",
        f'learnsync_runs_queued{{queue="priority"}} {counts.priority}',
        f'learnsync_runs_queued{{queue="scheduled"}} {counts.scheduled}',
        "# HELP learnsync_runs_running Runs running now (any process).",
        "# TYPE learnsync_runs_running gauge",
        f"learnsync_runs_running {counts.running}",
        "# HELP learnsync_runs_poison Failed runs that stopped on every attempt, not retried"
        " again (in the run history).",
        "# TYPE learnsync_runs_poison gauge",
        f"learnsync_runs_poison {counts.poison}",
        "# HELP learnsync_fleet 1 when runs go to a fleet of workers, 0 when serve executes them.",
        "# TYPE learnsync_fleet gauge",
        f"learnsync_fleet {int(status.on_fleet)}",
        "# HELP learnsync_workers_alive Worker processes seen within the last 45 s.",
        "# TYPE learnsync_workers_alive gauge",
        f"learnsync_workers_alive {len(status.workers)}",
        "# HELP learnsync_scheduler_held 1 when a process holds the scheduler role.",
        "# TYPE learnsync_scheduler_held gauge",
        f"learnsync_scheduler_held {int(status.scheduler is not None)}",
    ]
    limiters = (
        ("requests", "Requests let through by a company's limiter.", _requests),
        ("waited_requests", "Requests that waited for their company's limiter.", _waited),
        ("wait_seconds", "Seconds requests waited for their company's limiter.", _seconds),
    )
    for name, what, value in limiters:
        lines += [
            f"# HELP learnsync_limiter_{name}_total {what}",
            f"# TYPE learnsync_limiter_{name}_total counter",
        ]
        lines += [
            f'learnsync_limiter_{name}_total{{api="{_label(s.api)}",company="{_label(s.key)}"}}'
            f" {value(s)}"
            for s in status.saturation
        ]
    return lines


def _requests(s: Saturation) -> str:
    return str(s.requests)


def _waited(s: Saturation) -> str:
    return str(s.waited)


def _seconds(s: Saturation) -> str:
    return f"{s.wait_seconds:.3f}"

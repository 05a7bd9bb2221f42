"""``/metrics`` in the Prometheus text format: integration ids only (no names, no personal
data, no secret), so it can stay anonymous for a scraper. Read from the runs' summary columns
only, never from their reports."""

from __future__ import annotations

from collections import Counter

from learnsync.service.core import Service


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
    return "\n".join(lines) + "\n"

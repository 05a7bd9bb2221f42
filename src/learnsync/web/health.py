"""An integration's health as the Integrations list says it: a status, the reason a person can
act on, when it happened, and where to go (e.g. "Failed · Coursera refused the refresh token ·
08:45 today" linking to that run).

The worst finding wins: a failed setup or a failed last run, then a partial last run, then a
refresh token about to lapse, then "not verified" (Setup integration never passed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from learnsync.service.setup import form_words
from learnsync.web.present import kind_name, plural


@dataclass(frozen=True)
class Health:
    status: str  # ok, partial, failed, warning, new, running
    reason: str
    href: str
    at: str | None = None  # ISO time of the run the reason comes from

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _run_href(integration_id: int, run: dict[str, Any]) -> str:
    return f"/integrations/{integration_id}/runs/{run['id']}"


def _failed_run_reason(run: dict[str, Any]) -> str:
    error = form_words(run.get("error") or "").strip()
    kind = kind_name(run["kind"]).lower()
    return f"The {kind} run failed: {error}" if error else f"The {kind} run failed"


def health_of(
    integration_id: int,
    setup_status: str,
    setup_message: str | None,
    last_runs: dict[str, dict[str, Any] | None],
    token_warning: str | None,
) -> Health:
    """The one line the Integrations list shows for an integration."""
    settings = f"/integrations/{integration_id}"
    if setup_status == "error":
        reason = form_words(setup_message or "").strip() or "Setup integration failed"
        return Health("failed", f"Setup failed: {reason}", settings)
    runs = [r for r in last_runs.values() if r is not None]
    failed = [r for r in runs if r["status"] == "failed"]
    if failed:
        run = max(failed, key=lambda r: r["started_at"])
        return Health(
            "failed", _failed_run_reason(run), _run_href(integration_id, run), run["started_at"]
        )
    partial = [r for r in runs if r["status"] == "partial" or r.get("failed")]
    if partial:
        run = max(partial, key=lambda r: r["started_at"])
        what = plural(run.get("failed") or 0, "item")
        reason = f"{what} failed in the {kind_name(run['kind']).lower()} run"
        return Health("partial", reason, _run_href(integration_id, run), run["started_at"])
    if token_warning:
        return Health("warning", token_warning, settings)
    if setup_status != "ok":
        reason = "Not verified yet: enter the credentials, then click Setup integration"
        return Health("new", reason, settings)
    done = [r for r in runs if r["status"] == "succeeded"]
    if done:
        run = max(done, key=lambda r: r["started_at"])
        reason = f"Last {kind_name(run['kind']).lower()} run succeeded"
        return Health("ok", reason, _run_href(integration_id, run), run["started_at"])
    first = "Set up: the first synchronization runs at the next scheduled time"
    return Health("ok", first, settings)

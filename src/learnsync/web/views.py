"""What the pages and the API show, computed from the service (no secret ever leaves here)."""

from __future__ import annotations

from typing import Any

from fastapi import Form

from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput, parse_overrides
from learnsync.service.scheduler import next_runs, parse_time_of_day, zone
from learnsync.service.tokens import refresh_token_warning
from learnsync.store.fleet import is_poison
from learnsync.store.service_repository import AuditRecord, IntegrationSettings
from learnsync.web.fleet import process_of
from learnsync.web.health import health_of
from learnsync.web.present import DEFAULT_ZONE

# the run report's reasons, in the administrator's words
FRIENDLY = {
    "missing_name": "Coursera gives this item no title, so it cannot be created",
    "unsupported_language": "its language is not one 360Learning offers",
    "missing_launch_url": "Coursera gives no link to open it (no program content URL)",
    "course_not_synchronized": "the course was never synchronized to this integration",
    "no_learner_email": "the learner has no e-mail address in Coursera",
}


def form_input(
    label: str = Form(""),
    coursera_org_id: str = Form(""),
    coursera_client_id: str = Form(""),
    coursera_client_secret: str = Form(""),
    coursera_refresh_token: str = Form(""),
    coursera_api_base: str = Form(""),
    coursera_token_url: str = Form(""),
    coursera_program_id: str = Form(""),
    threesixty_base_url: str = Form(""),
    threesixty_client_id: str = Form(""),
    threesixty_client_secret: str = Form(""),
    group_id: str = Form(""),
    author_id: str = Form(""),
    integration_name: str = Form(""),
    archive_removed: str = Form(""),
    content_type_overrides: str = Form(""),
    coursera_auth: str = Form(""),
) -> IntegrationInput:
    defaults = IntegrationInput(label="")
    return IntegrationInput(
        label=label,
        coursera_org_id=coursera_org_id,
        coursera_client_id=coursera_client_id,
        coursera_client_secret=coursera_client_secret,
        coursera_refresh_token=coursera_refresh_token,
        coursera_api_base=coursera_api_base or defaults.coursera_api_base,
        coursera_token_url=coursera_token_url or defaults.coursera_token_url,
        coursera_program_id=coursera_program_id,
        threesixty_base_url=threesixty_base_url or defaults.threesixty_base_url,
        threesixty_client_id=threesixty_client_id,
        threesixty_client_secret=threesixty_client_secret,
        group_id=group_id,
        author_id=author_id,
        integration_name=integration_name or defaults.integration_name,
        archive_removed=archive_removed in ("1", "on", "true"),
        content_type_overrides=parse_overrides(content_type_overrides),
        coursera_auth=coursera_auth or defaults.coursera_auth,
    )


def input_of(item: IntegrationSettings) -> IntegrationInput:
    """The form for an existing integration: every setting, secrets left blank (write-only)."""
    values = {k: getattr(item, k) for k in IntegrationInput.model_fields if hasattr(item, k)}
    return IntegrationInput(**values)


RUN_COUNTS = ("created", "updated", "unchanged", "archived", "restored", "sent")


def _run_json(run: Any) -> dict[str, Any]:
    """A run from its summary columns only (``list_runs(with_report=False)``): never the report."""
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    counts = {
        k: getattr(run, f"{k}_count") for k in RUN_COUNTS if getattr(run, f"{k}_count") is not None
    }
    return {
        "id": run.id,
        "integration_id": run.integration_id,
        "kind": run.kind,
        "status": run.status,
        "dry_run": run.dry_run,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": duration,
        "counts": counts,
        "skipped": run.skipped_count or 0,
        "failed": run.failed_count or 0,
        "warning_count": run.warnings_count or 0,
        "error": run.error,
        # the run as a job: who asked, live progress from the row (any process's run)
        "trigger": run.trigger,
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "stage": run.stage,
        "done": run.done,
        "total": run.total,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "cancel_requested": run.cancel_requested,
        "shown": shown_status(run.status, run.cancel_requested),
        "health": STATUS_HEALTH.get(run.status, "neutral"),
        # the run on a fleet: which process ran its last attempt, and how many it had
        "worker": _worker_json(run.worker),
        "attempts": run.attempts,
        "max_attempts": run.max_attempts,
        "poison": is_poison(run.status, run.error),
    }


def _worker_json(owner: str | None) -> dict[str, Any] | None:
    process = process_of(owner)
    if process is None:
        return None
    return {"owner": process.owner, "host": process.host, "pid": process.pid}


# how a status is coloured: partial is not green (items failed)
STATUS_HEALTH = {"succeeded": "ok", "partial": "warning", "failed": "error"}


def shown_status(status: str, cancel_requested: bool) -> str:
    """The status a person reads: a running run asked to stop is ``cancelling…``."""
    return "cancelling…" if status == "running" and cancel_requested else status


def run_json(service: Service, run_id: int) -> dict[str, Any] | None:
    """One run's summary (no report), e.g. for polling its progress."""
    run = service.store.get_run(run_id, with_report=False)
    return None if run is None else _run_json(run)


def runs_of(service: Service, integration_id: int, limit: int = 50) -> list[dict[str, Any]]:
    item = service.integrations.get(integration_id)
    record = service.store.get_integration(item.id)
    if record is None:
        return []
    return [_run_json(r) for r in service.store.list_runs(record.id, limit, with_report=False)]


def run_of(service: Service, integration_id: int, run_id: int) -> dict[str, Any] | None:
    item = service.integrations.get(integration_id)
    record = service.store.get_integration(item.id)
    run = service.store.get_run(run_id)
    if record is None or run is None or run.integration_id != record.id:
        return None
    report = run.report or {}
    data = _run_json(run)
    data["skipped_items"] = [
        {**s, "message": FRIENDLY.get(s.get("reason", ""), s.get("reason", ""))}
        for s in report.get("skipped", [])
    ]
    data["failed_items"] = list(report.get("failed", []))
    data["warnings"] = list(report.get("warnings", []))
    # the stored report keeps only the first items of each list (learnsync.store.history):
    # the page says "the first N of M"
    data["more"] = {
        key: data[total] - len(data[shown])
        for key, total, shown in (
            ("failed", "failed", "failed_items"),
            ("skipped", "skipped", "skipped_items"),
            ("warnings", "warning_count", "warnings"),
        )
        if data[total] > len(data[shown])
    }
    return data


def summary(service: Service, item: IntegrationSettings) -> dict[str, Any]:
    """An integration as the list page and ``GET /api/integrations`` show it: no secret."""
    runs = runs_of(service, item.id)
    last = {
        kind: next((r for r in runs if r["kind"] == kind), None) for kind in ("content", "stats")
    }
    failing = any(r is not None and r["status"] == "failed" for r in last.values())
    health = "error" if item.setup_status == "error" or failing else item.setup_status
    if health == "ok" and any(r is not None and r["failed"] for r in last.values()):
        health = "warning"
    now = service.clock()
    upcoming = next_runs(service.repo, item.id, now, service.spread)
    token_warning = refresh_token_warning(item, now)
    if token_warning and health in ("ok", "new"):
        health = "warning"
    return {
        "id": item.id,
        "label": item.label,
        "integration_name": item.integration_name,
        "group_id": item.group_id,
        "health": health,
        "setup_status": item.setup_status,
        "setup_message": item.setup_message,
        "last_content_run": last["content"],
        "last_stats_run": last["stats"],
        "next_content_run": upcoming["content"].isoformat() if "content" in upcoming else None,
        "next_stats_run": upcoming["stats"].isoformat() if "stats" in upcoming else None,
        "refresh_token_warning": token_warning,
        # what the Integrations list says: status, the reason a person can act on, a link
        "health_detail": health_of(
            item.id, item.setup_status, item.setup_message, last, token_warning
        ).to_json(),
        "coursera_token_used_at": (
            item.coursera_token_used_at.isoformat() if item.coursera_token_used_at else None
        ),
        # the settings as PUT /api/integrations/{id} takes them (no secret)
        "settings": input_of(item).settings(),
        "secrets_set": {
            "coursera_client_secret": item.has_coursera_client_secret,
            "coursera_refresh_token": item.has_coursera_refresh_token,
            "threesixty_client_secret": item.has_threesixty_client_secret,
        },
    }


def zone_of(service: Service, integration_id: int) -> str:
    """The zone an integration's times are shown in: its content schedule's (else the default)."""
    for s in service.repo.list_schedules(integration_id):
        if s.kind == "content":
            return s.timezone
    return DEFAULT_ZONE


def schedules_of(service: Service, integration_id: int) -> list[dict[str, Any]]:
    upcoming = next_runs(service.repo, integration_id, service.clock(), service.spread)
    return [
        {
            "kind": s.kind,
            "time_of_day": s.time_of_day,
            "timezone": s.timezone,
            "enabled": s.enabled,
            "next_run": upcoming[s.kind].isoformat() if s.kind in upcoming else None,
        }
        for s in service.repo.list_schedules(integration_id)
    ]


def save_schedule(
    service: Service, integration_id: int, kind: str, time_of_day: str, tz: str, enabled: bool
) -> None:
    """Validate (ConfigError with the administrator's words) and store one schedule."""
    from learnsync.errors import ConfigError

    if kind not in ("content", "stats"):
        raise ConfigError(f"unknown schedule {kind!r}: content or stats")
    at = parse_time_of_day(time_of_day)
    zone(tz.strip())
    service.repo.set_schedule(
        integration_id,
        kind,
        time_of_day=at.strftime("%H:%M"),
        timezone=tz.strip(),
        enabled=enabled,
    )


def unmatched_of(service: Service, integration_id: int) -> list[Any]:
    """The unmatched learners of the integration's store."""
    from learnsync.sync.unmatched import unmatched_learners

    return unmatched_learners(service.integrations.config(integration_id))


SECRET_NAMES = {
    "coursera_client_secret": "Coursera client secret",
    "coursera_refresh_token": "Coursera refresh token",
    "threesixty_client_secret": "360Learning client secret",
}


def changed_fields(before: IntegrationSettings, data: IntegrationInput) -> str:
    """What an audit entry says of a settings save: the names of the fields that changed and
    of the secrets entered, never a value ("" when nothing changed)."""
    after = data.settings()
    names = [
        name
        for name, value in after.items()
        if str(getattr(before, name, "") or "").strip() != str(value or "").strip()
    ]
    names += [SECRET_NAMES[s] for s in data.secrets()]
    return ("changed: " + ", ".join(names)) if names else ""


def audit_json(entry: AuditRecord) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "integration_id": entry.integration_id,
        "client": entry.client,
        "detail": entry.detail,
    }

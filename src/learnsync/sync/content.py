"""The content pipeline (docs/sync-rules.md): Coursera catalog → 360Learning external courses.

extract (all catalog pages) → map (docs/mapping.md#content-mapping) → dedupe → filter + diff
(plan) → load (bulk upsert, archive, restore) → store (states, audit rows, run report). A dry run
stops after the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from learnsync.config import Config
from learnsync.diff.content import (
    ACTIVE,
    ARCHIVED_FILTER,
    ARCHIVED_REMOVED,
    FAILED,
    SKIPPED,
    ContentPlan,
    dedupe,
    plan_content,
)
from learnsync.errors import GuardError
from learnsync.extract.content import extract_catalog
from learnsync.load.bulk import Outcome
from learnsync.load.content import archive_courses, unarchive_courses, upsert_courses
from learnsync.mapping.content import MappedCourse, SkippedCourse, map_content
from learnsync.model.progress import NoProgress, Progress
from learnsync.store.repository import ContentItemState, Store
from learnsync.sync.context import Clients, pipeline_resources
from learnsync.sync.integration import IntegrationHandle, prepare_integration
from learnsync.sync.ledger import ContentLedger, recording
from learnsync.sync.report import ContentReport, failed_operations, raise_failed_operations
from learnsync.sync.runner import RunTicket, recorded_run
from learnsync.sync.writeahead import WriteAhead, course_items, reconcile_interrupted

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def run_content_sync(
    config: Config,
    *,
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    clients: Clients | None = None,
    clock: Clock = _utcnow,
) -> ContentReport:
    """``learnsync sync content``: one content synchronization, executed inline.

    A dry run writes nothing and records no run. Otherwise the run is submitted and started on
    the integration's lease (refused while another run of it holds the lease) and executed by
    :func:`learnsync.sync.execute.execute_run`. Raises :class:`GuardError` after the run when
    the 20 % archive guard refused to archive, :class:`~learnsync.errors.OperationsFailed` when
    bulk operations failed as a whole (the rest of the run is done and reported)."""
    from learnsync.sync.execute import execute_inline

    progress = progress or NoProgress()
    with pipeline_resources(config, clients, dry_run=dry_run) as (store, opened):
        if store is None or dry_run:
            report = ContentReport(dry_run=dry_run)
            guard = _run(
                config, store, opened, report, None, force=force, progress=progress, clock=clock
            )
            if guard is not None:
                raise GuardError(guard, report=report)
            return report
        done = execute_inline(
            config,
            "content",
            store=store,
            clients=opened,
            progress=progress,
            clock=clock,
            what="content synchronization",
            params={"force": True} if force else None,
        )
        assert isinstance(done, ContentReport)
        return done


def execute_content(
    config: Config,
    ticket: RunTicket,
    *,
    store: Store,
    clients: Clients,
    progress: Progress,
    clock: Clock,
    force: bool = False,
) -> ContentReport:
    """Execute the started content run ``ticket`` with what it is given (it opens nothing) and
    record its end into its row; the exceptions of :func:`run_content_sync`."""
    report = ContentReport()
    with recorded_run(store, ticket, report=report.to_record) as run:
        guard = _run(
            config,
            store,
            clients,
            report,
            ticket.run_id,
            force=force,
            progress=progress,
            clock=clock,
        )
        run.items_failed(bool(report.failed), failed_operations(report, "courses"))
    if guard is not None:
        raise GuardError(guard, report=report)
    raise_failed_operations(report, "courses")
    return report


def _run(
    config: Config,
    store: Store | None,
    clients: Clients,
    report: ContentReport,
    run_id: int | None,
    *,
    force: bool,
    progress: Progress,
    clock: Clock,
) -> str | None:
    """The run (its row, when it has one, is ``run_id``); the archive guard's refusal, if any."""
    dry_run = report.dry_run
    # the Coursera credentials first: refused ones stop the run before anything is written
    # (the token is cached and serves the catalog reads)
    clients.coursera.auth.token()
    handle = prepare_integration(config, store, clients.threesixty, dry_run=dry_run)
    report.warnings.extend(handle.warnings)
    if run_id is not None and store is not None and not dry_run:
        # what an interrupted earlier run may have done, before planning from the store
        reconcile_interrupted(
            store,
            clients.threesixty,
            handle,
            run_id=run_id,
            group_id=config.threesixty.group_id,
            warnings=report.warnings,
        )
    plan = _plan(config, clients, handle, progress)
    report.warnings.extend(plan.warnings)
    guard_refused = plan.archive_guard_tripped and not force
    if guard_refused:
        report.warnings.append(_guard_message(plan))
    if dry_run:
        _report_plan(report, plan, guard_refused)
    else:
        assert store is not None and run_id is not None
        _execute(
            config, store, clients, handle, plan, report, run_id, guard_refused, progress, clock
        )
    return _guard_message(plan) if guard_refused else None


def _guard_message(plan: ContentPlan) -> str:
    share = 100 * len(plan.archive_removed) / max(plan.active_before, 1)
    return (
        f"refused to archive {len(plan.archive_removed)} courses that left Coursera "
        f"({share:.0f} % of {plan.active_before} active, more than 20 %): check the Coursera "
        "catalog, then run again with --force to archive them"
    )


def _plan(
    config: Config, clients: Clients, handle: IntegrationHandle, progress: Progress
) -> ContentPlan:
    program_id = config.coursera.program_id or None
    overrides = config.sync.content_types
    progress.stage("reading the Coursera catalog")
    rows = extract_catalog(clients.coursera, program_id=program_id, progress=progress)
    results = [map_content(row, program_id=program_id, content_types=overrides) for row in rows]
    warnings: list[str] = []
    missing_id = sum(1 for r in results if isinstance(r, SkippedCourse) and not r.external_id)
    if missing_id:
        warnings.append(
            f"{missing_id} Coursera catalog rows had neither contentType/contentId nor id "
            "and were ignored"
        )
    mapped = dedupe(results)
    plan = plan_content(
        mapped, handle.states, handle.filters, archive_removed=config.sync.archive_removed
    )
    for row in mapped.values():
        if isinstance(row, MappedCourse):
            warnings.extend(row.warnings)
    # only items never created in 360Learning: a course the filters archived (or that stays
    # archived) exists there, it is counted in "archived" or left as it is
    not_created = sum(
        1
        for row in plan.excluded
        if (state := handle.states.get(row.external_id)) is None or state.course_id is None
    )
    if not_created:
        warnings.append(
            f"{not_created} Coursera items do not match the filters and were not created"
        )
    # one line per distinct warning (1,000 items of an unknown type give one line)
    plan.warnings = list(dict.fromkeys(warnings + plan.warnings))
    return plan


def _report_plan(report: ContentReport, plan: ContentPlan, guard_refused: bool) -> None:
    report.created = plan.count("create")
    report.updated = plan.count("update")
    report.restored = plan.count("restore")
    report.unchanged = len(plan.unchanged)
    report.archived = len(plan.archive_filter) + (0 if guard_refused else len(plan.archive_removed))
    report.skipped = [{"externalId": s.external_id, "reason": s.reason} for s in plan.skipped]


def _execute(
    config: Config,
    store: Store,
    clients: Clients,
    handle: IntegrationHandle,
    plan: ContentPlan,
    report: ContentReport,
    run_id: int,
    guard_refused: bool,
    progress: Progress,
    clock: Clock,
) -> None:
    now = clock()
    integration_id = handle.remote_id
    ledger = ContentLedger(handle.states, report)

    # 1. what the catalog says now (metadata used by filters, presence, skips)
    for external_id, row in plan.seen.items():
        if external_id not in ledger.states:
            ledger.put(ContentItemState(external_id=external_id, state=SKIPPED, first_seen_at=now))
        ledger.update(
            external_id,
            language_code=row.language_code,
            content_type=row.content_type,
            name=row.payload["name"] if isinstance(row, MappedCourse) else row.name,
            in_catalog=True,
            last_seen_at=now,
            skip_reason=row.reason if isinstance(row, SkippedCourse) else None,
        )
    for external_id, previous in handle.states.items():
        if external_id not in plan.seen and previous.in_catalog:
            ledger.update(external_id, in_catalog=False)
    for skipped in plan.skipped:
        # an audit row when the skip is new or its reason changed, not every run
        before = handle.states.get(skipped.external_id)
        changed = before is None or before.skip_reason != skipped.reason
        ledger.skipped(skipped.external_id, skipped.reason, audit=changed)

    ahead = WriteAhead(store, handle.record_id, run_id)
    try:
        _write(clients, integration_id, plan, guard_refused, ledger, progress, ahead)
    finally:
        ledger.save(store, handle.record_id, run_id)  # what was done stays recorded, even on error
    ahead.settle()  # every outcome stored (a write stopped by an error leaves them to reconcile)
    report.warnings.extend(_failure_summary(report))


def _write(
    clients: Clients,
    integration_id: str,
    plan: ContentPlan,
    guard_refused: bool,
    ledger: ContentLedger,
    progress: Progress,
    ahead: WriteAhead,
) -> None:
    # 2. upserts (create, update, restore = upsert then un-archive)
    restore_ids: dict[str, str] = {}
    if plan.upserts:
        progress.stage("sending courses to 360Learning", total=len(plan.upserts))
        ahead.record("upsert", [{"externalId": u.course.external_id} for u in plan.upserts])
        with recording(lambda done: restore_ids.update(_record_upserts(plan, done, ledger))) as out:
            upsert_courses(clients.threesixty, integration_id, plan.upserts, progress.advance, out)
    if restore_ids:
        progress.stage("restoring archived courses", total=len(restore_ids))
        coming_from = {e: ledger.states[e].state for e in restore_ids}
        ahead.record("restore", course_items(ledger.states, coming_from))
        with recording(ledger.apply_restores) as out:
            unarchive_courses(clients.threesixty, restore_ids, progress.advance, out)

    ledger.report.unchanged = len(plan.unchanged)

    # 3. archives (filters; content that left Coursera unless the guard refused)
    to_archive = {s.external_id: ARCHIVED_FILTER for s in plan.archive_filter}
    if not guard_refused:
        to_archive.update({s.external_id: ARCHIVED_REMOVED for s in plan.archive_removed})
    if to_archive:
        progress.stage("archiving courses", total=len(to_archive))
        ahead.record("archive", course_items(ledger.states, to_archive))
        with recording(lambda done: ledger.apply_archives(to_archive, done)) as out:
            archive_courses(clients.threesixty, integration_id, to_archive, progress.advance, out)


def _record_upserts(
    plan: ContentPlan, outcomes: dict[str, Outcome], ledger: ContentLedger
) -> dict[str, str]:
    """Record the upserts that have an outcome; the courses to un-archive next."""
    restore_ids: dict[str, str] = {}
    for upsert in plan.upserts:
        external_id = upsert.course.external_id
        outcome = outcomes.get(external_id)
        if outcome is None:
            continue  # not sent (the write stopped before it): the next run sends it
        state = ledger.states[external_id]
        if not outcome.ok:
            # a live or archived course stays what it is; a course never created is "failed"
            kept = state.state if state.course_id is not None else FAILED
            ledger.failed(
                external_id,
                outcome.error or "rejected",
                whole_operation=outcome.operation_failed,
                state=kept,
            )
            continue
        course_id = outcome.resource_id or state.course_id
        sent = {"course_id": course_id, "sent_hash": upsert.hash, "payload": upsert.course.payload}
        if upsert.action == "restore" and course_id:
            ledger.update(external_id, last_error=None, **sent)  # archived until un-archived
            restore_ids[external_id] = course_id
        else:
            action = "created" if upsert.action == "create" else "updated"
            ledger.succeeded(external_id, action, course_id, state=ACTIVE, **sent)
    return restore_ids


def _failure_summary(report: ContentReport) -> list[str]:
    if not report.failed:
        return []
    return [f"{len(report.failed)} items failed; they will be sent again by the next run"]

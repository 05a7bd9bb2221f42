"""Filters (docs/sync-rules.md#filters): show them with their choices; save them, effective at
once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from learnsync.config import Config
from learnsync.diff.content import ARCHIVED_FILTER, is_live, plan_filter_change
from learnsync.errors import ConfigError
from learnsync.filter.rules import Filters
from learnsync.load.content import archive_courses, unarchive_courses
from learnsync.mapping.content import map_content
from learnsync.model.progress import NoProgress, Progress
from learnsync.store.clock import utc_now
from learnsync.store.repository import ContentItemState, Store
from learnsync.sync.context import (
    Clients,
    open_clients,
    open_store,
    pipeline_resources,
    store_exists,
)
from learnsync.sync.integration import prepare_integration, store_record
from learnsync.sync.ledger import ContentLedger, recording
from learnsync.sync.report import ContentReport, failed_operations, raise_failed_operations
from learnsync.sync.runner import RunTicket, recorded_run
from learnsync.sync.writeahead import WriteAhead, course_items, reconcile_interrupted


@dataclass
class FiltersView:
    filters: Filters
    languages: Counter[str] = field(default_factory=Counter)  # code → items in the catalog
    content_types: Counter[str] = field(default_factory=Counter)
    catalog_source: str = "store"  # "store" (last sync) or "coursera" (read now)


def show_filters(config: Config, *, clients: Clients | None = None) -> FiltersView:
    """The saved filters and the choices: languages and content types found in the catalog."""
    filters = Filters()
    states: dict[str, ContentItemState] = {}
    if store_exists(config.store_url):
        store = open_store(config)
        try:
            record = store_record(config, store)
            if record is not None:
                filters = Filters(frozenset(record.languages), frozenset(record.content_types))
                states = store.load_content_items(record.id)
        finally:
            store.close()
    view = FiltersView(filters)
    present = [s for s in states.values() if s.in_catalog]
    if present:
        view.languages.update(s.language_code for s in present if s.language_code)
        view.content_types.update(s.content_type for s in present if s.content_type)
        return view
    # nothing synchronized yet: read the catalog now (read-only)
    own = clients is None
    clients = clients or open_clients(config)
    try:
        for row in clients.coursera.iter_contents(program_id=config.coursera.program_id or None):
            mapped = map_content(row, program_id=config.coursera.program_id or None)
            if mapped.external_id:
                if mapped.language_code:
                    view.languages[mapped.language_code] += 1
                if mapped.content_type:
                    view.content_types[mapped.content_type] += 1
    finally:
        if own:
            clients.close()
    view.catalog_source = "coursera"
    return view


@dataclass
class FilterPreview:
    """What saving ``filters`` would archive and restore, planned from the store alone (the
    stored filters and item states: no request to either API). The counts are the ones a dry
    run of :func:`set_filters` reports, read in a fraction of its time (it also looks up the
    360Learning integration): what the web app's confirmation shows before a save."""

    current: Filters
    filters: Filters
    archive: list[ContentItemState] = field(default_factory=list)
    restore: list[ContentItemState] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether ``filters`` differ from the saved ones (nothing to save otherwise)."""
        return self.filters != self.current


def preview_from_store(store: Store, integration_id: int, filters: Filters) -> FilterPreview:
    """What saving ``filters`` on the integration ``integration_id`` would do, read from the
    store (one query for its items); an integration never synchronized has nothing to change."""
    record = store.get_integration(integration_id)
    if record is None:
        return FilterPreview(Filters(), filters)
    current = Filters(frozenset(record.languages), frozenset(record.content_types))
    states = store.load_content_items(record.id)
    plan = plan_filter_change(states, filters)
    archived_ids = {s.external_id for s in plan.archive}
    return FilterPreview(
        current,
        filters,
        # the plan hands the store's own objects back: typed again by their externalId
        archive=[states[s.external_id] for s in plan.archive],
        restore=[states[s.external_id] for s in plan.restore],
        unchanged=sum(
            1 for s in states.values() if is_live(s) and s.external_id not in archived_ids
        ),
        warnings=_unknown_values(filters, states),
    )


def new_filters(
    current: Filters, *, languages: list[str], content_types: list[str], clear: bool
) -> Filters:
    """Each filter given replaces that filter; ``--clear`` empties both first."""
    base = Filters() if clear else current
    for value in [*languages, *content_types]:
        if not value.strip():
            raise ConfigError("filter values must not be empty")
    return Filters(
        frozenset(v.strip() for v in languages) if languages else base.languages,
        frozenset(v.strip() for v in content_types) if content_types else base.content_types,
    )


def set_filters(
    config: Config,
    *,
    languages: list[str],
    content_types: list[str],
    clear: bool,
    dry_run: bool,
    clients: Clients | None = None,
    progress: Progress | None = None,
) -> ContentReport:
    """``learnsync filters set``: save the filters; archive non-matching content at once;
    restore content that matches again.

    With ``dry_run`` nothing is saved or written: the report is the preview. Otherwise the save
    is a run, submitted and started on the integration's lease (refused while another run of it
    holds the lease) and executed by :func:`learnsync.sync.execute.execute_run`.
    """
    from learnsync.sync.execute import execute_inline

    progress = progress or NoProgress()
    change = _Change(languages, content_types, clear)
    with pipeline_resources(config, clients, dry_run=dry_run) as (store, opened):
        if store is None or dry_run:
            report = ContentReport(dry_run=dry_run)
            _save(config, store, opened, report, None, change, progress)
            return report
        done = execute_inline(
            config,
            "filters",
            store=store,
            clients=opened,
            progress=progress,
            clock=utc_now,
            what="filter save",
            params={"languages": languages, "content_types": content_types, "clear": clear},
        )
        assert isinstance(done, ContentReport)
        return done


def execute_filters(
    config: Config,
    ticket: RunTicket,
    *,
    store: Store,
    clients: Clients,
    progress: Progress,
    languages: list[str],
    content_types: list[str],
    clear: bool,
) -> ContentReport:
    """Execute the started filters run ``ticket`` (it opens nothing) and record its end."""
    report = ContentReport()
    change = _Change(languages, content_types, clear)
    with recorded_run(store, ticket, report=report.to_record) as run:
        _save(config, store, clients, report, ticket.run_id, change, progress)
        run.items_failed(bool(report.failed), failed_operations(report, "courses"))
    raise_failed_operations(report, "courses")
    return report


@dataclass(frozen=True)
class _Change:
    languages: list[str]
    content_types: list[str]
    clear: bool


def _save(
    config: Config,
    store: Store | None,
    clients: Clients,
    report: ContentReport,
    run_id: int | None,
    change: _Change,
    progress: Progress,
) -> None:
    dry_run = report.dry_run
    handle = prepare_integration(config, store, clients.threesixty, dry_run=dry_run)
    report.warnings.extend(handle.warnings)
    filters = new_filters(
        handle.filters,
        languages=change.languages,
        content_types=change.content_types,
        clear=change.clear,
    )
    if not dry_run and store is not None and run_id is not None:
        # what an interrupted earlier run may have done, before planning from the store
        reconcile_interrupted(
            store,
            clients.threesixty,
            handle,
            run_id=run_id,
            group_id=config.threesixty.group_id,
            warnings=report.warnings,
        )
    plan = plan_filter_change(handle.states, filters)
    report.warnings.extend(_unknown_values(filters, handle.states))
    archived_ids = {s.external_id for s in plan.archive}
    report.unchanged = sum(
        1 for s in handle.states.values() if is_live(s) and s.external_id not in archived_ids
    )
    if dry_run or store is None or run_id is None:
        report.archived = len(plan.archive)
        report.restored = len(plan.restore)
        return

    # saved first: even if a write below fails, every later sync applies them
    store.save_filters(handle.record_id, filters.languages, filters.content_types)
    ledger = ContentLedger(handle.states, report)
    ahead = WriteAhead(store, handle.record_id, run_id)
    try:
        if plan.archive:
            to_archive = {s.external_id: ARCHIVED_FILTER for s in plan.archive}
            progress.stage("archiving courses", total=len(to_archive))
            ahead.record("archive", course_items(handle.states, to_archive))
            with recording(lambda done: ledger.apply_archives(to_archive, done)) as out:
                archive_courses(
                    clients.threesixty, handle.remote_id, to_archive, progress.advance, out
                )
        if plan.restore:
            ids = {s.external_id: s.course_id for s in plan.restore if s.course_id}
            coming_from = {e: handle.states[e].state for e in ids}
            progress.stage("restoring archived courses", total=len(ids))
            ahead.record("restore", course_items(handle.states, coming_from))
            with recording(ledger.apply_restores) as out:
                unarchive_courses(clients.threesixty, ids, progress.advance, out)
    finally:
        ledger.save(store, handle.record_id, run_id)  # what was done stays recorded, even on error
    ahead.settle()  # every outcome stored (a write stopped by an error leaves them open)


def _unknown_values(filters: Filters, states: dict[str, ContentItemState]) -> list[str]:
    """Warn about a chosen value no synchronized content has (a typo, most likely)."""
    if not states:
        return []
    warnings = []
    for code in sorted(filters.languages):
        probe = Filters(frozenset({code}), frozenset())
        if not any(probe.matches(s.language_code, s.content_type) for s in states.values()):
            warnings.append(f"no Coursera content has the language {code!r}")
    for kind in sorted(filters.content_types):
        probe = Filters(frozenset(), frozenset({kind}))
        if not any(probe.matches(s.language_code, s.content_type) for s in states.values()):
            warnings.append(f"no Coursera content has the content type {kind!r}")
    return warnings

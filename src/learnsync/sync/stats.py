"""The statistics pipeline (docs/stats.md): Coursera ``enrollmentReports`` → 360Learning statistics.

wait for a running content run → decide full or incremental read → stream the report (a reader
thread fetches ahead) → map each row to a compact item → append it to a temporary SQLite
database → once the read is over, merge per (course, learner) in one statement → one query
streams the items to send → bulk import (10,000 per request, 3 in flight) → per-batch results
saved to the store.

Nothing per row is kept in Python memory across the run; see ``docs/stats.md`` for the rules and
every decision. A dry run reads everything and writes nothing (neither API nor store).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from learnsync.config import Config
from learnsync.diff.stats import (
    FULL_READ_EVERY,
    HASH_FORMAT,
    Compact,
    ReadPlan,
    build_payload,
    decide_read,
    from_ms,
    map_compact,
    to_ms,
)
from learnsync.errors import LearnsyncError
from learnsync.extract.stats import LightRow, Prefetch, iter_enrollment_rows
from learnsync.load.bulk import STATS_LIMIT, Outcome
from learnsync.load.stats import Batch, import_stats
from learnsync.mapping.stats import NO_LEARNER_EMAIL
from learnsync.model.progress import NoProgress, Progress
from learnsync.store.repository import RunItem, RunRecord, StatItemState, Store
from learnsync.sync.concurrency import start_writing_run
from learnsync.sync.context import Clients, open_clients, open_store, store_exists
from learnsync.sync.integration import IntegrationHandle, prepare_integration, store_record
from learnsync.sync.report import StatsReport
from learnsync.sync.staging import Staging, ToSend

Clock = Callable[[], datetime]

WAIT_TIMEOUT = 2 * 3600.0  # seconds a stats run waits for a running content run
POLL_INTERVAL = 15.0
STALE_AFTER = timedelta(hours=6)  # a content run "running" for longer crashed without finishing
RUN_HISTORY = 100  # runs looked at to decide the read


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoreWriter:
    """Runs store writes in order in a thread of its own, so a batch's results are saved while
    the next batch is encoded and sent (SQLite works without holding the GIL).

    ``put`` raises the first write error (later writes are dropped); ``close`` waits for every
    write and raises it too, unless an exception is already on its way.
    """

    def __init__(self, depth: int = 4) -> None:
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="stats-store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self.error is None:
                try:
                    job()
                except BaseException as exc:  # handed to the caller by put/close
                    self.error = exc

    def put(self, job: Callable[[], None]) -> None:
        if self.error is not None:
            raise self.error
        self._jobs.put(job)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()
        if self.error is not None and sys.exc_info()[1] is None:
            raise self.error


def run_stats_sync(
    config: Config,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    clients: Clients | None = None,
    clock: Clock = _utcnow,
    sleep: Callable[[float], None] = time.sleep,
    wait_timeout: float = WAIT_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
    stale_after: timedelta = STALE_AFTER,
    full_every: timedelta = FULL_READ_EVERY,
    force_full: bool = False,
    staging_dir: str | None = None,
) -> StatsReport:
    """Run one statistics synchronization and return its report (docs/contract.md#report-json)."""
    progress = progress or NoProgress()
    own_clients = clients is None
    clients = clients or open_clients(config)
    store = None if dry_run and not store_exists(config.store_url) else open_store(config)
    try:
        return _Run(
            config,
            store,
            clients,
            dry_run=dry_run,
            progress=progress,
            clock=clock,
            sleep=sleep,
            wait=(wait_timeout, poll_interval, stale_after),
            full_every=full_every,
            force_full=force_full,
            staging_dir=staging_dir,
        ).run()
    finally:
        if own_clients:
            clients.close()
        if store is not None:
            store.close()


def wait_for_content_run(
    store: Store,
    integration_id: int,
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    timeout: float,
    poll_interval: float,
    stale_after: timedelta,
) -> list[str]:
    """Wait while a content run of the integration is running (docs/stats.md); return warnings.

    A run marked ``running`` for longer than ``stale_after`` is a crashed one and is ignored (with
    a warning); after ``timeout`` seconds of waiting the statistics run gives up with an error.
    """
    started = clock()
    while True:
        now = clock()
        running = [
            r
            for r in store.list_runs(integration_id, limit=20)
            if r.kind == "content" and r.status == "running" and not r.dry_run
        ]
        fresh = [r for r in running if now - r.started_at < stale_after]
        if not fresh:
            return [
                f"a content run (id {r.id}) has been marked running since "
                f"{r.started_at.isoformat(timespec='seconds')}; it is treated as crashed "
                "and not waited for"
                for r in running
            ]
        waited = (now - started).total_seconds()
        if waited >= timeout:
            raise LearnsyncError(
                f"a content synchronization of this integration (run {fresh[0].id}, started "
                f"{fresh[0].started_at.isoformat(timespec='seconds')}) is still running after "
                f"{timeout / 60:.0f} minutes of waiting; run the statistics synchronization "
                "again once it has finished"
            )
        sleep(min(poll_interval, max(timeout - waited, 0.01)))


class _Run:
    def __init__(
        self,
        config: Config,
        store: Store | None,
        clients: Clients,
        *,
        dry_run: bool,
        progress: Progress,
        clock: Clock,
        sleep: Callable[[float], None],
        wait: tuple[float, float, timedelta],
        full_every: timedelta,
        force_full: bool,
        staging_dir: str | None,
    ) -> None:
        self.config = config
        self.store = store
        self.clients = clients
        self.dry_run = dry_run
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.wait = wait
        self.full_every = full_every
        self.force_full = force_full
        self.staging_dir = staging_dir
        self.report = StatsReport(dry_run=dry_run)
        self.import_error: str | None = None
        # the stored no_learner_email skips, (externalId, learner), and those of them whose row
        # this run mapped to an item to send (the learner now has an e-mail): few pairs
        self.stored_skips: set[tuple[str, str]] = set()
        self.resolved_skips: set[tuple[str, str]] = set()

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> StatsReport:
        store, report = self.store, self.report
        record = store_record(self.config, store) if store else None
        if store is not None and record is not None:
            timeout, poll, stale = self.wait
            if self.dry_run:
                report.warnings.extend(self._running_content_warning(record.id, stale))
            else:
                report.warnings.extend(
                    wait_for_content_run(
                        store,
                        record.id,
                        clock=self.clock,
                        sleep=self.sleep,
                        timeout=timeout,
                        poll_interval=poll,
                        stale_after=stale,
                    )
                )
        known_remote = record.remote_integration_id if record is not None else None
        handle = prepare_integration(
            self.config, store, self.clients.threesixty, dry_run=self.dry_run
        )
        report.warnings.extend(handle.warnings)
        changed = bool(known_remote and handle.remote_id and known_remote != handle.remote_id)
        run_id = None
        if not self.dry_run and store is not None:
            run_id = start_writing_run(
                store, handle.record_id, "stats", what="statistics synchronization"
            )
        plan: ReadPlan | None = None
        try:
            plan = self._execute(handle, run_id, integration_changed=changed)
        except BaseException as exc:
            if run_id is not None and store is not None:
                store.finish_run(run_id, "failed", self._stored(plan), error=str(exc))
            raise
        if run_id is not None and store is not None:
            store.finish_run(run_id, "succeeded", self._stored(plan))
        return report

    def _stored(self, plan: ReadPlan | None) -> dict[str, Any]:
        """The run report as stored: the ``--report-json`` shape plus how the report was read."""
        stored = self.report.to_json()
        if plan is not None:
            # "complete": false when the import stopped early (the next run then reads all)
            stored["read"] = {
                **plan.to_json(),
                "complete": self.import_error is None,
                "hashFormat": HASH_FORMAT,  # the layout of the sent_hash values this run wrote
            }
        return stored

    def _running_content_warning(self, integration_id: int, stale: timedelta) -> list[str]:
        assert self.store is not None
        now = self.clock()
        running = [
            r
            for r in self.store.list_runs(integration_id, limit=20)
            if r.kind == "content" and r.status == "running" and now - r.started_at < stale
        ]
        if not running:
            return []
        return [
            "a content synchronization is running: this dry run shows what a run would send "
            "with the courses synchronized so far (a real run waits for it)"
        ]

    def _execute(
        self, handle: IntegrationHandle, run_id: int | None, *, integration_changed: bool
    ) -> ReadPlan:
        now_ms = to_ms(self.clock())
        synchronized = frozenset(
            external_id for external_id, s in handle.states.items() if s.course_id
        )
        plan = self._plan(handle, run_id, integration_changed)
        with Staging.create(self.staging_dir, incremental=not plan.full) as staging:
            self._read(handle, plan, staging, synchronized, now_ms, integration_changed)
            merged = staging.merged_count()
            to_send = staging.to_send_count()
            self.report.unchanged = merged - to_send
            self._skips(handle, staging, run_id, full=plan.full)
            if self.dry_run:
                self.report.sent = to_send
            elif to_send:
                self._send(handle, staging, run_id, to_send, now_ms)
        if self.report.failed:
            self.report.warnings.append(
                f"{len(self.report.failed)} statistics were rejected by 360Learning; "
                "they will be sent again by the next run"
            )
        return plan

    # -- deciding the read --------------------------------------------------------------------

    def _plan(
        self, handle: IntegrationHandle, run_id: int | None, integration_changed: bool
    ) -> ReadPlan:
        now = self.clock()
        store = self.store
        runs: list[RunRecord] = []
        if store is not None and handle.record_id:
            runs = [
                r for r in store.list_runs(handle.record_id, limit=RUN_HISTORY) if r.id != run_id
            ]
        done = [r for r in runs if r.kind == "stats" and r.status == "succeeded" and not r.dry_run]
        last = done[0] if done else None
        last_full = next((r for r in done if r.report.get("read", {}).get("mode") == "full"), None)
        return decide_read(
            now=now,
            last_success_started=last.started_at if last else None,
            last_full_started=last_full.started_at if last_full else None,
            new_content_since=last is not None and self._new_content_since(runs, last),
            failed_to_retry=bool(
                last
                and (
                    last.report.get("failed")
                    or not last.report.get("read", {}).get("complete", True)
                )
            ),
            force_full=self.force_full or integration_changed,
            full_every=self.full_every,
            hash_format_changed=bool(
                last and last.report.get("read", {}).get("hashFormat") != HASH_FORMAT
            ),
        )

    def _new_content_since(self, runs: list[RunRecord], last: RunRecord) -> bool:
        """Whether a content (or filters) run since ``last`` created or restored a course."""
        assert self.store is not None
        later = [r for r in runs if r.started_at >= last.started_at and r.id != last.id]
        if len(later) >= RUN_HISTORY - 1 and later[-1].started_at > last.started_at:
            return True  # history too long to tell: read everything
        for r in later:
            if r.kind in ("content", "filters") and not r.dry_run:
                items = self.store.list_run_items(r.id)
                if any(i.action in ("created", "restored") for i in items):
                    return True
        return False

    # -- reading, mapping, staging ------------------------------------------------------------

    def _read(
        self,
        handle: IntegrationHandle,
        plan: ReadPlan,
        staging: Staging,
        synchronized: frozenset[str],
        now_ms: int,
        integration_changed: bool,
    ) -> None:
        program_id = self.config.coursera.program_id or None
        holder: list[Prefetch[LightRow]] = []
        rows = iter_enrollment_rows(
            self.clients.coursera,
            program_id=program_id,
            last_activity_after=plan.last_activity_after,
            on_page=lambda fetched, total: holder[0].on_page(fetched, total),
        )
        prefetch = Prefetch(rows)
        holder.append(prefetch)
        with prefetch:  # the reader starts now, while the stored states are loaded
            if self.store is not None and handle.record_id and not integration_changed:
                self.progress.stage("loading the stored statistics states")
                staging.load_states(
                    self._noting_skips(self.store.iter_stat_items(handle.record_id)), to_ms
                )
            what = "all" if plan.full else "recent"
            self.progress.stage(f"reading {what} Coursera enrollment reports")
            lookup = staging.moments
            add, add_skip = staging.add, staging.add_skip
            stored_skips, resolved = self.stored_skips, self.resolved_skips
            for chunk in prefetch.chunks():
                for row in chunk:
                    item = map_compact(
                        row, synchronized=synchronized, moments=lookup, now_ms=now_ms
                    )
                    if type(item) is Compact:
                        add(item)
                        if stored_skips:  # a stored skip's row that now carries an e-mail
                            pair = (item.external_id, row.external_id or "")
                            if pair in stored_skips:
                                resolved.add(pair)
                    else:
                        add_skip(item.external_id, item.learner, item.reason)
                self.progress.advance(len(chunk), total=prefetch.total)
        staging.flush()

    def _noting_skips(self, states: Iterator[StatItemState]) -> Iterator[StatItemState]:
        """The stored states, passed on; the ``no_learner_email`` skips among them are noted."""
        for state in states:
            if state.state == "skipped" and state.last_error == NO_LEARNER_EMAIL:
                self.stored_skips.add((state.external_id, state.learner))
            yield state

    def _skips(
        self, handle: IntegrationHandle, staging: Staging, run_id: int | None, *, full: bool
    ) -> None:
        """Report each skipped (course, learner) once. The ``no_learner_email`` ones are the
        pairs' current state in the store (the unmatched-learners report reads it): a skip is
        written, with its audit row, only when the pair's stored state is not that skip already;
        a stored skip that no longer applies is deleted (its row now carries an e-mail or, after
        a full read, it no longer produces that skip)."""
        audit: list[RunItem] = []
        unmatched: list[StatItemState] = []
        still: set[tuple[str, str]] = set()
        for external_id, learner, reason, stored_state in staging.iter_skips():
            self.report.skipped.append(
                {"externalId": external_id, "learner": learner, "reason": reason}
            )
            if reason == NO_LEARNER_EMAIL and external_id:
                still.add((external_id, learner))
                if stored_state == "skipped":
                    continue  # unchanged: neither the state nor an audit row is written again
                unmatched.append(
                    StatItemState(
                        external_id=external_id, learner=learner, state="skipped", last_error=reason
                    )
                )
            audit.append(
                RunItem(external_id=external_id, action="skipped", learner=learner, detail=reason)
            )
        gone = (self.stored_skips if full else self.resolved_skips) - still
        if self.dry_run or self.store is None or run_id is None:
            return
        self.store.add_run_items(run_id, audit)
        if unmatched:
            self.store.save_stat_items(handle.record_id, unmatched)
        if gone:
            self.store.delete_skipped_stat_items(handle.record_id, sorted(gone))

    # -- sending ------------------------------------------------------------------------------

    def _save(
        self, record_id: int, run_id: int, states: list[StatItemState], audit: list[RunItem]
    ) -> None:
        assert self.store is not None
        self.store.save_stat_items(record_id, states)
        if audit:
            self.store.add_run_items(run_id, audit)

    def _send(
        self,
        handle: IntegrationHandle,
        staging: Staging,
        run_id: int | None,
        to_send: int,
        now_ms: int,
    ) -> None:
        store = self.store
        assert store is not None and run_id is not None
        now = from_ms(now_ms)
        report = self.report
        self.progress.stage("sending statistics to 360Learning", total=to_send)

        def batches() -> Iterator[Batch[list[ToSend]]]:
            for rows in staging.iter_to_send(STATS_LIMIT):
                payloads = [build_payload(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
                yield Batch(payloads, rows)

        def record(batch: Batch[list[ToSend]], outcomes: list[Outcome]) -> None:
            states: list[StatItemState] = []
            audit: list[RunItem] = []
            for row, outcome in zip(batch.meta, outcomes, strict=True):
                _k, ext, learner, _p, _s, _f, _l, h, completed, s_first, s_done, s_hash = row
                first_seen = from_ms(s_first) if s_first is not None else now
                done_seen = from_ms(s_done) if s_done is not None else (now if completed else None)
                if outcome.ok:
                    # an accepted item's record is its stat_items state (no audit row: a million
                    # "sent" rows per full run would double the store's writes; docs/stats.md)
                    report.sent += 1
                    states.append(
                        StatItemState(
                            ext, learner, "sent", h, bool(completed), first_seen, done_seen, None
                        )
                    )
                else:
                    error = outcome.error or "rejected"
                    report.failed.append({"externalId": ext, "learner": learner, "error": error})
                    states.append(
                        StatItemState(
                            ext, learner, "failed", s_hash, False, first_seen, done_seen, error
                        )
                    )
                    audit.append(RunItem(ext, "failed", learner, error))
            writer.put(lambda: self._save(handle.record_id, run_id, states, audit))
            self.progress.advance(len(outcomes))

        writer = StoreWriter()
        try:
            result = import_stats(self.clients.threesixty, handle.remote_id, batches(), record)
        finally:
            writer.close()
        if result.error:
            self.import_error = result.error
            not_sent = to_send - report.sent - len(report.failed)
            report.warnings.append(
                f"the statistics import stopped: {result.error}; {not_sent} statistics not "
                "sent yet will be sent by the next run"
            )

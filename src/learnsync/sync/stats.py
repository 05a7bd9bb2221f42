"""The statistics pipeline (docs/stats.md): Coursera ``enrollmentReports`` → 360Learning statistics.

wait in the queue while another run holds the integration's lease → decide full or incremental
read → stream the report (a reader thread fetches ahead) → map each row to a compact item →
append it to a temporary SQLite database → once the read is over, merge per (course, learner) in
one statement → one query streams the items to send → bulk import (10,000 per request, 3 in
flight) → per-batch results saved to the store.

Nothing per row is kept in Python memory across the run; see ``docs/stats.md`` for the rules and
every decision. A dry run reads everything and writes nothing (neither API nor store).
"""

from __future__ import annotations

import contextlib
import functools
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from learnsync.config import Config
from learnsync.diff.stats import (
    FULL_READ_EVERY,
    HASH_FORMAT,
    Compact,
    Moments,
    ReadPlan,
    build_payload,
    decide_read,
    decode_retry,
    encode_retry,
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
from learnsync.store.jobs import RunJobs
from learnsync.store.repository import RunItem, StatItemState, Store, SyncStateRecord
from learnsync.sync.context import Clients, pipeline_resources
from learnsync.sync.integration import IntegrationHandle, prepare_integration, store_record
from learnsync.sync.report import StatsReport, failed_operations, raise_failed_operations
from learnsync.sync.runner import (
    QUEUE_POLL,
    QUEUE_WAIT,
    RunTicket,
    recorded_run,
)
from learnsync.sync.staging import Staging, ToSend

Clock = Callable[[], datetime]

# the error stored, before the bulk request, on the items whose dates this run froze: replaced
# by 360Learning's answer; left by a run killed mid-send, so the next run re-sends the same item
NOT_CONFIRMED = "sent, not confirmed by 360Learning yet (the run stopped before its answer)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _frozen(row: ToSend, now_ms: int) -> bool:
    """Whether the payload of ``row`` holds a moment this run froze (a date that fell back to
    "first seen" or "first seen completed", not stored yet): it must be stored before the send,
    or a run killed mid-send would have the next one send other dates (a second attempt)."""
    first, last, completed, s_first, s_done = row[5], row[6], row[8], row[9], row[10]
    if s_first is None and (first == now_ms or last == now_ms):
        return True
    return bool(completed) and s_done is None and last == now_ms


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

    def wait(self, job: Callable[[], None]) -> None:
        """Run ``job`` after the writes already queued and return once it is done (raising the
        first write error)."""
        done = threading.Event()

        def run() -> None:
            try:
                job()
            finally:
                done.set()

        self.put(run)
        while not done.wait(0.05):
            if self.error is not None or not self._thread.is_alive():
                break
        if self.error is not None:
            raise self.error
        if not done.is_set():
            raise RuntimeError("the statistics store writer stopped")

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
    monotonic: Callable[[], float] = time.monotonic,
    wait_timeout: float = QUEUE_WAIT,
    poll_interval: float = QUEUE_POLL,
    full_every: timedelta = FULL_READ_EVERY,
    force_full: bool = False,
    staging_dir: str | None = None,
) -> StatsReport:
    """``learnsync sync stats``: one statistics synchronization, executed inline; its report
    (docs/contract.md#report-json).

    A dry run writes nothing and records no run. Otherwise the run is submitted and started on
    the integration's lease, waiting in the queue (up to ``wait_timeout`` seconds on
    ``monotonic``, trying every ``poll_interval``) while another run of the integration holds
    it, and executed by :func:`learnsync.sync.execute.execute_run`."""
    from learnsync.sync.execute import StatsTuning, execute_inline

    progress = progress or NoProgress()
    with pipeline_resources(config, clients, dry_run=dry_run) as (store, opened):
        if store is None or dry_run:
            run = _Run(
                config,
                store,
                opened,
                dry_run=dry_run,
                progress=progress,
                clock=clock,
                full_every=full_every,
                force_full=force_full,
                staging_dir=staging_dir,
            )
            return run.run(None)
        done = execute_inline(
            config,
            "stats",
            store=store,
            clients=opened,
            progress=progress,
            clock=clock,
            what="statistics synchronization",
            wait=True,
            wait_seconds=wait_timeout,
            poll=poll_interval,
            monotonic=monotonic,
            sleep=sleep,
            tuning=StatsTuning(full_every, force_full, staging_dir),
        )
        assert isinstance(done, StatsReport)
        return done


def execute_stats(
    config: Config,
    ticket: RunTicket,
    *,
    store: Store,
    clients: Clients,
    progress: Progress,
    clock: Clock,
    full_every: timedelta = FULL_READ_EVERY,
    force_full: bool = False,
    staging_dir: str | None = None,
) -> StatsReport:
    """Execute the started statistics run ``ticket`` (it opens nothing but its staging file)
    and record its end into its row."""
    run = _Run(
        config,
        store,
        clients,
        dry_run=False,
        progress=progress,
        clock=clock,
        full_every=full_every,
        force_full=force_full,
        staging_dir=staging_dir,
    )
    with recorded_run(store, ticket, report=run.stored) as active:
        run.run(ticket.run_id)
        if run.import_error is not None:  # 360Learning refused to go on: the run stopped
            raise LearnsyncError(run.import_error)
        why = failed_operations(run.report, "statistics")
        active.items_failed(bool(run.report.failed), why)
    raise_failed_operations(run.report, "statistics")
    return run.report


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
        self.full_every = full_every
        self.force_full = force_full
        self.staging_dir = staging_dir
        self.report = StatsReport(dry_run=dry_run)
        self.import_error: str | None = None
        self.plan: ReadPlan | None = None  # the read, once decided and done
        # the stored no_learner_email skips, (externalId, learner), and those of them whose row
        # this run mapped to an item to send (the learner now has an e-mail): few pairs
        self.stored_skips: set[tuple[str, str]] = set()
        self.resolved_skips: set[tuple[str, str]] = set()
        # the bookmarks read at the start (docs/stats.md#full-or-incremental-read)
        self.bookmarks: SyncStateRecord | None = None

    # -- the run ------------------------------------------------------------------------------

    def run(self, run_id: int | None) -> StatsReport:
        """The run; its row (when it has one, outside a dry run on the integration's lease) is
        ``run_id``, its end recorded by the caller (:meth:`stored` is the report it stores)."""
        store, report = self.store, self.report
        record = store_record(self.config, store) if store else None
        if store is not None and record is not None and self.dry_run:
            report.warnings.extend(self._running_content_warning(record.id))
        known_remote = record.remote_integration_id if record is not None else None
        handle = prepare_integration(
            self.config, store, self.clients.threesixty, dry_run=self.dry_run
        )
        report.warnings.extend(handle.warnings)
        changed = bool(known_remote and handle.remote_id and known_remote != handle.remote_id)
        if self.dry_run:
            run_id = None  # a dry run writes nothing, not even with a run row of its own
        plan = self._execute(handle, run_id, integration_changed=changed)
        self.plan = plan
        if run_id is not None and store is not None:
            self._save_bookmarks(handle.record_id, run_id, plan)
        return report

    def _save_bookmarks(self, record_id: int, run_id: int, plan: ReadPlan) -> None:
        """The bookmarks this run earned: a complete run (read to the end, import not stopped)
        moves ``last_read_at`` and the watermark to its start (and ``last_full_read_at`` after a
        full read); a stopped import clears the watermark, so the next run reads everything."""
        assert self.store is not None
        run = self.store.get_run(run_id)
        started = run.started_at if run is not None else self.clock()
        before = self.bookmarks or SyncStateRecord("stats")
        complete = self.import_error is None
        self.store.save_sync_state(
            record_id,
            SyncStateRecord(
                "stats",
                last_read_at=started if complete else before.last_read_at,
                watermark=started if complete else None,
                last_full_read_at=started if complete and plan.full else before.last_full_read_at,
                format_version=HASH_FORMAT,
                run_id=run_id,
            ),
        )

    def stored(self) -> dict[str, Any]:
        """The run report as stored: the ``--report-json`` shape plus how the report was read."""
        plan = self.plan
        stored = self.report.to_json()
        if plan is not None:
            # "complete": false when the import stopped early (the next run then reads all)
            stored["read"] = {**plan.to_json(), "complete": self.import_error is None}
        return stored

    def _running_content_warning(self, integration_id: int) -> list[str]:
        assert self.store is not None
        jobs = RunJobs(self.store.engine)
        lease = jobs.lease(integration_id)
        holder = jobs.get(lease.run_id) if lease is not None else None
        if holder is None or holder.kind != "content":
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
        """The read, from the bookmarks the previous runs wrote (``sync_state``): the statistics
        stream's, and the content stream's watermark (the start of the newest content or filters
        run that created or restored a course)."""
        store = self.store
        content: SyncStateRecord | None = None
        if store is not None and handle.record_id:
            self.bookmarks = store.get_sync_state(handle.record_id, "stats")
            content = store.get_sync_state(handle.record_id, "content")
        mark = self.bookmarks
        last_read = mark.last_read_at if mark is not None else None
        return decide_read(
            now=self.clock(),
            last_success_started=(mark.watermark or mark.last_read_at) if mark else None,
            last_full_started=mark.last_full_read_at if mark is not None else None,
            new_content_since=bool(
                last_read is not None
                and content is not None
                and content.watermark is not None
                and content.watermark >= last_read
            ),
            incomplete=mark is not None and mark.watermark is None,
            force_full=self.force_full or integration_changed,
            full_every=self.full_every,
            hash_format_changed=mark is not None and mark.format_version != HASH_FORMAT,
        )

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
        store, record_id = self.store, handle.record_id
        stored = store is not None and bool(record_id) and not integration_changed
        with prefetch:  # the reader starts now, while the stored states are loaded
            lookup: Callable[[str, str], Moments] = staging.moments
            if store is not None and stored and plan.full:
                # a full read reads every pair: a copy of every stored state
                self.progress.stage("loading the stored statistics states")
                staging.load_states(self._noting_skips(store.iter_stat_items(record_id)), to_ms)
            elif store is not None and stored:
                # an incremental read looks up only what it needs: the stored no_learner_email
                # skips (few, through the index of the pairs not sent) and, after the read, the
                # states of the pairs read; the rare row whose date falls back to a stored moment
                # asks the store for that pair
                self.stored_skips.update(
                    (s.external_id, s.learner)
                    for s in store.iter_open_stat_items(record_id, "skipped", NO_LEARNER_EMAIL)
                )
                lookup = self._store_moments(store, record_id)
            what = "all" if plan.full else "recent"
            self.progress.stage(f"reading {what} Coursera enrollment reports")
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
        if store is not None and stored and not plan.full:
            # the items to retry (rejected, or not confirmed by a run that stopped) are sent
            # again from their stored values, whatever this read saw; then the stored states of
            # exactly the pairs this run holds
            for s in store.iter_open_stat_items(record_id, "failed"):
                if s.retry_item:
                    add(decode_retry(s.external_id, s.learner, s.retry_item))
            staging.flush()
            self.progress.stage("looking up the stored states of the pairs read")
            staging.load_states(store.lookup_stat_items(record_id, staging.keys()), to_ms)

    @staticmethod
    def _store_moments(store: Store, record_id: int) -> Callable[[str, str], Moments]:
        def moments(external_id: str, learner: str) -> Moments:
            for s in store.lookup_stat_items(record_id, [(external_id, learner)]):
                return (
                    to_ms(s.first_seen_at) if s.first_seen_at is not None else None,
                    to_ms(s.completed_seen_at) if s.completed_seen_at is not None else None,
                )
            return (None, None)

        return moments

    def _noting_skips(self, states: Iterator[StatItemState]) -> Iterator[StatItemState]:
        """The stored states, passed on; the ``no_learner_email`` skips among them are noted."""
        for state in states:
            if state.state == "skipped" and state.last_error == NO_LEARNER_EMAIL:
                self.stored_skips.add((state.external_id, state.learner))
            yield state

    def _skips(
        self, handle: IntegrationHandle, staging: Staging, run_id: int | None, *, full: bool
    ) -> None:
        """Report each skipped (course, learner) once. Every skip is the pair's current state in
        the store (the unmatched-learners report reads the ``no_learner_email`` ones): a skip is
        written, with its audit row, only when the pair's stored state is not that skip already
        (a pair stored ``sent`` or ``failed`` keeps its state); a stored skip that no longer
        applies is deleted (its row now carries an e-mail or, after a full read, it no longer
        produces that skip)."""
        audit: list[RunItem] = []
        changed: list[StatItemState] = []
        still: set[tuple[str, str]] = set()
        for external_id, learner, reason, stored_state, stored_reason in staging.iter_skips():
            self.report.skipped.append(
                {"externalId": external_id, "learner": learner, "reason": reason}
            )
            still.add((external_id, learner))
            if stored_state in ("sent", "failed"):
                continue  # what 360Learning holds stays known; the report lists the skip
            if stored_state == "skipped" and stored_reason == reason:
                continue  # unchanged: neither the state nor an audit row is written again
            changed.append(
                StatItemState(
                    external_id=external_id, learner=learner, state="skipped", last_error=reason
                )
            )
            audit.append(
                RunItem(external_id=external_id, action="skipped", learner=learner, detail=reason)
            )
        gone = set(staging.stale_skips()) if full else self.resolved_skips - still
        if self.dry_run or self.store is None or run_id is None:
            return
        if full and (stale := staging.stale_retries()):
            # rejected items whose rows left the report: no longer re-sent by incremental reads
            self.store.clear_stat_retries(handle.record_id, stale)
        self.store.add_run_items(run_id, audit)
        if changed:
            self.store.save_stat_items(handle.record_id, changed)
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

    @staticmethod
    def _failed(row: ToSend, now: datetime, error: str) -> StatItemState:
        """The state of an item sent and not accepted: the last accepted hash and rank stay,
        its mapped values are kept to be sent again, its dates are frozen."""
        _k, ext, learner, progress_, spent, first, last, _h, completed, s_first, s_done = row[:11]
        return StatItemState(
            ext,
            learner,
            "failed",
            row[11],
            False,
            from_ms(s_first) if s_first is not None else now,
            from_ms(s_done) if s_done is not None else (now if completed else None),
            error,
            sent_rank=row[13],
            retry_item=encode_retry(
                Compact(ext, learner, bool(completed), progress_, spent, first, last)
            ),
        )

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

        def batches() -> Generator[Batch[list[ToSend]], None, None]:
            # closed with this generator (an import that stopped early): the staging cursor is
            # closed now, not when the garbage collector finds it after the staging is gone
            with contextlib.closing(staging.iter_to_send(STATS_LIMIT)) as pages:
                yield from _batches(pages)

        def _batches(pages: Iterator[list[ToSend]]) -> Iterator[Batch[list[ToSend]]]:
            for rows in pages:
                ahead = [self._failed(r, now, NOT_CONFIRMED) for r in rows if _frozen(r, now_ms)]
                if ahead:  # write ahead: the dates this run froze are stored before the send
                    writer.wait(functools.partial(self._save, handle.record_id, run_id, ahead, []))
                payloads = [build_payload(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
                yield Batch(payloads, rows)

        def record(batch: Batch[list[ToSend]], outcomes: list[Outcome]) -> None:
            states: list[StatItemState] = []
            audit: list[RunItem] = []
            for row, outcome in zip(batch.meta, outcomes, strict=True):
                ext, learner, h, completed, s_first, s_done = (
                    row[1], row[2], row[7], row[8], row[9], row[10]
                )  # fmt: skip
                if outcome.ok:
                    # an accepted item's record is its stat_items state (no audit row: a million
                    # "sent" rows per full run would double the store's writes; docs/stats.md)
                    report.sent += 1
                    states.append(
                        StatItemState(
                            ext,
                            learner,
                            "sent",
                            h,
                            bool(completed),
                            from_ms(s_first) if s_first is not None else now,
                            from_ms(s_done) if s_done is not None else (now if completed else None),
                            None,
                            sent_rank=row[12],
                        )
                    )
                else:
                    error = outcome.error or "rejected"
                    report.failed.append({"externalId": ext, "learner": learner, "error": error})
                    report.in_failed_operations += outcome.operation_failed
                    states.append(self._failed(row, now, error))
                    if row[14] != "failed" or row[15] != error:  # a change of the pair's state
                        audit.append(RunItem(ext, "failed", learner, error))
            writer.put(lambda: self._save(handle.record_id, run_id, states, audit))
            self.progress.advance(len(outcomes))

        writer = StoreWriter()
        source = batches()
        try:
            result = import_stats(self.clients.threesixty, handle.remote_id, source, record)
        finally:
            source.close()  # what the import did not take stays unread
            writer.close()
        if result.error:
            not_sent = to_send - report.sent - len(report.failed)
            self.import_error = (
                f"the statistics import stopped: {result.error}; {not_sent} statistics not "
                "sent yet will be sent by the next run"
            )
            report.warnings.append(self.import_error)

"""Plain dataclasses the repository hands in and out, so pipelines never touch a session.

All datetimes are aware UTC. Fields a caller may leave to the store default to ``None``
(``first_seen_at``: "now" on first save; ``updated_at``: always set by the store).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

CONTENT_STATES = ("active", "archived_filter", "archived_removed", "skipped", "failed")
STAT_STATES = ("sent", "skipped", "failed")
RUN_KINDS = ("content", "stats", "filters")
# queued → running → succeeded | partial | failed | cancelled (learnsync.store.jobs)
RUN_STATUSES = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
RUN_FINAL_STATUSES = ("succeeded", "partial", "failed", "cancelled")
RUN_TRIGGERS = ("cli", "manual", "schedule", "filters")
RUN_ITEM_ACTIONS = ("created", "updated", "archived", "restored", "skipped", "failed", "sent")


@dataclass(slots=True)
class IntegrationRecord:
    id: int
    key: str
    name: str
    org_id: str
    base_url: str
    group_id: str
    author_id: str
    integration_name: str
    remote_integration_id: str | None
    languages: list[str]
    content_types: list[str]
    content_type_overrides: dict[str, str]
    archive_removed: bool
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class ContentItemState:
    """What learnsync knows of one content item (see ``learnsync.diff.content`` for ``state``).

    ``sent_hash``/``payload``: the mapped payload 360Learning last accepted (``None``: never);
    ``in_catalog``: whether the item was in the last complete Coursera fetch.
    """

    external_id: str
    state: str
    course_id: str | None = None
    sent_hash: str | None = None
    payload: dict[str, Any] | None = None
    language_code: str | None = None
    content_type: str | None = None
    name: str | None = None
    in_catalog: bool = True
    skip_reason: str | None = None
    last_error: str | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class StatItemState:
    """The last statistics sent for one (content, learner) pair.

    ``sent_hash`` and ``sent_rank`` describe the item 360Learning last accepted: the 64-bit hash
    of its payload and its coarse rank (:func:`learnsync.diff.stats.item_hash`,
    :func:`~learnsync.diff.stats.item_rank`); ``retry_item`` the mapped values of an item sent
    and not (yet) accepted, from which the next run sends it again
    (:func:`~learnsync.diff.stats.encode_retry`); ``first_seen_at`` and ``completed_seen_at``
    are written once and then kept by the store (dates that must never drift:
    docs/mapping.md#statistics-mapping); ``sent_completed`` never goes back to false.
    """

    external_id: str
    learner: str
    state: str
    sent_hash: int | None = None
    sent_completed: bool = False
    first_seen_at: datetime | None = None
    completed_seen_at: datetime | None = None
    last_error: str | None = None
    updated_at: datetime | None = None
    sent_rank: int | None = None
    retry_item: str | None = None


@dataclass(slots=True)
class SyncStateRecord:
    """The bookmarks of one stream (``stats``, ``content``) of one integration (``sync_state``;
    see :class:`learnsync.store.models.SyncState` for what each means)."""

    stream: str
    last_read_at: datetime | None = None
    watermark: datetime | None = None
    last_full_read_at: datetime | None = None
    format_version: str | None = None
    run_id: int | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class RunItem:
    """One audit row: an item a run wrote, failed to write, or skipped."""

    external_id: str
    action: str
    learner: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class RunRecord:
    id: int
    integration_id: int
    kind: str
    dry_run: bool
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    report: dict[str, Any] = field(default_factory=dict)  # bounded; {} when not loaded
    error: str | None = None
    # the report's counts (learnsync.store.history); None when the report has no such count
    created_count: int | None = None
    updated_count: int | None = None
    unchanged_count: int | None = None
    archived_count: int | None = None
    restored_count: int | None = None
    sent_count: int | None = None
    skipped_count: int | None = None
    failed_count: int | None = None
    warnings_count: int | None = None
    # the run as a job (learnsync.store.jobs): who asked, live progress, heartbeat
    trigger: str = "cli"
    queued_at: datetime | None = None
    stage: str | None = None
    done: int = 0
    total: int | None = None
    heartbeat_at: datetime | None = None
    cancel_requested: bool = False
    params: dict[str, Any] | None = None  # what it was asked to do (a filters run's filters)
    # on a fleet: starts so far, starts allowed, the lease owner of the last attempt
    attempts: int = 0
    max_attempts: int = 1
    worker: str | None = None


@dataclass(slots=True)
class CourseCompletions:
    """One course of :attr:`StatSummary.top_courses`."""

    external_id: str
    completions: int  # (course, learner) pairs sent as completed
    learners: int  # (course, learner) pairs known


@dataclass(slots=True)
class StatSummary:
    """Aggregates of one integration's statistics items (:meth:`Store.stat_summary`).

    Days are UTC dates; a day without any row is absent from the per-day dictionaries.
    """

    pairs_by_state: dict[str, int] = field(default_factory=dict)
    # pairs whose completion was first seen that day (``completed_seen_at``)
    completions_by_day: dict[date, int] = field(default_factory=dict)
    # distinct learners with a pair rewritten that day (``updated_at``)
    active_learners_by_day: dict[date, int] = field(default_factory=dict)
    # most completed courses first (ties: by externalId)
    top_courses: list[CourseCompletions] = field(default_factory=list)

"""The store's tables as SQLAlchemy 2 typed declarative models.

The models describe the newest schema; the Alembic revisions in ``migrations/versions`` are
what actually creates it (a test checks that the two agree). Nothing outside ``store`` sees
these classes: the repository hands out plain dataclasses.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

from learnsync.store.db import UtcDateTime
from learnsync.store.records import (
    CONTENT_STATES,
    RUN_ITEM_ACTIONS,
    RUN_KINDS,
    RUN_STATUSES,
    RUN_TRIGGERS,
    STAT_STATES,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON everywhere, JSONB on PostgreSQL (smaller, indexable if the web app ever needs it)
Json = JSON().with_variant(JSONB(), "postgresql")
# BIGINT ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # SQLAlchemy types ``__table__`` as any FromClause (a class may be mapped to a join or a
        # subquery); every model here is a declarative table (``__tablename__``), so it is a
        # :class:`~sqlalchemy.Table` and supports insert/update/delete.
        __table__: ClassVar[Table]


def all_metadata() -> MetaData:
    """The whole schema: imports every ``*models`` module of the store package first.

    Other modules (``service_models``) declare tables on the same :class:`Base`; Alembic's
    environment and the models-vs-migrations test need all of them loaded.
    """
    import importlib
    import pkgutil

    import learnsync.store as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.endswith("models"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return Base.metadata


class Integration(Base):
    """One Coursera organization synchronized into one 360Learning group.

    See docs/sync-rules.md#the-360learning-integration. One row per integration, for the
    pipelines and the service alike (0004): ``id`` is its stable identity; ``key`` is set when
    the row is created and only finds it again for a ``--config`` run; the service's settings
    (``label`` and after) are ``NULL`` / defaults for an integration only config files know.
    Secrets are never stored in clear: the ``*_enc`` columns hold Fernet tokens.
    """

    __tablename__ = "integrations"
    # NULL labels (config-file integrations) never collide, on SQLite and PostgreSQL
    __table_args__ = (Index("ix_integrations_label", "label", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    org_id: Mapped[str] = mapped_column(String(255), default="")  # Coursera organization
    base_url: Mapped[str] = mapped_column(String(255), default="")  # 360Learning platform
    group_id: Mapped[str] = mapped_column(String(64), default="")
    author_id: Mapped[str] = mapped_column(String(64), default="")
    integration_name: Mapped[str] = mapped_column(String(255), default="")
    remote_integration_id: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[str]] = mapped_column(Json, default=list)
    content_types: Mapped[list[str]] = mapped_column(Json, default=list)
    content_type_overrides: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    archive_removed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # the service's settings (0004, from the former service_integrations)
    label: Mapped[str | None] = mapped_column(String(255))
    coursera_client_id: Mapped[str] = mapped_column(String(255), default="")
    coursera_client_secret_enc: Mapped[str | None] = mapped_column(Text)
    coursera_refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    coursera_api_base: Mapped[str] = mapped_column(String(255), default="")
    coursera_token_url: Mapped[str] = mapped_column(String(255), default="")
    coursera_program_id: Mapped[str] = mapped_column(String(255), default="")
    coursera_auth: Mapped[str] = mapped_column(String(32), default="refresh_token")
    threesixty_client_id: Mapped[str] = mapped_column(String(255), default="")
    threesixty_client_secret_enc: Mapped[str | None] = mapped_column(Text)
    setup_status: Mapped[str] = mapped_column(String(16), default="new")  # new, ok, error
    setup_message: Mapped[str | None] = mapped_column(Text)
    setup_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # last successful Coursera token refresh, or when the refresh token was stored (0003)
    coursera_token_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ContentItem(Base):
    """What learnsync knows of one Coursera content item of one integration."""

    __tablename__ = "content_items"
    __table_args__ = (CheckConstraint(_one_of("state", CONTENT_STATES), name="state"),)

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    course_id: Mapped[str | None] = mapped_column(String(64))
    sent_hash: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None] = mapped_column(Json)
    language_code: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    in_catalog: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StatItem(Base):
    """The last statistics sent for one (content, learner) pair; ~1,000,000 rows per integration.

    Kept narrow on purpose: besides the composite primary key, one partial index holds only the
    pairs that are not ``sent`` (rejected, not confirmed, skipped: few), so a run finds the items
    to retry without reading the others. ``sent_rank`` is the coarse rank of the item 360Learning
    last accepted and ``sent_hash`` the 64-bit hash of its payload
    (:func:`learnsync.diff.stats.item_rank`, :func:`~learnsync.diff.stats.item_hash`);
    ``retry_item`` the mapped values of an item sent but not accepted (re-sent from them).
    """

    __tablename__ = "stat_items"
    __table_args__ = (
        CheckConstraint(_one_of("state", STAT_STATES), name="state"),
        Index(
            "ix_stat_items_open",
            "integration_id",
            "state",
            sqlite_where=text("state != 'sent'"),
            postgresql_where=text("state != 'sent'"),
        ),
        {"sqlite_with_rowid": False},  # one B-tree keyed by the primary key, not two
    )

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    learner: Mapped[str] = mapped_column(String(320), primary_key=True)
    sent_hash: Mapped[int | None] = mapped_column(BigInteger)
    sent_rank: Mapped[int | None] = mapped_column(BigInteger)
    sent_completed: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    retry_item: Mapped[str | None] = mapped_column(String(128))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SyncState(Base):
    """Bookmarks of one pipeline stream of one integration, written by the run that earned them
    and read by the next run (docs/stats.md#full-or-incremental-read).

    ``stream`` ``stats``: ``last_read_at`` the start of the last statistics run whose read and
    import completed, ``watermark`` the moment the next incremental read starts from (minus the
    lag margin; null: the next read is full), ``last_full_read_at`` the start of the last
    complete full read, ``format_version`` the layout of the ``stat_items`` values it wrote.
    ``stream`` ``content``: ``watermark`` the start of the newest content or filters run that
    created or restored a course. ``run_id`` the run that wrote the row (no foreign key: run
    history may be pruned).
    """

    __tablename__ = "sync_state"

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    watermark: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_full_read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    format_version: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Run(Base):
    """One execution of a pipeline (or of ``filters set``) and its final report."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_one_of("kind", RUN_KINDS), name="kind"),
        CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),
        CheckConstraint(_one_of("trigger", RUN_TRIGGERS), name="trigger"),
        Index("ix_runs_status_id", "status", "id"),  # the queue: oldest queued runs first
        Index("ix_runs_integration_id_started_at", "integration_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    report: Mapped[dict[str, Any] | None] = mapped_column(Json)  # bounded (store/history.py)
    # the report's counts (0006): what the run lists and /metrics read; NULL when the kind of
    # report has no such count (a statistics run creates nothing) or the run has no report
    created_count: Mapped[int | None] = mapped_column(BigInteger)
    updated_count: Mapped[int | None] = mapped_column(BigInteger)
    unchanged_count: Mapped[int | None] = mapped_column(BigInteger)
    archived_count: Mapped[int | None] = mapped_column(BigInteger)
    restored_count: Mapped[int | None] = mapped_column(BigInteger)
    sent_count: Mapped[int | None] = mapped_column(BigInteger)
    skipped_count: Mapped[int | None] = mapped_column(BigInteger)
    failed_count: Mapped[int | None] = mapped_column(BigInteger)
    warnings_count: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    # the run as a job (0007): who asked for it, its live progress, its heartbeat
    trigger: Mapped[str] = mapped_column(String(16), default="cli", server_default="cli")
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stage: Mapped[str | None] = mapped_column(String(64))
    done: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total: Mapped[int | None] = mapped_column(BigInteger)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # what a submitted run is asked to do beyond its kind (0009): a filters run's filters
    params: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # on a fleet (0011): starts so far, starts allowed (a run whose process died is queued again
    # while attempts < max_attempts), the lease owner that executed the last attempt
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    worker: Mapped[str | None] = mapped_column(String(128))


class RunItem(Base):
    """Audit row: one item a run wrote, failed to write or skipped; deleted with its run when
    the run is older than the retention (:meth:`learnsync.store.Store.prune_runs`)."""

    __tablename__ = "run_items"
    __table_args__ = (
        CheckConstraint(_one_of("action", RUN_ITEM_ACTIONS), name="action"),
        Index("ix_run_items_run_id_external_id", "run_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    external_id: Mapped[str] = mapped_column(String(255))
    learner: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """The one writing run of an integration (a row is the lease), across processes.

    Taken when a run starts, kept alive by the run's heartbeat, released when it ends; a lease
    whose ``expires_at`` passed belongs to a run whose process died, and the next claimant marks
    that run failed (:mod:`learnsync.store.jobs`).
    """

    __tablename__ = "leases"

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("runs.id"))
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Worker(Base):
    """A live ``learnsync worker`` process, renewed by its heartbeat (``seen_at``)."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Role(Base):
    """A fleet-wide role (``scheduler``) held by one process at a time: a lease like
    :class:`Lease`, taken over by a standby once ``expires_at`` passed."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


INTENT_ACTIONS = ("upsert", "archive", "restore", "import")


class Intent(Base):
    """What a run is about to ask 360Learning to do, stored before it asks (write-ahead).

    Deleted when the run recorded the outcome; one a killed run left is reconciled by the next
    run before it plans (:mod:`learnsync.store.intents`). ``run_id`` has no foreign key: run
    history may be pruned while an intent waits.
    """

    __tablename__ = "intents"
    __table_args__ = (
        CheckConstraint(_one_of("action", INTENT_ACTIONS), name="action"),
        Index("ix_intents_integration_id", "integration_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    run_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))
    operation_id: Mapped[str | None] = mapped_column(String(64))
    items: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


MAPPING_ACTIONS = ("map", "ignore")
MAPPING_ORIGINS = ("suggestion", "manual", "csv")


class LearnerMapping(Base):
    """The identity inbox's decision for one Coursera learner of an integration (0012): its
    statistics go to ``threesixty_email`` (``map``), or are never sent (``ignore``). The
    casefolded 360Learning address is unique per integration: one user, one Coursera learner."""

    __tablename__ = "learner_mappings"
    __table_args__ = (
        CheckConstraint(_one_of("action", MAPPING_ACTIONS), name="action"),
        CheckConstraint(_one_of("origin", MAPPING_ORIGINS), name="origin"),
        CheckConstraint("(action = 'map') = (threesixty_key IS NOT NULL)", name="target"),
        UniqueConstraint("integration_id", "threesixty_key"),
    )

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    coursera_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    coursera_learner: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(8))
    threesixty_email: Mapped[str | None] = mapped_column(String(320))
    threesixty_key: Mapped[str | None] = mapped_column(String(320))
    origin: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

"""The service's tables: admin users and sessions, schedules (migration ``0002``); the sign-in
throttle and the audit log (``0010``).

An integration's settings and encrypted secrets live on its ``integrations`` row
(:class:`~learnsync.store.models.Integration`, migration ``0004``).

They live on the store's :class:`~learnsync.store.models.Base` so one metadata describes the whole
schema. Sessions are stored by the SHA-256 of their cookie value, so
a copy of the database does not let anyone log in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false

from learnsync.store.db import UtcDateTime
from learnsync.store.models import Base, BigId

SCHEDULE_KINDS = ("content", "stats")
SETUP_STATUSES = ("new", "ok", "error")  # integrations.setup_status


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # a disabled administrator cannot sign in and has no session (0010)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class AdminSession(Base):
    """``expires_at``: the absolute end (created + lifetime); ``last_seen_at`` (0010): the last
    request, for the idle timeout. Both are checked on every request."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Sign-in attempts since the last success, per account and per client address (0010).

    ``key`` is the SHA-256 of ``user`` or ``addr`` and the name or address (a password typed
    into the name field is not kept in clear); rows are forgotten a day after their last
    attempt. Kept in the store so every ``serve`` process shares one count."""

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_last_attempt_at", "last_attempt_at"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who did what, when, to which integration (0010). ``detail`` is a short printable line,
    never a secret; ``integration_id`` is no foreign key: the entry outlives what it names."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_integration_id", "integration_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    integration_id: Mapped[int | None] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500), default="")


class Schedule(Base):
    """A daily run of one pipeline at a wall-clock time in a time zone.

    The defaults: docs/sync-rules.md#schedule.
    """

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint(_one_of("kind", SCHEDULE_KINDS), name="kind"),)

    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    time_of_day: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_slot_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last slot started

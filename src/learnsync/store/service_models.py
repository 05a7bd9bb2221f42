"""The service's tables (migrations ``0002``, ``0003``): admin users and sessions, integration
settings with encrypted secrets, schedules and run locks.

They live on the store's :class:`~learnsync.store.models.Base` so one metadata describes the whole
schema. Secrets are never stored in clear: the ``*_enc`` columns hold Fernet tokens
(:mod:`learnsync.service.secrets`). Sessions are stored by the SHA-256 of their cookie value, so
a copy of the database does not let anyone log in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from learnsync.store.db import UtcDateTime
from learnsync.store.models import Base, Json

SCHEDULE_KINDS = ("content", "stats")
SETUP_STATUSES = ("new", "ok", "error")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AdminSession(Base):
    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ServiceIntegration(Base):
    """One integration as the administrator configured it; secrets encrypted.

    What an integration is: docs/sync-rules.md#the-360learning-integration.
    """

    __tablename__ = "service_integrations"
    __table_args__ = (
        CheckConstraint(_one_of("setup_status", SETUP_STATUSES), name="setup_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(255), unique=True)
    coursera_org_id: Mapped[str] = mapped_column(String(255))
    coursera_client_id: Mapped[str] = mapped_column(String(255))
    coursera_client_secret_enc: Mapped[str | None] = mapped_column(Text)
    coursera_refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    coursera_api_base: Mapped[str] = mapped_column(String(255))
    coursera_token_url: Mapped[str] = mapped_column(String(255))
    coursera_program_id: Mapped[str] = mapped_column(String(255))
    coursera_auth: Mapped[str] = mapped_column(String(32))
    threesixty_base_url: Mapped[str] = mapped_column(String(255))
    threesixty_client_id: Mapped[str] = mapped_column(String(255))
    threesixty_client_secret_enc: Mapped[str | None] = mapped_column(Text)
    group_id: Mapped[str] = mapped_column(String(64))
    author_id: Mapped[str] = mapped_column(String(64))
    integration_name: Mapped[str] = mapped_column(String(255))
    archive_removed: Mapped[bool] = mapped_column(Boolean, default=False)
    content_type_overrides: Mapped[dict[str, str]] = mapped_column(Json, default=dict)
    setup_status: Mapped[str] = mapped_column(String(16))
    setup_message: Mapped[str | None] = mapped_column(Text)
    setup_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # last successful Coursera token refresh, or when the refresh token was stored (0003)
    coursera_token_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Schedule(Base):
    """A daily run of one pipeline at a wall-clock time in a time zone.

    The defaults: docs/sync-rules.md#schedule.
    """

    __tablename__ = "schedules"
    __table_args__ = (CheckConstraint(_one_of("kind", SCHEDULE_KINDS), name="kind"),)

    integration_id: Mapped[int] = mapped_column(
        ForeignKey("service_integrations.id"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    time_of_day: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_slot_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last slot started


class RunLock(Base):
    """At most one run per integration at a time, across processes (a row is the lock)."""

    __tablename__ = "run_locks"

    integration_id: Mapped[int] = mapped_column(
        ForeignKey("service_integrations.id"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

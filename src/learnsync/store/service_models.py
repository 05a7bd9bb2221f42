"""The service's tables (migration ``0002``): admin users and sessions, schedules and run locks.

An integration's settings and encrypted secrets live on its ``integrations`` row
(:class:`~learnsync.store.models.Integration`, migration ``0004``).

They live on the store's :class:`~learnsync.store.models.Base` so one metadata describes the whole
schema. Sessions are stored by the SHA-256 of their cookie value, so
a copy of the database does not let anyone log in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from learnsync.store.db import UtcDateTime
from learnsync.store.models import Base

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


class AdminSession(Base):
    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


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

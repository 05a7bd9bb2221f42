"""Admin accounts hardened, and an audit log.

- ``admin_users.disabled``: a disabled administrator cannot sign in (existing ones: enabled).
- ``admin_sessions.last_seen_at``: the session's last request, for the idle timeout (existing
  sessions: their creation time, so one idle longer than the timeout ends at once).
- ``login_throttle``: sign-in attempts since the last success per account and per client address
  (the SHA-256 of either, never the name in clear), with the lock they earned; shared by every
  process that serves the web app.
- ``audit_log``: who did what, when, to which integration, with a short detail (never a secret).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("admin_sessions") as batch:
        batch.add_column(_ts("last_seen_at", nullable=True))
    sessions = sa.table(
        "admin_sessions",
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("last_seen_at", sa.DateTime(timezone=True)),
    )
    op.execute(sessions.update().values(last_seen_at=sessions.c.created_at))
    with op.batch_alter_table("admin_sessions") as batch:
        batch.alter_column("last_seen_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("last_attempt_at"),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
    )
    op.create_index("ix_login_throttle_last_attempt_at", "login_throttle", ["last_attempt_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_integration_id", "audit_log", ["integration_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_integration_id", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_login_throttle_last_attempt_at", "login_throttle")
    op.drop_table("login_throttle")
    with op.batch_alter_table("admin_sessions") as batch:
        batch.drop_column("last_seen_at")
    with op.batch_alter_table("admin_users") as batch:
        batch.drop_column("disabled")

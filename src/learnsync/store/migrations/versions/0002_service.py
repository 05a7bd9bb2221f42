"""Service tables: admin users and sessions, integration settings (encrypted secrets),
schedules, run locks.

Revision ID: 0002
Revises: 0001
Create Date: 2024-11-28

Written by hand and frozen, like 0001: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password_hash", sa.String(512), nullable=False),
        _ts("created_at"),
        _ts("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_users"),
        sa.UniqueConstraint("username", name="uq_admin_users_username"),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_admin_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["admin_users.id"], name="fk_admin_sessions_user_id_admin_users"
        ),
    )
    op.create_table(
        "service_integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("coursera_org_id", sa.String(255), nullable=False),
        sa.Column("coursera_client_id", sa.String(255), nullable=False),
        sa.Column("coursera_client_secret_enc", sa.Text(), nullable=True),
        sa.Column("coursera_refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("coursera_api_base", sa.String(255), nullable=False),
        sa.Column("coursera_token_url", sa.String(255), nullable=False),
        sa.Column("coursera_program_id", sa.String(255), nullable=False),
        sa.Column("coursera_auth", sa.String(32), nullable=False),
        sa.Column("threesixty_base_url", sa.String(255), nullable=False),
        sa.Column("threesixty_client_id", sa.String(255), nullable=False),
        sa.Column("threesixty_client_secret_enc", sa.Text(), nullable=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("integration_name", sa.String(255), nullable=False),
        sa.Column("archive_removed", sa.Boolean(), nullable=False),
        sa.Column("content_type_overrides", Json, nullable=False),
        sa.Column("setup_status", sa.String(16), nullable=False),
        sa.Column("setup_message", sa.Text(), nullable=True),
        _ts("setup_checked_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_service_integrations"),
        sa.UniqueConstraint("label", name="uq_service_integrations_label"),
        sa.CheckConstraint(
            _one_of("setup_status", ("new", "ok", "error")),
            name="ck_service_integrations_setup_status",
        ),
    )
    op.create_table(
        "schedules",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time_of_day", sa.String(5), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _ts("last_slot_at", nullable=True),
        sa.PrimaryKeyConstraint("integration_id", "kind", name="pk_schedules"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["service_integrations.id"],
            name="fk_schedules_integration_id_service_integrations",
        ),
        sa.CheckConstraint(_one_of("kind", ("content", "stats")), name="ck_schedules_kind"),
    )
    op.create_table(
        "run_locks",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("acquired_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("integration_id", name="pk_run_locks"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["service_integrations.id"],
            name="fk_run_locks_integration_id_service_integrations",
        ),
    )


def downgrade() -> None:
    op.drop_table("run_locks")
    op.drop_table("schedules")
    op.drop_table("service_integrations")
    op.drop_table("admin_sessions")
    op.drop_table("admin_users")

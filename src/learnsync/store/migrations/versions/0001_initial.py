"""Initial schema: integrations, content_items, stat_items, runs, run_items.

Revision ID: 0001
Revises:
Create Date: 2024-11-27

Written by hand and frozen: it does not import the models, so later model changes never
change what this revision creates. Secrets and schedules arrive in a later revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("org_id", sa.String(255), nullable=False),
        sa.Column("base_url", sa.String(255), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("integration_name", sa.String(255), nullable=False),
        sa.Column("remote_integration_id", sa.String(64), nullable=True),
        sa.Column("languages", Json, nullable=False),
        sa.Column("content_types", Json, nullable=False),
        sa.Column("content_type_overrides", Json, nullable=False),
        sa.Column("archive_removed", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        sa.UniqueConstraint("key", name="uq_integrations_key"),
    )
    op.create_table(
        "content_items",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("course_id", sa.String(64), nullable=True),
        sa.Column("sent_hash", sa.String(128), nullable=True),
        sa.Column("payload", Json, nullable=True),
        sa.Column("language_code", sa.String(64), nullable=True),
        sa.Column("content_type", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("in_catalog", sa.Boolean(), nullable=False),
        sa.Column("skip_reason", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("first_seen_at"),
        _ts("last_seen_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("integration_id", "external_id", name="pk_content_items"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_content_items_integration_id_integrations",
        ),
        sa.CheckConstraint(
            _one_of(
                "state", ("active", "archived_filter", "archived_removed", "skipped", "failed")
            ),
            name="ck_content_items_state",
        ),
    )
    op.create_table(
        "stat_items",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("learner", sa.String(320), nullable=False),
        sa.Column("sent_hash", sa.BigInteger(), nullable=True),
        sa.Column("sent_completed", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("first_seen_at"),
        _ts("completed_seen_at", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("integration_id", "external_id", "learner", name="pk_stat_items"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_stat_items_integration_id_integrations",
        ),
        sa.CheckConstraint(
            _one_of("state", ("sent", "skipped", "failed")), name="ck_stat_items_state"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "runs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("report", Json, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integrations.id"], name="fk_runs_integration_id_integrations"
        ),
        sa.CheckConstraint(_one_of("kind", ("content", "stats", "filters")), name="ck_runs_kind"),
        sa.CheckConstraint(
            _one_of("status", ("running", "succeeded", "failed")), name="ck_runs_status"
        ),
    )
    op.create_index("ix_runs_integration_id_started_at", "runs", ["integration_id", "started_at"])
    op.create_table(
        "run_items",
        sa.Column("id", BigId, nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("learner", sa.String(320), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_items"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_items_run_id_runs"),
        sa.CheckConstraint(
            _one_of(
                "action",
                ("created", "updated", "archived", "restored", "skipped", "failed", "sent"),
            ),
            name="ck_run_items_action",
        ),
    )
    op.create_index("ix_run_items_run_id_external_id", "run_items", ["run_id", "external_id"])


def downgrade() -> None:
    op.drop_table("run_items")
    op.drop_table("runs")
    op.drop_table("stat_items")
    op.drop_table("content_items")
    op.drop_table("integrations")

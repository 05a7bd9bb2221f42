"""Runs on a fleet: attempts, the worker that ran them, live workers, one scheduler.

- ``runs.attempts``: how many times the run was started; ``runs.max_attempts``: how many starts
  it is allowed — a run whose process died (its lease expired) is queued again while
  ``attempts < max_attempts`` and otherwise fails as a poison run (existing runs: 0 and 1, so
  nothing already recorded is retried). ``runs.worker``: the lease owner that executed the last
  attempt (``host:pid:…``), which the run page shows.
- ``workers``: one row per live ``learnsync worker`` process, renewed by its heartbeat
  (``seen_at``); what ``/metrics`` and the Integrations page count as workers alive.
- ``roles``: a lease per fleet-wide role (``scheduler``): the one process holding it acts, the
  others stand by and take it over once it expired.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("worker", sa.String(128), nullable=True))
    op.create_table(
        "workers",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(255), nullable=False),
        _ts("started_at"),
        _ts("seen_at"),
        sa.PrimaryKeyConstraint("name", name="pk_workers"),
    )
    op.create_table(
        "roles",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        _ts("acquired_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("name", name="pk_roles"),
    )


def downgrade() -> None:
    op.drop_table("roles")
    op.drop_table("workers")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("worker")
        batch.drop_column("max_attempts")
        batch.drop_column("attempts")

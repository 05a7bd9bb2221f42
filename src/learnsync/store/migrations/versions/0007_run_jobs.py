"""The run is the job: run lifecycle columns and the integration lease (issue 9).

``runs`` gains the statuses ``queued``, ``partial`` and ``cancelled``, who asked for the run
(``trigger``), its live progress (``stage``, ``done``, ``total``), its ``heartbeat_at`` and a
``cancel_requested`` flag; ``leases`` holds at most one writing run per integration.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = ("queued", "running", "succeeded", "partial", "failed", "cancelled")
OLD_STATUSES = ("running", "succeeded", "failed")
TRIGGERS = ("cli", "manual", "schedule", "filters")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


# constraint names go through the environment's naming convention, as in 0001 (which is how
# the existing CHECK constraints got their names)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=False, server_default="cli"))
        batch.add_column(_ts("queued_at", nullable=True))
        batch.add_column(sa.Column("stage", sa.String(64), nullable=True))
        batch.add_column(sa.Column("done", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("total", sa.BigInteger(), nullable=True))
        batch.add_column(_ts("heartbeat_at", nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.drop_constraint("ck_runs_status", type_="check")
        batch.create_check_constraint("ck_runs_status", _one_of("status", STATUSES))
        batch.create_check_constraint("ck_runs_trigger", _one_of("trigger", TRIGGERS))
        batch.create_index("ix_runs_status_id", ["status", "id"])
    op.create_table(
        "leases",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("run_id", BigId, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        _ts("acquired_at"),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("integration_id", name="pk_leases"),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integrations.id"], name="fk_leases_integration_id_integrations"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_leases_run_id_runs"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    runs = sa.table("runs", sa.column("status", sa.String))
    op.execute(runs.update().where(runs.c.status == "queued").values(status="failed"))
    op.execute(runs.update().where(runs.c.status == "cancelled").values(status="failed"))
    op.execute(runs.update().where(runs.c.status == "partial").values(status="succeeded"))
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_status_id")
        batch.drop_constraint("ck_runs_trigger", type_="check")
        batch.drop_constraint("ck_runs_status", type_="check")
        batch.create_check_constraint("ck_runs_status", _one_of("status", OLD_STATUSES))
        for name in ("cancel_requested", "heartbeat_at", "total", "done", "stage", "queued_at"):
            batch.drop_column(name)
        batch.drop_column("trigger")

"""Runs carry their arguments; the old run lock goes.

``runs.params`` holds what a submitted run is asked to do beyond its kind — the filters a
``filters`` run applies — so the web request that submits it returns at once and the run that
executes it later, in whichever process, reads them from its row. ``run_locks`` (the service's
lock of release 0003, replaced by ``leases`` in 0007) is dropped: nothing reads it any more, and
a row left in it by a killed process means nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("params", Json, nullable=True))
    op.drop_table("run_locks")


def downgrade() -> None:
    op.create_table(
        "run_locks",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration_id", name="pk_run_locks"),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integrations.id"], name="fk_run_locks_integration_id_integrations"
        ),
    )
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("params")

"""Write-ahead intents: what a run is about to ask 360Learning to do, stored before it asks.

One row per bulk operation or per batch of course archive changes a run is about to send
(``action``: ``upsert``, ``archive``, ``restore``, ``import``), with its items' keys and, once
360Learning gave it, the operation id. A run deletes the row when it recorded the outcome; a row
left by a killed run is what the next run reconciles first (``learnsync.store.intents``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
ACTIONS = ("upsert", "archive", "restore", "import")


def upgrade() -> None:
    op.create_table(
        "intents",
        sa.Column("id", BigId, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("operation_id", sa.String(64), nullable=True),
        sa.Column("items", Json, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_intents"),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["integrations.id"], name="fk_intents_integration_id_integrations"
        ),
        sa.CheckConstraint(
            f"action IN ({', '.join(repr(a) for a in ACTIONS)})", name="ck_intents_action"
        ),
    )
    op.create_index("ix_intents_integration_id", "intents", ["integration_id"])


def downgrade() -> None:
    op.drop_index("ix_intents_integration_id", "intents")
    op.drop_table("intents")

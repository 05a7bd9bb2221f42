"""The identity inbox's decisions (issue 13): a Coursera learner mapped onto a 360Learning user,
or ignored.

``learner_mappings``: one row per (integration, Coursera learner). ``coursera_key`` is the
Coursera e-mail casefolded (what identifies the learner), ``coursera_learner`` the address as
Coursera gave it; ``action`` ``map`` (its statistics go to ``threesixty_email``) or ``ignore``
(never sent, not listed); ``threesixty_key`` (the 360Learning address casefolded, null for an
ignored learner) is unique per integration, so two Coursera learners can never land on one
360Learning user. ``origin``: suggestion, manual or csv; ``created_by``: who decided.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learner_mappings",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("coursera_key", sa.String(320), nullable=False),
        sa.Column("coursera_learner", sa.String(320), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("threesixty_email", sa.String(320), nullable=True),
        sa.Column("threesixty_key", sa.String(320), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('map', 'ignore')", name="ck_learner_mappings_action"),
        sa.CheckConstraint(
            "origin IN ('suggestion', 'manual', 'csv')", name="ck_learner_mappings_origin"
        ),
        sa.CheckConstraint(
            "(action = 'map') = (threesixty_key IS NOT NULL)",
            name="ck_learner_mappings_target",
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_learner_mappings_integration_id_integrations",
        ),
        sa.PrimaryKeyConstraint("integration_id", "coursera_key", name="pk_learner_mappings"),
        sa.UniqueConstraint(
            "integration_id", "threesixty_key", name="uq_learner_mappings_integration_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("learner_mappings")

"""Service: when each integration's Coursera refresh token was last used (or issued).

Coursera refresh tokens lapse after 14 days without use; the service warns after 10
(issue 5), so it must remember the last successful token refresh per integration.

Revision ID: 0003
Revises: 0002
Create Date: 2024-12-02

Written by hand and frozen, like 0001 and 0002: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_integrations") as batch:
        batch.add_column(
            sa.Column("coursera_token_used_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("service_integrations") as batch:
        batch.drop_column("coursera_token_used_at")

"""One integration, one stable id: ``service_integrations`` merged into ``integrations`` (issue 9).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # being written (issue 9)


def downgrade() -> None:
    pass

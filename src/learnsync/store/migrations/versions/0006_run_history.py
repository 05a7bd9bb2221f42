"""Bounded run history: summary columns on ``runs`` (issue 9).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # being written (issue 9)


def downgrade() -> None:
    pass

"""Explicit statistics state: the ``sync_state`` bookmarks and the ``stat_items`` columns the diff needs (issue 9).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # being written (issue 9)


def downgrade() -> None:
    pass

"""Bounded run history: summary columns on ``runs`` (issue 9).

``runs`` gains one nullable count column per report count (``created_count`` … ``sent_count``)
and per report list (``skipped_count``, ``failed_count``, ``warnings_count``: the list's full
length), so the run lists and ``/metrics`` never read a report. Existing runs are backfilled from
their reports, and each stored report is cut to its first 100 items per list with the full
lengths kept in ``totals`` (the bounded report of ``learnsync.store.history``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# frozen copies of learnsync.store.history (a revision never imports the package's code)
SAMPLE = 100
COUNT_KEYS = ("created", "updated", "unchanged", "archived", "restored", "sent")
LIST_KEYS = ("skipped", "failed", "warnings")
COLUMNS = tuple(f"{key}_count" for key in (*COUNT_KEYS, *LIST_KEYS))


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
    _backfill()


def _backfill() -> None:
    """Counts from each stored report, and the report bounded; one run at a time (a report of
    a large organization is tens of megabytes)."""
    runs = sa.table(
        "runs",
        sa.column("id", sa.BigInteger()),
        sa.column("report", Json),
        *(sa.column(name, sa.BigInteger()) for name in COLUMNS),
    )
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.select(runs.c.id).where(runs.c.report.isnot(None)))]
    for run_id in ids:
        report = conn.execute(sa.select(runs.c.report).where(runs.c.id == run_id)).scalar()
        if not isinstance(report, dict):
            continue
        values: dict[str, Any] = {}
        for key in COUNT_KEYS:
            value = report.get(key)
            ok = isinstance(value, int) and not isinstance(value, bool)
            values[f"{key}_count"] = value if ok else None
        bounded = dict(report)
        totals: dict[str, int] = {}
        for key in LIST_KEYS:
            items = report.get(key)
            if isinstance(items, list):
                totals[key] = len(items)
                bounded[key] = items[:SAMPLE]
            values[f"{key}_count"] = totals.get(key)
        if totals:
            bounded["totals"] = totals
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(report=bounded, **values))


def downgrade() -> None:
    # the cut reports stay cut: the items beyond the sample are gone
    with op.batch_alter_table("runs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)

"""Explicit statistics state: ``sync_state`` bookmarks, the ``stat_items`` columns (issue 9).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.

- ``stat_items``: ``sent_rank`` (the coarse rank of the accepted item, until now the high bits of
  ``sent_hash``), ``retry_item`` (the mapped values of an item sent but not accepted), and a
  partial index of the pairs not ``sent``. Existing rows are converted: the bit-packed
  ``sent_hash`` (rank above a 23-bit payload hash, layout ``rank40-hash23``) is split into
  ``sent_rank`` and ``sent_hash`` (the 23-bit hash, which the statistics diff still recognizes
  until the item is sent again).
- ``sync_state``: per integration and stream, the bookmarks derived from the newest successful
  statistics run's report (``read`` section) and the content runs since, so the next run of an
  upgraded store is as incremental as it would have been.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FP_BITS = 23
_LEGACY_FORMAT = "rank40-hash23"
_FORMAT = "rank40+hash64"  # learnsync.diff.stats.HASH_FORMAT when this revision was written
_HISTORY = 100  # runs looked at, as the statistics run did before this revision


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("stat_items") as batch:
        batch.add_column(sa.Column("sent_rank", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("retry_item", sa.String(128), nullable=True))
    op.execute(
        f"UPDATE stat_items SET sent_rank = sent_hash / {1 << _FP_BITS}, "
        f"sent_hash = sent_hash % {1 << _FP_BITS} WHERE sent_hash IS NOT NULL"
    )
    op.create_index(
        "ix_stat_items_open",
        "stat_items",
        ["integration_id", "state"],
        sqlite_where=sa.text("state != 'sent'"),
        postgresql_where=sa.text("state != 'sent'"),
    )
    op.create_table(
        "sync_state",
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(32), nullable=False),
        _ts("last_read_at", nullable=True),
        _ts("watermark", nullable=True),
        _ts("last_full_read_at", nullable=True),
        sa.Column("format_version", sa.String(64), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("integration_id", "stream", name="pk_sync_state"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_sync_state_integration_id_integrations",
        ),
    )
    _derive_bookmarks()


def _derive_bookmarks() -> None:
    """One ``stats`` row (and a ``content`` row when due) per integration with a successful
    statistics run, from the runs' reports as the statistics run used to read them."""
    conn = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer()),
        sa.column("integration_id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("dry_run", sa.Boolean()),
        sa.column("status", sa.String()),
        sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("report", sa.JSON()),
    )
    items = sa.table(
        "run_items", sa.column("run_id", sa.Integer()), sa.column("action", sa.String())
    )
    state = sa.table(
        "sync_state",
        sa.column("integration_id", sa.Integer()),
        sa.column("stream", sa.String()),
        sa.column("last_read_at", sa.DateTime(timezone=True)),
        sa.column("watermark", sa.DateTime(timezone=True)),
        sa.column("last_full_read_at", sa.DateTime(timezone=True)),
        sa.column("format_version", sa.String()),
        sa.column("run_id", sa.Integer()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    ids = conn.execute(
        sa.select(runs.c.integration_id).where(runs.c.kind == "stats").distinct()
    ).scalars()
    for integration_id in list(ids):
        done = conn.execute(
            sa.select(runs.c.id, runs.c.started_at, runs.c.report)
            .where(
                runs.c.integration_id == integration_id,
                runs.c.kind == "stats",
                runs.c.status == "succeeded",
                runs.c.dry_run.is_(False),
            )
            .order_by(runs.c.started_at.desc(), runs.c.id.desc())
            .limit(_HISTORY)
        ).all()
        if not done:
            continue
        last_id, last_started, last_report = done[0]
        report: dict[str, Any] = last_report or {}
        read: dict[str, Any] = report.get("read") or {}
        same_layout = read.get("hashFormat") == _LEGACY_FORMAT
        # rejected items of old runs have no stored values to be re-sent from: read them again
        incremental_ok = same_layout and read.get("complete", True) and not report.get("failed")
        full = next((started for _id, started, rep in done if _mode(rep) == "full"), None)
        now = datetime.now(UTC)
        conn.execute(
            state.insert().values(
                integration_id=integration_id,
                stream="stats",
                last_read_at=last_started,
                watermark=last_started if incremental_ok else None,
                last_full_read_at=full,
                format_version=_FORMAT if same_layout else None,
                run_id=last_id,
                updated_at=now,
            )
        )
        content = conn.execute(
            sa.select(sa.func.max(runs.c.started_at))
            .select_from(runs.join(items, items.c.run_id == runs.c.id))
            .where(
                runs.c.integration_id == integration_id,
                runs.c.kind.in_(("content", "filters")),
                runs.c.dry_run.is_(False),
                runs.c.started_at >= last_started,
                runs.c.id != last_id,
                items.c.action.in_(("created", "restored")),
            )
        ).scalar()
        if content is not None:
            conn.execute(
                state.insert().values(
                    integration_id=integration_id,
                    stream="content",
                    watermark=content,
                    updated_at=now,
                )
            )


def _mode(report: dict[str, Any] | None) -> str | None:
    mode = ((report or {}).get("read") or {}).get("mode")
    return mode if isinstance(mode, str) else None


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_index("ix_stat_items_open", table_name="stat_items")
    op.execute(
        f"UPDATE stat_items SET sent_hash = sent_rank * {1 << _FP_BITS} "
        f"+ ((sent_hash % {1 << _FP_BITS}) + {1 << _FP_BITS}) % {1 << _FP_BITS} "
        "WHERE sent_hash IS NOT NULL AND sent_rank IS NOT NULL"
    )
    with op.batch_alter_table("stat_items") as batch:
        batch.drop_column("retry_item")
        batch.drop_column("sent_rank")

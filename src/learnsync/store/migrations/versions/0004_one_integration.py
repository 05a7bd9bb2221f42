"""One integration, one stable id: ``service_integrations`` merged into ``integrations`` (issue 9).

Every column of ``service_integrations`` moves into ``integrations`` (its Coursera org and
360Learning base URL into the existing ``org_id`` and ``base_url``); each service row is copied
into the ``integrations`` row of the same key (``base_url|group_id|integration_name``, as
:func:`learnsync.config.integration_key` builds it), created when missing; ``schedules`` and
``run_locks`` are repointed to ``integrations.id``; ``service_integrations`` is dropped.

On SQLite ``integrations`` is only ALTERed (columns added, a unique index), never recreated:
the upgrade runs with foreign keys on, and recreating a parent table would trip them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Written by hand and frozen, like the earlier revisions: it does not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# the service's columns that ``integrations`` lacked: (name, type, NOT NULL default or None)
NEW_COLUMNS: list[tuple[str, Any, str | None]] = [
    ("label", sa.String(255), None),
    ("coursera_client_id", sa.String(255), ""),
    ("coursera_client_secret_enc", sa.Text(), None),
    ("coursera_refresh_token_enc", sa.Text(), None),
    ("coursera_api_base", sa.String(255), ""),
    ("coursera_token_url", sa.String(255), ""),
    ("coursera_program_id", sa.String(255), ""),
    ("coursera_auth", sa.String(32), "refresh_token"),
    ("threesixty_client_id", sa.String(255), ""),
    ("threesixty_client_secret_enc", sa.Text(), None),
    ("setup_status", sa.String(16), "new"),
    ("setup_message", sa.Text(), None),
    ("setup_checked_at", sa.DateTime(timezone=True), None),
    ("coursera_token_used_at", sa.DateTime(timezone=True), None),
]
# service column → integrations column, where the two tables had the same fact
RENAMED = {"coursera_org_id": "org_id", "threesixty_base_url": "base_url"}
SHARED = ("group_id", "author_id", "integration_name", "archive_removed")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _key(base_url: str, group_id: str, integration_name: str) -> str:
    # frozen copy of learnsync.config.integration_key
    return f"{base_url.rstrip('/')}|{group_id}|{integration_name}"


def _integrations() -> sa.TableClause:
    columns: list[sa.ColumnClause[Any]] = [
        sa.column("id", sa.Integer()),
        sa.column("key", sa.String()),
        sa.column("name", sa.String()),
        sa.column("org_id", sa.String()),
        sa.column("base_url", sa.String()),
        sa.column("group_id", sa.String()),
        sa.column("author_id", sa.String()),
        sa.column("integration_name", sa.String()),
        sa.column("remote_integration_id", sa.String()),
        sa.column("languages", Json),
        sa.column("content_types", Json),
        sa.column("content_type_overrides", Json),
        sa.column("archive_removed", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    ]
    columns += [sa.column(name, kind) for name, kind, _ in NEW_COLUMNS]
    return sa.table("integrations", *columns)


def _service_integrations() -> sa.Table:
    return sa.Table(
        "service_integrations",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("coursera_org_id", sa.String(255), nullable=False),
        sa.Column("coursera_client_id", sa.String(255), nullable=False),
        sa.Column("coursera_client_secret_enc", sa.Text(), nullable=True),
        sa.Column("coursera_refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("coursera_api_base", sa.String(255), nullable=False),
        sa.Column("coursera_token_url", sa.String(255), nullable=False),
        sa.Column("coursera_program_id", sa.String(255), nullable=False),
        sa.Column("coursera_auth", sa.String(32), nullable=False),
        sa.Column("threesixty_base_url", sa.String(255), nullable=False),
        sa.Column("threesixty_client_id", sa.String(255), nullable=False),
        sa.Column("threesixty_client_secret_enc", sa.Text(), nullable=True),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("author_id", sa.String(64), nullable=False),
        sa.Column("integration_name", sa.String(255), nullable=False),
        sa.Column("archive_removed", sa.Boolean(), nullable=False),
        sa.Column("content_type_overrides", Json, nullable=False),
        sa.Column("setup_status", sa.String(16), nullable=False),
        sa.Column("setup_message", sa.Text(), nullable=True),
        _ts("setup_checked_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("coursera_token_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_service_integrations"),
        sa.UniqueConstraint("label", name="uq_service_integrations_label"),
        sa.CheckConstraint(
            "setup_status IN ('new', 'ok', 'error')", name="ck_service_integrations_setup_status"
        ),
    )


def _children() -> dict[str, sa.TableClause]:
    return {
        "schedules": sa.table(
            "schedules",
            sa.column("integration_id", sa.Integer()),
            sa.column("kind", sa.String()),
            sa.column("time_of_day", sa.String()),
            sa.column("timezone", sa.String()),
            sa.column("enabled", sa.Boolean()),
            sa.column("last_slot_at", sa.DateTime(timezone=True)),
        ),
        "run_locks": sa.table(
            "run_locks",
            sa.column("integration_id", sa.Integer()),
            sa.column("owner", sa.String()),
            sa.column("kind", sa.String()),
            sa.column("acquired_at", sa.DateTime(timezone=True)),
            sa.column("expires_at", sa.DateTime(timezone=True)),
        ),
    }


def _repoint(mapping: dict[int, int], old_parent: str, new_parent: str) -> None:
    """Rebuild the foreign keys of ``schedules`` and ``run_locks`` on ``new_parent``, their
    ``integration_id`` mapped through ``mapping`` (rows read first, written back after)."""
    conn = op.get_bind()
    for name, child in _children().items():
        rows = [dict(r._mapping) for r in conn.execute(sa.select(child))]
        conn.execute(sa.delete(child))
        with op.batch_alter_table(name) as batch:
            batch.drop_constraint(f"fk_{name}_integration_id_{old_parent}", type_="foreignkey")
            batch.create_foreign_key(
                f"fk_{name}_integration_id_{new_parent}", new_parent, ["integration_id"], ["id"]
            )
        moved = [{**r, "integration_id": mapping[r["integration_id"]]} for r in rows]
        if moved:
            conn.execute(sa.insert(child), moved)


def upgrade() -> None:
    for name, kind, default in NEW_COLUMNS:
        op.add_column(
            "integrations",
            sa.Column(name, kind, nullable=default is None, server_default=default),
        )
    # several integrations without a label (config-file runs only): NULLs never collide
    op.create_index("ix_integrations_label", "integrations", ["label"], unique=True)

    conn = op.get_bind()
    integrations, service = _integrations(), _service_integrations()
    ids: dict[int, int] = {}
    for row in conn.execute(sa.select(service).order_by(service.c.id)).mappings():
        key = _key(row["threesixty_base_url"], row["group_id"], row["integration_name"])
        values: dict[str, Any] = {name: row[name] for name, _, _ in NEW_COLUMNS}
        values.update({new: row[old] for old, new in RENAMED.items()})
        values.update({name: row[name] for name in SHARED})
        values["base_url"] = row["threesixty_base_url"].rstrip("/")
        found = conn.execute(
            sa.select(integrations.c.id, integrations.c.content_type_overrides).where(
                integrations.c.key == key
            )
        ).one_or_none()
        overrides = row["content_type_overrides"] or {}
        if found is not None:
            # the service row's overrides were always saved empty: keep the run's when so
            values["content_type_overrides"] = overrides or found.content_type_overrides or {}
            values["updated_at"] = row["updated_at"]
            conn.execute(
                sa.update(integrations).where(integrations.c.id == found.id).values(**values)
            )
            ids[row["id"]] = found.id
        else:
            result = conn.execute(
                sa.insert(integrations)
                .values(
                    **values,
                    key=key,
                    name=row["integration_name"],
                    remote_integration_id=None,
                    languages=[],
                    content_types=[],
                    content_type_overrides=overrides,
                    created_at=row["created_at"],
                    updated_at=row["updated_at"],
                )
                .returning(integrations.c.id)
            )
            ids[row["id"]] = result.scalar_one()
    _repoint(ids, "service_integrations", "integrations")
    op.drop_table("service_integrations")


def downgrade() -> None:
    """Development only: the labelled integrations back into ``service_integrations`` (same
    ids); the added columns of ``integrations`` are dropped."""
    conn = op.get_bind()
    service = _service_integrations()
    service.create(conn)
    integrations = _integrations()
    ids: dict[int, int] = {}
    rows = conn.execute(sa.select(integrations).where(integrations.c.label.is_not(None))).mappings()
    for row in rows:
        values = {name: row[name] for name, _, _ in NEW_COLUMNS}
        values.update({old: row[new] for old, new in RENAMED.items()})
        values.update({name: row[name] for name in SHARED})
        values.update(
            id=row["id"],
            content_type_overrides=row["content_type_overrides"] or {},
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        conn.execute(sa.insert(service).values(**values))
        ids[row["id"]] = row["id"]
    children = _children()
    for name in children:  # rows of integrations without a label have no service row
        conn.execute(
            sa.delete(children[name]).where(
                children[name].c.integration_id.not_in(list(ids) or [-1])
            )
        )
    _repoint(ids, "integrations", "service_integrations")
    op.drop_index("ix_integrations_label", table_name="integrations")
    for name, _, _ in reversed(NEW_COLUMNS):
        op.drop_column("integrations", name)

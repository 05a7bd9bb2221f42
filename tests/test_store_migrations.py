"""Schema management: migrations on an empty database, reopen, models == migrations, URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from learnsync.store import ContentItemState, Store
from learnsync.store.db import alembic_config, normalize_url
from learnsync.store.models import all_metadata

TABLES = {"integrations", "content_items", "stat_items", "runs", "run_items", "alembic_version"}

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_open_creates_every_table_at_head(url: str) -> None:
    with Store.open(url) as store:
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD


def test_reopen_is_a_no_op(url: str) -> None:
    Store.open(url).close()
    with Store.open(url) as store, store.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v[0] for v in versions] == [HEAD]


def test_models_match_the_migrations(url: str) -> None:
    """A model change without a migration (or the reverse) fails here."""
    with Store.open(url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, all_metadata()) == []


def test_foreign_keys_are_enforced(url: str) -> None:
    with Store.open(url) as store, pytest.raises(IntegrityError):
        store.save_content_items(9999, [ContentItemState("Course~a", "active")])


def test_sqlite_default_is_a_wal_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open("sqlite:///learnsync.db") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (tmp_path / "learnsync.db").is_file()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///learnsync.db", "sqlite"),
    ],
)
def test_postgresql_urls_use_psycopg3(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver

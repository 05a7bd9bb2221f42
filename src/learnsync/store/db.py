"""Engines and schema upgrades: one place that knows SQLite from PostgreSQL.

Users give one SQLAlchemy URL. ``sqlite:///learnsync.db`` is a file in the working directory
(WAL journal, foreign keys on, a busy timeout so a scheduler and a CLI run can share it);
``postgresql://`` and ``postgresql+psycopg://`` use psycopg 3. The schema is upgraded to the
newest Alembic revision every time the store is opened, so nobody runs ``alembic`` by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# any constant: serialises concurrent schema upgrades of one PostgreSQL database
_PG_MIGRATION_LOCK = 0x6C73_796E_6300  # "lsync"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out; SQLite stores it naive (always UTC), PostgreSQL as ``timestamptz``.

    A naive datetime handed to the store is a bug in the caller (time is aware UTC inside
    learnsync), so it is refused instead of guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_datetime(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite dialect stores it (naive UTC, microseconds)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given to the store; use aware UTC")
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row a single-row ``INSERT`` just created."""
    key = result.inserted_primary_key
    if key is None:  # only for executemany or INSERT ... FROM SELECT, never here
        raise RuntimeError("the INSERT returned no primary key")
    return int(key[0])


def normalize_url(url: str | URL) -> URL:
    """Accept plain ``postgresql://`` (and ``postgres://``) URLs: they mean psycopg 3 here."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_store_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine configured for the store: SQLite pragmas, PostgreSQL pre-ping."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    event.listen(engine, "connect", _postgresql_on_connect)
    return engine


def _postgresql_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Sessions in UTC: psycopg then returns ``timezone.utc`` datetimes, nothing to convert."""
    dbapi_connection.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.commit()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if _sqlite_is_file(dbapi_connection):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: 1,000,000-row upserts stay in memory
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def _sqlite_is_file(dbapi_connection: Any) -> bool:
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    return any(row[1] == "main" and row[2] for row in rows)


def alembic_config() -> AlembicConfig:
    """The packaged migrations, configured in code (no ``alembic.ini`` needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it already is there.

    On PostgreSQL an advisory lock makes concurrent first starts (a scheduler and a CLI run)
    wait for each other instead of both creating the tables.
    """
    cfg = alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if current_revision(engine) == head:
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

"""Engines and schema upgrades: one place that knows SQLite from PostgreSQL.

Users give one SQLAlchemy URL. ``sqlite:///learnsync.db`` is a file in the working directory
(WAL journal, foreign keys on, a busy timeout so a scheduler and a CLI run can share it);
``postgresql://`` and ``postgresql+psycopg://`` use psycopg 3. The schema is upgraded to the
newest Alembic revision every time the store is opened, so nobody runs ``alembic`` by hand.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    CursorResult,
    DateTime,
    Engine,
    create_engine,
    event,
    inspect,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.engine import URL, Dialect, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.types import TypeDecorator

from learnsync.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# seconds a SQLite statement waits for another process's lock before failing
BUSY_TIMEOUT_S = 30

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
    """An engine configured for the store: SQLite pragmas, PostgreSQL pre-ping, and database
    failures turned into one-line :class:`StoreError` s (:func:`store_error`)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
    else:
        engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
        event.listen(engine, "connect", _postgresql_on_connect)
    event.listen(engine, "handle_error", _translate_error)
    return engine


def _translate_error(context: ExceptionContext) -> BaseException | None:
    if context.is_pre_ping or context.engine is None:
        return None  # the pool reconnects after a failed ping by itself
    error = context.sqlalchemy_exception
    if error is None:
        return None
    return store_error(error, context.engine.url, disconnect=context.is_disconnect)


_DISK_FULL = ("database or disk is full", "no space left on device", "could not extend file")
_READ_ONLY = ("readonly database", "read-only", "read only")
_LOCKED = ("database is locked", "database table is locked")
_UNREACHABLE = ("connect", "server closed", "timeout expired", "could not translate host")


def store_error(error: BaseException, url: URL, *, disconnect: bool = False) -> StoreError | None:
    """The one-line error saying what is wrong with the store and what to do, for a database
    failure the user must act on (unreachable, locked, read-only, full); ``None`` for the
    others (constraint violations and the like are bugs or handled by the caller). The SQL
    statement and SQLAlchemy's help link are left out; the password is hidden."""
    if not isinstance(error, DBAPIError):
        return None
    original = error.orig if error.orig is not None else error
    detail = (str(original).strip().splitlines() or [type(original).__name__])[0].strip()
    lowered = detail.lower()
    sqlite = url.get_backend_name() == "sqlite"
    where = (url.database or ":memory:") if sqlite else url.render_as_string(hide_password=True)
    if any(text_ in lowered for text_ in _DISK_FULL):
        return StoreError(
            f"the disk holding the store at {where} is full ({detail}); free some space "
            "and run again"
        )
    if any(text_ in lowered for text_ in _READ_ONLY):
        fix = (
            "make the file and its folder writable by this user"
            if sqlite
            else "use a database user and server that accept writes"
        )
        return StoreError(f"the store at {where} is read-only ({detail}); {fix}")
    if sqlite and any(text_ in lowered for text_ in _LOCKED):
        return StoreError(
            f"the store at {where} is locked by another process for more than "
            f"{BUSY_TIMEOUT_S} s ({detail}); wait for the other learnsync run to finish, or "
            "stop it, and run again"
        )
    if not isinstance(error, OperationalError | InterfaceError) and not disconnect:
        return None
    if sqlite:
        return StoreError(
            f"cannot use the store at {where} ({detail}); check that the file and its folder "
            "exist and are readable and writable by this user"
        )
    if disconnect or any(text_ in lowered for text_ in _UNREACHABLE):
        return StoreError(
            f"cannot reach the database at {where} ({detail}); check the [store] url and that "
            "the server is running and reachable"
        )
    return StoreError(
        f"the database at {where} failed ({detail}); run again, and if it persists check the "
        "database server"
    )


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
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
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

    The whole upgrade, ``alembic_version`` included, is one transaction (DDL is transactional
    on both databases), so a run killed in the middle leaves the store as it was. Concurrent
    first starts (a scheduler and a CLI run) wait for each other: on PostgreSQL behind an
    advisory lock, on SQLite behind ``BEGIN IMMEDIATE`` (the write lock, taken before the
    revision is read again). A store an older learnsync left half-created (its tables, no
    recorded revision) is recovered first (:func:`_recover_unversioned`).
    """
    cfg = alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    if current_revision(engine) == head:
        return
    with engine.connect() as conn, _upgrade_transaction(conn):
        if MigrationContext.configure(conn).get_current_revision() == head:
            return  # another process upgraded it while this one waited for the lock
        _recover_unversioned(conn, script)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _upgrade_transaction(conn: Connection) -> Iterator[None]:
    """One transaction holding the upgrade lock; committed at the end, else rolled back.

    Python's sqlite3 module (in its default mode, which SQLAlchemy keeps) opens transactions
    only before INSERT / UPDATE / DELETE and runs DDL in autocommit mode: every CREATE TABLE
    would be committed on its own. So for the upgrade the connection is switched to plain
    autocommit (``isolation_level = None``) and the transaction is begun here, explicitly.
    """
    if conn.dialect.name != "sqlite":
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
                )
            yield
        return
    # waits for a concurrent upgrade (busy timeout); foreign keys off while tables are rebuilt
    with _sqlite_immediate(conn, rebuilding=True):
        yield


@contextmanager
def _sqlite_immediate(conn: Connection, *, rebuilding: bool = False) -> Iterator[None]:
    """A SQLite transaction begun with ``BEGIN IMMEDIATE``: it holds the write lock from its
    first statement, so what it reads cannot change before it writes.

    ``rebuilding`` (schema upgrades): SQLite changes a constraint only by rebuilding the table
    (Alembic's batch mode: copy, drop, rename), and dropping a table other rows refer to fails
    with foreign keys on, even deferred. So, as SQLite's own procedure for table changes says,
    foreign keys are off for the transaction (the pragma is a no-op inside one, hence before
    ``BEGIN``), ``PRAGMA foreign_key_check`` must find nothing before the commit, and they are
    back on afterwards.
    """
    dbapi_connection = conn.connection.dbapi_connection
    saved = dbapi_connection.isolation_level  # type: ignore[union-attr]
    dbapi_connection.isolation_level = None  # type: ignore[union-attr]
    try:
        if rebuilding:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield
            if rebuilding:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
                if broken is not None:
                    raise StoreError(
                        f"the schema upgrade of the store at {engine_url(conn)} would leave "
                        f"rows of {broken[0]} pointing at missing rows of {broken[2]}; "
                        "nothing was changed — restore a backup or report this"
                    )
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    finally:
        if rebuilding:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        dbapi_connection.isolation_level = saved  # type: ignore[union-attr]


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction that no other process's write can interleave with.

    On SQLite it holds the write lock from the start (a deferred transaction that read first
    fails with "database is locked" when another process wrote meanwhile, instead of waiting);
    on PostgreSQL it is a plain transaction — its writes take row locks, and conflicting
    inserts wait for each other.
    """
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        with _sqlite_immediate(conn):
            yield conn


# a table as the recovery compares it: its column names and its ``ix_`` index names
_Schema = dict[str, tuple[frozenset[str], frozenset[str]]]


def _schema(conn: Connection, tables: Iterable[str] | None = None) -> _Schema:
    inspector = inspect(conn)
    names = set(inspector.get_table_names()) - {"alembic_version"}
    if tables is not None:
        names &= set(tables)
    return {
        name: (
            frozenset(c["name"] for c in inspector.get_columns(name)),
            frozenset(
                str(i["name"])
                for i in inspector.get_indexes(name)
                if str(i["name"]).startswith("ix_")
            ),
        )
        for name in names
    }


def _known_schemas(script: ScriptDirectory) -> list[tuple[str | None, _Schema]]:
    """The schema after each revision, base first (``None``: empty), built by running the
    migrations on an in-memory SQLite database."""
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            known: list[tuple[str | None, _Schema]] = [(None, {})]
            for revision in revisions:
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                known.append((revision, _schema(conn)))
            return known
    finally:
        engine.dispose()


def _recover_unversioned(conn: Connection, script: ScriptDirectory) -> None:
    """Make a store without a recorded revision but with learnsync's tables upgradable.

    Older versions could leave one behind (a first run killed while it created the tables, or
    two first runs at once): the tables of some revisions, maybe part of the next revision's
    tables, and ``alembic_version`` empty or missing. When the tables match a known revision
    exactly it is stamped with it; when they are a known revision plus some tables of the
    next one, all empty, those are dropped first. Anything else is refused with one line.
    """
    if MigrationContext.configure(conn).get_current_revision() is not None:
        return
    known = _known_schemas(script)
    ours = set().union(*(schema for _, schema in known))
    existing = _schema(conn, ours)
    if not existing:
        return  # a new store
    stamp: str | None = None
    for revision, schema in reversed(known):
        if schema == existing:
            stamp = revision
            break
    else:
        for (revision, schema), (_next, next_schema) in itertools.pairwise(known):
            extra = set(existing) - set(schema)
            complete = all(existing.get(name) == shape for name, shape in schema.items())
            if not complete or not extra <= set(next_schema) - set(schema):
                continue
            if any(
                conn.execute(select(literal(1)).select_from(table(name)).limit(1)).first()
                for name in extra
            ):
                continue
            cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
            quote = conn.dialect.identifier_preparer.quote
            for name in sorted(extra):
                conn.exec_driver_sql(f"DROP TABLE {quote(name)}{cascade}")
            stamp = revision
            break
        else:
            raise StoreError(
                f"the store at {engine_url(conn)} holds learnsync tables with no recorded "
                "schema version that match no known revision (an older learnsync was "
                "interrupted while it created them); move the database away or restore a "
                "backup, then run again"
            )
    if stamp is not None:
        MigrationContext.configure(conn).stamp(script, stamp)


def engine_url(conn: Connection | Engine) -> str:
    """The database's URL for messages: the password hidden."""
    return conn.engine.url.render_as_string(hide_password=True)

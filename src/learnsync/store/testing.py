"""Throw-away databases for tests: a fresh SQLite file, or a fresh PostgreSQL schema.

Each PostgreSQL use gets its own schema (``learnsync_test_<random>``), reached through the
URL's ``search_path`` option, and dropped afterwards, so concurrent test runs never collide.
``LEARNSYNC_TEST_PG_URL`` overrides the server (default: trust auth on 127.0.0.1:5432,
database ``test``, user ``postgres``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


class PostgresUnavailable(RuntimeError):
    """The test PostgreSQL server cannot be reached."""


def postgres_base_url() -> str:
    return os.environ.get("LEARNSYNC_TEST_PG_URL", DEFAULT_PG_URL)


def _conninfo(url: str) -> str:
    parsed = make_url(url)
    parts = {
        "host": parsed.host or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "dbname": parsed.database or "test",
        "user": parsed.username or "postgres",
    }
    if parsed.password:
        parts["password"] = parsed.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


@contextmanager
def postgres_schema_url(base_url: str | None = None) -> Iterator[str]:
    """Yield a store URL whose tables live in a new schema; drop the schema afterwards."""
    import psycopg

    base = base_url or postgres_base_url()
    schema = f"learnsync_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_conninfo(base), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise PostgresUnavailable(f"PostgreSQL at {make_url(base).host}: {exc}") from exc
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in base else "?"
            yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'learnsync-test.db'}"

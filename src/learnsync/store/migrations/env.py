"""Alembic environment for the packaged migrations.

:func:`learnsync.store.db.upgrade` hands over an open connection in
``config.attributes["connection"]``. Maintainers can also run the ``alembic`` command with a
config whose ``script_location`` points here and ``-x url=...`` (e.g. to autogenerate a draft
of the next revision, which is then rewritten by hand and frozen).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from learnsync.store.db import create_store_engine
from learnsync.store.models import all_metadata

target_metadata = all_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("give the database with: alembic -x url=sqlite:///learnsync.db ...")
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()

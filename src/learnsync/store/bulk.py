"""Set-based writes and streamed reads: one statement per batch, never one per item.

Upserts use each dialect's own ``INSERT ... ON CONFLICT DO UPDATE``. For the big tables
(1,000,000 statistics rows) the per-value type processing of SQLAlchemy costs more than the
database work, so rows travel as tuples straight to the driver:

- PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT ... SELECT ... ON CONFLICT``
  (an executemany of a million rows would take minutes);
- SQLite: one compiled ``INSERT ... ON CONFLICT`` run with the driver's ``executemany``.

Datetimes are converted here, at the edge: SQLite holds naive UTC text in SQLAlchemy's own
format (so both paths read and write the same values), PostgreSQL sessions run in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, Table, func, or_, select, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import column as sql_column
from sqlalchemy.sql import table as sql_table
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import KeyedColumnElement

from learnsync.store.db import UtcDateTime, sqlite_datetime

T = TypeVar("T")
Row = Sequence[Any]
# an INSERT with ON CONFLICT clauses, in the connection's dialect
DialectInsert = PgInsert | SqliteInsert
Excluded = ReadOnlyColumnCollection[str, KeyedColumnElement[Any]]

BATCH_SIZE = 50_000
COPY_THRESHOLD = 500  # below this many rows, a plain executemany is cheaper than COPY


def batched(items: Iterable[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def dialect_insert(conn: Connection, table: Table) -> DialectInsert:
    name = conn.dialect.name
    if name == "postgresql":
        return pg_insert(table)
    if name == "sqlite":
        return sqlite_insert(table)
    raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {name}")


def upsert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    keys: Sequence[str],
    keep_existing: Sequence[str] = (),
    sticky_true: Sequence[str] = (),
    raw: bool = False,
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) or update the stored rows with equal keys.

    Rows not given are untouched. On conflict every given column is overwritten except:
    ``keep_existing`` columns keep a stored non-null value (dates written once) and
    ``sticky_true`` booleans never go back to false. Duplicate keys in ``rows``: the last wins.
    ``raw=True`` (rows of plain scalars and datetimes, no JSON) takes the driver-level path.
    """
    if not rows:
        return
    key_of = itemgetter(*(columns.index(k) for k in keys))
    deduped = list({key_of(row): row for row in rows}.values())
    stmt = dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_=_update_set(table, stmt.excluded, columns, keys, keep_existing, sticky_true),
    )
    if raw and conn.dialect.name == "postgresql" and len(deduped) >= COPY_THRESHOLD:
        _pg_copy_upsert(conn, table, columns, deduped, keys, keep_existing, sticky_true)
    elif raw and conn.dialect.name == "sqlite":
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
        order = [columns.index(name) for name in compiled.positiontup or ()]
        to_text = _sqlite_row_converter(table, columns)
        converted = map(to_text, deduped)
        if order == list(range(len(columns))):  # the usual case: no reordering needed
            params: list[Any] = list(converted)
        else:
            params = [tuple(values[i] for i in order) for values in converted]
        conn.exec_driver_sql(compiled.string, params)
    else:
        conn.execute(stmt, [dict(zip(columns, row, strict=True)) for row in deduped])


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """Plain bulk insert of scalar rows (audit rows): ``COPY`` on PostgreSQL."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        pg_copy(conn, quoted_table(conn, table), columns, rows)
    else:
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])


def stream(conn: Connection, stmt: Select[Any], yield_per: int) -> Iterator[tuple[Any, ...]]:
    """Rows of ``stmt`` as driver tuples, fetched ``yield_per`` at a time, datetimes aware UTC.

    Skips SQLAlchemy's per-value result processing (the JSON-free big tables only); on
    PostgreSQL the driver uses a server-side cursor.
    """
    dt_index = [
        i for i, col in enumerate(stmt.selected_columns) if isinstance(col.type, UtcDateTime)
    ]
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    result = conn.execution_options(yield_per=yield_per).exec_driver_sql(sql)
    sqlite = conn.dialect.name == "sqlite"
    cache: dict[Any, datetime] = {}
    for partition in result.partitions(yield_per):
        if len(cache) > 100_000:
            cache.clear()
        for row in partition:
            if not sqlite:  # session time zone is UTC: psycopg returns aware UTC already
                yield tuple(row)
                continue
            values = list(row)
            for i in dt_index:
                raw = values[i]
                if raw is not None:
                    parsed = cache.get(raw)
                    if parsed is None:
                        parsed = cache[raw] = datetime.fromisoformat(raw).replace(tzinfo=UTC)
                    values[i] = parsed
            yield tuple(values)


def _update_set(
    table: Table,
    excluded: Excluded,
    columns: Sequence[str],
    keys: Sequence[str],
    keep_existing: Sequence[str],
    sticky_true: Sequence[str],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in columns:
        if name in keys:
            continue
        if name in keep_existing:
            values[name] = func.coalesce(table.c[name], excluded[name])
        elif name in sticky_true:
            values[name] = or_(table.c[name], excluded[name])
        else:
            values[name] = excluded[name]
    return values


def _sqlite_row_converter(table: Table, columns: Sequence[str]) -> Callable[[Row], list[Any]]:
    """A function turning one row's aware datetimes into SQLite text (memoized per batch)."""
    dt_index = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, UtcDateTime)]
    cache: dict[datetime, str] = {}

    def convert(row: Row) -> list[Any]:
        values = list(row)
        for i in dt_index:
            value = values[i]
            if value is not None:
                as_text = cache.get(value)
                if as_text is None:
                    as_text = cache[value] = sqlite_datetime(value)
                values[i] = as_text
        return values

    return convert


def _pg_copy_upsert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    keys: Sequence[str],
    keep_existing: Sequence[str],
    sticky_true: Sequence[str],
) -> None:
    stage_name = f"_stage_{table.name}"
    conn.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage_name} "
            f"(LIKE {quoted_table(conn, table)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    conn.execute(text(f"TRUNCATE {stage_name}"))
    pg_copy(conn, stage_name, columns, rows)
    stage = sql_table(stage_name, *(sql_column(c) for c in columns))
    stmt = pg_insert(table).from_select(list(columns), select(*(stage.c[c] for c in columns)))
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_=_update_set(table, stmt.excluded, columns, keys, keep_existing, sticky_true),
    )
    conn.execute(stmt)


def pg_copy(conn: Connection, table_name: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
    """Stream rows into ``table_name`` with ``COPY FROM STDIN`` in the connection's transaction."""
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only for a closed connection
        raise RuntimeError("no database connection")
    quoted = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table_name} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def quoted_table(conn: Connection, table: Table) -> str:
    """The table's quoted name, resolved by the connection's search_path (tests use a schema)."""
    return conn.dialect.identifier_preparer.format_table(table)

"""Store failures are one clear stderr line (exit 1): no SQL, no SQLAlchemy help link, no
traceback, the password hidden; a bad URL stays exit 2."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from learnsync.errors import StoreError
from learnsync.sandbox.process import LEARNSYNC
from learnsync.sandbox.stack import Stack
from learnsync.store import Store
from learnsync.store.db import BUSY_TIMEOUT_S, store_error

SQLITE = make_url("sqlite:////data/learnsync.db")
PG = make_url("postgresql+psycopg://ann:s3cret@db.example:5432/learnsync")


def learnsync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEARNSYNC), *map(str, args)], capture_output=True, text=True, timeout=180
    )


def _one_clean_line(stderr: str) -> str:
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("learnsync: error: "), stderr
    for noise in ("Traceback", "[SQL:", "sqlalche.me", "Background on this error", "INSERT"):
        assert noise not in stderr, stderr
    return stderr


def _operational(message: str) -> OperationalError:
    return OperationalError("INSERT INTO stat_items VALUES (?)", {"x": 1}, Exception(message))


@pytest.mark.parametrize(
    ("message", "url", "expected"),
    [
        ("database or disk is full", SQLITE, "the disk holding the store at /data/learnsync.db"),
        ("could not extend file: No space left on device", PG, "is full"),
        ("attempt to write a readonly database", SQLITE, "/data/learnsync.db is read-only"),
        ("cannot execute INSERT in a read-only transaction", PG, "is read-only"),
        ("database is locked", SQLITE, f"locked by another process for more than {BUSY_TIMEOUT_S}"),
        ("connection failed: Connection refused\n\tIs the server running?", PG, "cannot reach"),
        ("unable to open database file", SQLITE, "cannot use the store at /data/learnsync.db"),
        ("deadlock detected", PG, "the database at postgresql+psycopg://ann:***@db.example"),
    ],
)
def test_translation_names_the_cause_in_one_line(message: str, url: object, expected: str) -> None:
    error = store_error(_operational(message), url)  # type: ignore[arg-type]
    assert isinstance(error, StoreError) and error.exit_code == 1
    assert expected in error.message
    assert "\n" not in error.message and "INSERT INTO stat_items" not in error.message
    assert "s3cret" not in error.message


def test_constraint_violations_are_not_translated() -> None:
    error = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
    assert store_error(error, SQLITE) is None


def test_an_unreachable_postgresql_is_a_store_error_with_the_password_hidden() -> None:
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://ann:s3cret@127.0.0.1:1/learnsync")
    assert "cannot reach the database at" in caught.value.message
    assert "s3cret" not in caught.value.message and "***" in caught.value.message


def _config(tmp_path: Path, stack: Stack, url: str) -> Path:
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(url), encoding="utf-8")
    return path


def test_cli_read_only_store(tmp_path: Path, stack: Stack) -> None:
    store = tmp_path / "store.db"
    first = learnsync("sync", "content", "--config", _config(tmp_path, stack, f"sqlite:///{store}"))
    assert first.returncode == 0, first.stderr
    # read-only as SQLite sees it (the tests may run as root, whom chmod 444 does not stop)
    read_only = _config(tmp_path, stack, f"sqlite:///file:{store}?mode=ro&uri=true")
    result = learnsync("sync", "content", "--config", read_only)
    assert result.returncode == 1
    line = _one_clean_line(result.stderr)
    assert f"the store at file:{store}" in line and "is read-only" in line and "writable" in line


def test_cli_store_locked_by_another_process(tmp_path: Path, stack: Stack) -> None:
    store = tmp_path / "store.db"
    config = _config(tmp_path, stack, f"sqlite:///{store}")
    Store.open(f"sqlite:///{store}").close()
    holder = sqlite3.connect(store, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        result = learnsync("sync", "content", "--config", config)
        assert time.monotonic() - started >= BUSY_TIMEOUT_S
    finally:
        holder.close()
    assert result.returncode == 1
    line = _one_clean_line(result.stderr)
    assert f"the store at {store} is locked by another process for more than 30 s" in line


def test_cli_unreachable_postgresql(tmp_path: Path, stack: Stack) -> None:
    url = "postgresql://ann:s3cret@127.0.0.1:1/learnsync"
    result = learnsync("sync", "content", "--config", _config(tmp_path, stack, url))
    assert result.returncode == 1
    line = _one_clean_line(result.stderr)
    assert "cannot reach the database at" in line and "s3cret" not in line


def test_cli_bad_url_is_still_exit_2(tmp_path: Path, stack: Stack) -> None:
    result = learnsync("sync", "content", "--config", _config(tmp_path, stack, "nosuchdb://x/y"))
    assert result.returncode == 2
    _one_clean_line(result.stderr)

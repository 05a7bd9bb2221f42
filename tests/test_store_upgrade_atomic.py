"""Schema upgrades cannot half-apply: concurrent first opens, a kill -9 in the middle of the
upgrade, and the half-applied stores older versions could leave behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from learnsync.errors import LearnsyncError
from learnsync.store import Store
from learnsync.store.db import alembic_config, create_store_engine

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
CHILD = Path(__file__).with_name("store_upgrade_child.py")


def _child(url: str, start: float, delay: float, sleep_from: int = 1) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), url, str(start), str(delay), str(sleep_from)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_usable_at_head(url: str) -> None:
    with Store.open(url) as store:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == HEAD
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v[0] for v in versions] == [HEAD]
        record = store.get_or_create_integration("after", name="after")
        assert store.get_integration("after") == record


def test_concurrent_first_opens_all_succeed(url: str) -> None:
    start = time.time() + 2.0
    children = [_child(url, start, 0.05) for _ in range(4)]
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
        assert out.rstrip().endswith("ok")
    _assert_usable_at_head(url)


def test_a_kill_in_the_middle_of_the_upgrade_leaves_a_store_the_next_open_upgrades(
    url: str,
) -> None:
    child = _child(url, time.time(), 60.0, sleep_from=3)
    assert child.stdout is not None
    for _ in range(3):  # alembic_version, integrations, content_items: created, not committed
        assert child.stdout.readline().strip() == "ddl"
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    _assert_usable_at_head(url)


def _old_half_applied(url: str, revision: str, *, drop_version_table: bool) -> None:
    """What a first run of an older learnsync left when killed after creating the tables of
    ``revision`` but before recording it: the tables, alembic_version empty or missing."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if drop_version_table:
                conn.execute(text("DROP TABLE alembic_version"))
            else:
                conn.execute(text("DELETE FROM alembic_version"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("drop_version_table", [False, True])
def test_tables_without_a_version_are_stamped_and_upgraded(
    url: str, drop_version_table: bool
) -> None:
    _old_half_applied(url, "0002", drop_version_table=drop_version_table)
    _assert_usable_at_head(url)
    with Store.open(url) as store:
        columns = {c["name"] for c in inspect(store.engine).get_columns("integrations")}
        assert "coursera_token_used_at" in columns  # 0003 and 0004 were applied on top


def test_the_head_schema_without_a_version_is_stamped(url: str) -> None:
    _old_half_applied(url, "head", drop_version_table=False)
    _assert_usable_at_head(url)


def test_a_revision_killed_half_way_is_recovered_when_its_tables_are_empty(url: str) -> None:
    """Old code on SQLite committed each CREATE TABLE on its own: some of 0002's tables exist."""
    _old_half_applied(url, "0002", drop_version_table=False)
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE run_locks"))
            conn.execute(text("DROP TABLE schedules"))
            conn.execute(
                text(
                    "INSERT INTO integrations (key, name, org_id, base_url, "
                    "group_id, author_id, integration_name, languages, content_types,"
                    " content_type_overrides, archive_removed, created_at, updated_at)"
                    " VALUES ('k', 'n', 'o', 'b', 'g', 'a', 'i', '[]', '[]', '{}', "
                    "false, '2024-01-01', '2024-01-01')"
                )
            )
    finally:
        engine.dispose()
    _assert_usable_at_head(url)
    with Store.open(url) as store:
        assert store.get_integration("k") is not None  # 0001's data kept


def test_an_unknown_half_applied_schema_is_one_clear_error(url: str) -> None:
    _old_half_applied(url, "0002", drop_version_table=False)
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE run_locks"))
            conn.execute(
                text(
                    "INSERT INTO admin_users (username, password_hash, created_at) "
                    "VALUES ('u', 'h', '2024-01-01')"
                )
            )
    finally:
        engine.dispose()
    with pytest.raises(LearnsyncError) as caught:
        Store.open(url)
    message = caught.value.message
    assert "\n" not in message
    assert "no recorded schema version" in message and "run again" in message

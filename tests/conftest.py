"""Fixtures shared by the tests: the simulators for the end-to-end tests, a store URL for the
store tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.store.testing import PostgresUnavailable, postgres_schema_url, sqlite_url

SMALL_WORLD = World(seed=7, catalog_size=80, learners=40, enrollments=300)


@pytest.fixture
def stack() -> Iterator[Stack]:
    """Both simulators on loopback (real sockets), fresh for each test."""
    with running_stack(SMALL_WORLD) as running:
        yield running


@pytest.fixture
def config_path(tmp_path: Path, stack: Stack) -> Path:
    """A SPEC §5 config for the running simulators, with a SQLite store in tmp_path."""
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(f"sqlite:///{tmp_path / 'store.db'}"), encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL: a SQLite file, then a PostgreSQL schema of its own (skipped when
    PostgreSQL is unreachable, except in CI where that fails)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    try:
        with postgres_schema_url() as pg_url:
            yield pg_url
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")

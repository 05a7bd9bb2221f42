"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World

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

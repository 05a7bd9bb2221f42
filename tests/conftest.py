"""Fixtures shared by the tests: the simulators for the end-to-end tests (and a config for them),
a store URL, a clock moved by hand and a store on it for the store tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from browser_support import browser  # noqa: F401 (the Chromium fixture of the browser tests)
from learnsync.config import Config, load_config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.store import Store
from learnsync.store.testing import PostgresUnavailable, postgres_schema_url, sqlite_url
from store_support import Clock

SMALL_WORLD = World(seed=7, catalog_size=80, learners=40, enrollments=300)

# Hypothesis (tests/test_properties_*.py). "dev", the default, draws new examples on every run, so
# runs over time explore more inputs; a 2 s deadline flags a property that became pathologically
# slow (typical examples take milliseconds). "ci" (chosen when CI is set) is derandomized, has no
# deadline and no example database: a CI run is reproducible, cannot fail on a timing hiccup or on
# an input no change of the submission brought in, and has nothing to replay on a fresh clone. A
# failure found by a dev run is pinned with @example. HYPOTHESIS_PROFILE overrides the choice.
settings.register_profile("dev", max_examples=100, deadline=timedelta(seconds=2))
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture
def stack() -> Iterator[Stack]:
    """Both simulators on loopback (real sockets), fresh for each test."""
    with running_stack(SMALL_WORLD) as running:
        yield running


@pytest.fixture
def config_path(tmp_path: Path, stack: Stack) -> Path:
    """A learnsync config for the running simulators, with a SQLite store in tmp_path."""
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(f"sqlite:///{tmp_path / 'store.db'}"), encoding="utf-8")
    return path


@pytest.fixture
def config(config_path: Path) -> Config:
    """The loaded config of :func:`config_path` (the simulators of the test module's ``stack``)."""
    return load_config(config_path)


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


@pytest.fixture
def clock() -> Clock:
    """A clock the test moves by hand, at ``store_support.T0`` (a test module may override this
    fixture to start elsewhere)."""
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[Store]:
    """A fresh store at ``url`` whose clock is ``clock``."""
    with Store.open(url, clock=clock) as opened:
        yield opened


@pytest.fixture(autouse=True, scope="session")
def loopback_endpoints() -> Iterator[None]:
    """The simulators listen on loopback over http: the tests' services allow it, as an operator
    would in ``LEARNSYNC_ALLOWED_HOSTS`` (docs/security.md) — for the whole session, module-scoped
    fixtures and ``serve`` subprocesses included. The endpoint policy's own tests build their
    policy explicitly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LEARNSYNC_ALLOWED_HOSTS", "127.0.0.1,localhost")
        yield


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """scrypt at the production cost (N=2^17: 128 MiB, ~0.3 s a hash) would make the suite's
    hundreds of sign-ins minutes long: in-process tests hash at N=2^12. A hash records its own
    parameters, so it verifies anywhere; subprocesses (``serve``, the CLI) use the real cost, and
    the tests of the hashing itself ask for it (``real_password_hashing``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("learnsync.service.passwords.N", 2**12)
        yield


@pytest.fixture
def real_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production scrypt cost, for the tests of the hashing and its rehash rule."""
    monkeypatch.setattr("learnsync.service.passwords.N", 2**17)

"""Shared support for the store tests: a clock the tests move by hand (the ``clock`` and
``store`` fixtures of conftest.py run on it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# where the ``clock`` fixture starts, unless a test module overrides the fixture
T0 = datetime(2024, 5, 1, 8, 45, 0, 123456, tzinfo=UTC)


class Clock:
    """A clock the tests move by hand: set :attr:`now`, or :meth:`advance` it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = timedelta(0), **kwargs: float) -> None:
        """Move on by ``delta`` (``advance(LEASE_TTL)``) or by ``timedelta(**kwargs)``
        (``advance(minutes=5)``)."""
        self.now += delta + timedelta(**kwargs)

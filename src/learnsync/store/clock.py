"""The store's clock: what its classes ask for the current moment (tests hand them a fake one).

Time inside the store is aware UTC; a clock returning a naive datetime is a bug of the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: the current moment, aware UTC."""
    return datetime.now(UTC)


def aware_utc(clock: Clock, whose: str) -> datetime:
    """``clock()`` converted to UTC; :class:`ValueError` when it returned a naive datetime
    (``whose`` names the clock's owner in the message, e.g. ``"the store's"``)."""
    now = clock()
    if now.tzinfo is None:
        raise ValueError(f"{whose} clock returned a naive datetime")
    return now.astimezone(UTC)

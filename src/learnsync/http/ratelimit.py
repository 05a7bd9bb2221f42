"""Client-side rate limits: thread-safe token buckets, so learnsync stays under each API's limit.

360Learning allows 50 GET and 10 write requests per second per company; Coursera publishes no
limit, so a modest default is used (docs/api-notes.md#360learning-rate-limits). Staying below
the limit is cheaper than meeting 429s and backing off. The clock and the sleep are injected so
tests never wait for real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Limiter(Protocol):
    """What :class:`~learnsync.http.session.HttpSession` asks before each request: wait for a
    token of ``method``'s kind; the seconds waited (:class:`RateLimiter` in one client,
    :class:`~learnsync.http.shared.WindowLimiter` shared by every run of a company)."""

    def acquire(self, method: str) -> float: ...


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``acquire`` blocks until one is free.

    ``burst`` defaults to 1: requests are spaced evenly, so no one-second window of the server's
    counter ever sees more than ``rate`` (+1) requests, whatever its window alignment.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)  # a clock that goes back never adds tokens
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)  # may be < 0: reserved
        self._updated = now

    def acquire(self) -> float:
        """Take one token, waiting as needed; return the seconds waited.

        A caller that finds the bucket empty reserves the next token (the count goes negative)
        and sleeps until it is due, once — so concurrent callers queue up fairly and a float
        rounding error can never make anyone spin.
        """
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)  # outside the lock: other callers reserve their own slots meanwhile
        return wait


class RateLimiter:
    """One bucket for reads and one for writes (same bucket for both when ``write`` is None)."""

    def __init__(self, read: TokenBucket, write: TokenBucket | None = None) -> None:
        self.read = read
        self.write = write or read

    def acquire(self, method: str) -> float:
        bucket = self.read if method.upper() in READ_METHODS else self.write
        return bucket.acquire()

    @classmethod
    def threesixty(
        cls,
        *,
        reads_per_second: float = 50.0,
        writes_per_second: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        return cls(
            TokenBucket(reads_per_second, clock=clock, sleep=sleep),
            TokenBucket(writes_per_second, clock=clock, sleep=sleep),
        )

    @classmethod
    def coursera(
        cls,
        *,
        per_second: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        return cls(TokenBucket(per_second, clock=clock, sleep=sleep))

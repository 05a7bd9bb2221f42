"""The one retry policy of learnsync, shared by both API clients.

Modelled on stripe-python's ``_should_retry``: one object decides *whether* an attempt is retried
and *how long* to wait first, so the rule lives in one place and tests can read it.

What is retried (when attempts remain):

- answers ``429``, ``500``, ``502``, ``503``, ``504`` (``retry_statuses``; ``500`` only for
  idempotent requests, see below — a read that failed on the server is safe to repeat);
- timeouts and dropped connections: ``httpx.TimeoutException``, ``httpx.NetworkError``
  (connect/read/write/close errors) and ``httpx.RemoteProtocolError`` (the server closed the
  connection mid-response). Errors that retrying cannot fix (``UnsupportedProtocol``,
  ``LocalProtocolError``, ``ProxyError``) are not retried.

Non-idempotent requests (POST, PATCH, and the 360Learning bulk submits, which create an operation
although they use PUT/DELETE) are retried only when the request provably had no effect:

- the connection was never established (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``), or
- the server answered ``429`` or ``503`` — it refused the request before doing anything.

A read timeout or a dropped connection after a bulk submit is *not* retried: the operation may
exist already, and submitting it again could run it twice. The error surfaces and the next run
re-sends the items (upserts and statistics are keyed, so that is safe).

The wait is jittered exponential backoff (``base_delay × 2^(attempt-1)``, capped at
``max_delay``, multiplied by a random factor in ``[1 - jitter, 1]``). A ``Retry-After`` header
(seconds or an HTTP date) replaces it, capped at ``max_retry_after``. A 429 without the header
waits at least ``min_429_delay`` (360Learning's advice: "wait about 1 second").

The budget of one request (docs/waiting.md): at most ``max_attempts`` attempts and at most
``max_total_wait`` seconds of waiting between them; a wait that would pass it is cut to what is
left, and with nothing left the last answer (or error) is the result. Inside an outer budget
(bulk-slot waiting, operation polling) the waits are cut to the outer budget's remainder too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# errors where the request never left this process: safe to retry any method
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# errors where retrying can help, for idempotent requests
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# answers meaning "refused before doing anything": safe to retry any method
_REFUSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait. Every field can be overridden for tests or tuning."""

    max_attempts: int = 6
    max_total_wait: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    min_429_delay: float = 1.0
    jitter: float = 0.5
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({429, 500, 502, 503, 504})
    )
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_total_wait < 0:
            raise ValueError("max_total_wait cannot be negative")

    def without_statuses(self, *statuses: int) -> RetryPolicy:
        """The same policy, but answers with ``statuses`` are returned at once."""
        return replace(self, retry_statuses=self.retry_statuses - frozenset(statuses))

    @staticmethod
    def is_idempotent(method: str) -> bool:
        return method.upper() in IDEMPOTENT_METHODS

    def should_retry(
        self,
        *,
        attempt: int,
        idempotent: bool,
        response: httpx.Response | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Whether attempt number ``attempt`` (1-based), which just failed, is tried again."""
        if attempt >= self.max_attempts:
            return False
        if error is not None:
            if isinstance(error, _NOT_SENT):
                return True
            return idempotent and isinstance(error, _TRANSIENT)
        if response is None or response.status_code not in self.retry_statuses:
            return False
        return idempotent or response.status_code in _REFUSED_STATUSES

    def delay(
        self, attempt: int, response: httpx.Response | None = None, *, now: float | None = None
    ) -> float:
        """Seconds to wait before attempt ``attempt + 1``; ``now`` is epoch seconds (dates)."""
        hint = retry_after(response, now=now) if response is not None else None
        if hint is not None:
            return min(hint, self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2.0 ** (attempt - 1)))
        wait = backoff * (1 - self.jitter * self.random())
        if response is not None and response.status_code == 429:
            wait = max(wait, self.min_429_delay)
        return wait


NO_RETRY = RetryPolicy(max_attempts=1)


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The ``Retry-After`` header in seconds (≥ 0), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None or now is None:
        return None
    return max(0.0, when.timestamp() - now)

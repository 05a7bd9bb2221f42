"""Load counters of the simulators: per 360Learning company and per Coursera organization.

A fleet benchmark asks how hard the connector pressed each tenant: the highest number of bulk
operations a company had unfinished at once, the busiest second of reads and of writes, how many
bulk submissions and requests it received; how many catalog pages and report pages each Coursera
organization served. Times come from the simulator process's monotonic clock
(:func:`time.monotonic`), never from the simulator clock tests move. Read them with
``GET /_sandbox/counters``, reset them with ``DELETE /_sandbox/counters`` (both simulators).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

WINDOW_SECONDS = 1.0
TOKEN_PATH = "/api/v2/oauth2/token"
_BULK_SUBMIT = re.compile(r"^/api/v2/bulk/integrations/[^/]+/(?:courses|stats)$")
_BULK_METHODS = frozenset({"PUT", "DELETE", "POST"})
READ_METHODS = frozenset({"GET", "HEAD"})


class SlidingWindowPeak:
    """The most events seen in any window of ``width`` seconds: ``(t - width, t]``.

    A window with the most events can always be slid until its end meets an event, so checking
    the window that ends at each event finds the peak; the deque holds one window's events.
    """

    def __init__(self, width: float = WINDOW_SECONDS) -> None:
        self.width = width
        self.peak = 0
        self._times: deque[float] = deque()

    def note(self, now: float) -> None:
        times = self._times
        while times and times[0] <= now - self.width:
            times.popleft()
        times.append(now)
        if len(times) > self.peak:
            self.peak = len(times)

    def reset(self) -> None:
        self.peak = 0
        self._times.clear()


class CompanyCounters:
    """One 360Learning company's counters (thread-safe; the simulator's own lock is not held).

    ``requests`` counts every API request the company received (faulted ones included, admin
    routes never); the read/write windows count the requests a rate limit would, i.e. every
    API request except the token request (reads: ``GET``/``HEAD``; writes: the other methods).
    ``bulk_submits`` counts bulk submit requests (accepted or refused), ``bulk_operations`` the
    operations created, ``concurrency_refusals`` the 429s for too many unfinished operations and
    ``max_unfinished_operations`` the most operations unfinished (not ``completed`` nor
    ``error``) at once, sampled whenever an operation is created.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._reads = SlidingWindowPeak()
        self._writes = SlidingWindowPeak()
        self._max_unfinished = 0

    def request(self, method: str, path: str, now: float | None = None) -> None:
        """Count one API request (``now``: monotonic seconds, default the process clock)."""
        method = method.upper()
        if path == TOKEN_PATH:
            with self._lock:
                self._counts["requests"] += 1
                self._counts["token_requests"] += 1
            return
        at = self._monotonic() if now is None else now
        with self._lock:
            self._counts["requests"] += 1
            if method in READ_METHODS:
                self._counts["reads"] += 1
                self._reads.note(at)
            else:
                self._counts["writes"] += 1
                self._writes.note(at)
                if method in _BULK_METHODS and _BULK_SUBMIT.match(path):
                    self._counts["bulk_submits"] += 1

    def operation_created(self, unfinished: int) -> None:
        """An operation was created; ``unfinished`` operations (it included) are open now."""
        with self._lock:
            self._counts["bulk_operations"] += 1
            self._max_unfinished = max(self._max_unfinished, unfinished)

    def concurrency_refused(self) -> None:
        with self._lock:
            self._counts["concurrency_refusals"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self._counts["requests"],
                "token_requests": self._counts["token_requests"],
                "reads": self._counts["reads"],
                "writes": self._counts["writes"],
                "max_reads_per_second": self._reads.peak,
                "max_writes_per_second": self._writes.peak,
                "bulk_submits": self._counts["bulk_submits"],
                "bulk_operations": self._counts["bulk_operations"],
                "concurrency_refusals": self._counts["concurrency_refusals"],
                "max_unfinished_operations": self._max_unfinished,
            }

    def reset(self, unfinished: int = 0) -> None:
        """Zero everything; the high-water mark restarts at the operations unfinished now."""
        with self._lock:
            self._counts.clear()
            self._reads.reset()
            self._writes.reset()
            self._max_unfinished = unfinished


ORG_ROUTES = ("contents", "enrollmentReports", "programs", "memberships", "organization")


class OrganizationCounters:
    """Per Coursera organization: requests by route (``contents`` are catalog pages,
    ``enrollmentReports`` report pages) and ``token`` grants of the organization's clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}

    def count(self, org_id: str, route: str) -> None:
        with self._lock:
            counts = self._counts.get(org_id)
            if counts is None:
                counts = self._counts[org_id] = Counter()
            counts[route] += 1
            if route != "token":
                counts["requests"] += 1

    def snapshot(self, org_ids: list[str]) -> dict[str, dict[str, int]]:
        """Every organization of ``org_ids`` (zeros included), then any other one counted."""
        keys = ("requests", *ORG_ROUTES, "token")
        with self._lock:
            ids = list(dict.fromkeys([*org_ids, *self._counts]))
            return {
                org: {key: self._counts.get(org, Counter())[key] for key in keys} for org in ids
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

"""Request limits shared by every run of a deployment: per company and per organization.

360Learning's limits hold per company — 50 reads and 10 writes a second, three unfinished bulk
operations — and so do whatever Coursera enforces per organization, whichever process sends the
requests. A :class:`SharedLimits` hands each run's clients the limiter of its company (keyed by
platform URL and API client id, hashed: :func:`company_key`) or organization:

- **rates**: moving one-second windows of the ``limits`` library — in Redis for a fleet
  (``LEARNSYNC_LIMITS_URL``, default the broker's Redis), in memory for one process; a request
  that finds its window full sleeps until the window has room. The fleet's budget keeps a
  margin under the published limit (:data:`THREESIXTY_READS`, :data:`THREESIXTY_WRITES`) so
  that network jitter between the window and 360Learning's own counter cannot exceed it;
- **bulk slots**: :data:`BULK_SLOTS` slots per company — in Redis, one lock per slot
  (``redis-py``'s :class:`~redis.lock.Lock`, expiring ``SLOT_TTL`` seconds after its holder last
  renewed it, so a killed worker's slots come back); in memory, a counter. A bulk pipeline takes
  a slot before each submit and gives it back once the operation ended;
- **saturation**: how many requests had to wait and how long, per company, readable by any
  process (:meth:`SharedLimits.saturation`) for ``/metrics``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from learnsync.http.ratelimit import READ_METHODS, Limiter

# the fleet's budgets per company / organization and second (published: 50 reads, 10 writes)
THREESIXTY_READS = 45
THREESIXTY_WRITES = 9
COURSERA_REQUESTS = 50  # as one client allows itself (docs/api-notes.md#coursera-rate-limits)
BULK_SLOTS = 3
SLOT_TTL = 60.0  # a slot not renewed for a minute is free again (its holder died)
PREFIX = "learnsync:limits"


def company_key(base_url: str, client_id: str) -> str:
    """The key of one company (or organization): its platform URL and API client id, hashed
    (no identifier in clear in Redis or in metrics)."""
    raw = f"{base_url.rstrip('/').lower()}|{client_id}".encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class Slot(Protocol):
    def renew(self) -> None: ...

    def release(self) -> None: ...


class BulkSlots(Protocol):
    """A company's bulk-operation slots: :meth:`take` one or get ``None`` (all are held)."""

    def take(self) -> Slot | None: ...


@dataclass(frozen=True)
class Saturation:
    """What a company's limiter did since the counters started: requests let through, how
    many of them waited, for how many seconds in all."""

    api: str
    key: str
    requests: int
    waited: int
    wait_seconds: float


class WindowLimiter:
    """Reads and writes of one company through moving one-second windows."""

    def __init__(
        self,
        limits: SharedLimits,
        api: str,
        key: str,
        read: RateLimitItem,
        write: RateLimitItem,
    ) -> None:
        self.limits, self.api, self.key = limits, api, key
        self.read, self.write = read, write

    def acquire(self, method: str) -> float:
        """Wait until the request's window has room; the seconds waited."""
        kind, item = (
            ("read", self.read) if method.upper() in READ_METHODS else ("write", self.write)
        )
        waited = 0.0
        strategy = self.limits.strategy
        while not strategy.hit(item, self.api, self.key, kind):
            reset = strategy.get_window_stats(item, self.api, self.key, kind).reset_time
            pause = min(1.0, max(0.005, reset - self.limits.clock()))
            self.limits.sleep(pause)
            waited += pause
        self.limits.count(self.api, self.key, waited)
        return waited


class _RedisSlot:
    def __init__(self, lock: Any, ttl: float) -> None:
        self.lock, self.ttl = lock, ttl

    def renew(self) -> None:
        with contextlib.suppress(Exception):  # expired (its slot taken over) or Redis gone
            self.lock.extend(self.ttl, replace_ttl=True)

    def release(self) -> None:
        # expired meanwhile (LockNotOwnedError) or Redis gone: it is free anyway
        with contextlib.suppress(Exception):
            self.lock.release()


class RedisSlots:
    """``BULK_SLOTS`` expiring locks in Redis for one company."""

    def __init__(
        self, client: Any, key: str, slots: int = BULK_SLOTS, ttl: float = SLOT_TTL
    ) -> None:
        self.client, self.key, self.slots, self.ttl = client, key, slots, ttl

    def take(self) -> Slot | None:
        for n in range(self.slots):
            lock = self.client.lock(f"{PREFIX}:bulk:{self.key}:{n}", timeout=self.ttl)
            if lock.acquire(blocking=False, token=uuid.uuid4().hex):
                return _RedisSlot(lock, self.ttl)
        return None


class _LocalSlot:
    def __init__(self, owner: LocalSlots) -> None:
        self.owner = owner
        self.renewed = owner.clock()

    def renew(self) -> None:
        self.renewed = self.owner.clock()

    def release(self) -> None:
        self.owner.drop(self)


class LocalSlots:
    """``BULK_SLOTS`` slots of one company in this process; like the Redis ones, a slot not
    renewed for ``ttl`` seconds is free again (a pipeline abandoned mid-way — a cancelled run —
    cannot keep its company's slots)."""

    def __init__(
        self,
        slots: int = BULK_SLOTS,
        ttl: float = SLOT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots, self.ttl, self.clock = slots, ttl, clock
        self._held: list[_LocalSlot] = []
        self._lock = threading.Lock()

    def take(self) -> Slot | None:
        with self._lock:
            now = self.clock()
            self._held = [s for s in self._held if now - s.renewed < self.ttl]
            if len(self._held) >= self.slots:
                return None
            slot = _LocalSlot(self)
            self._held.append(slot)
            return slot

    def drop(self, slot: _LocalSlot) -> None:
        with self._lock:
            if slot in self._held:
                self._held.remove(slot)


class SharedLimits:
    """The limiters and bulk slots of every company and organization, in Redis or in memory."""

    def __init__(
        self,
        storage: Storage,
        *,
        redis_client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.client = redis_client
        self.sleep, self.clock = sleep, clock
        self._slots: dict[str, BulkSlots] = {}
        self._counts: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def in_memory(cls) -> SharedLimits:
        """One process's limits (``serve`` without a broker: its runs share them)."""
        return cls(MemoryStorage())

    @classmethod
    def in_redis(cls, url: str) -> SharedLimits:
        """A fleet's limits in the Redis at ``url`` (``redis://HOST:6379/0``)."""
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        return cls(RedisStorage(url, key_prefix=PREFIX), redis_client=client)

    def threesixty(self, base_url: str, client_id: str) -> tuple[Limiter, BulkSlots]:
        """The rate limiter and the bulk slots of a 360Learning company."""
        key = company_key(base_url, client_id)
        limiter = WindowLimiter(
            self,
            "threesixty",
            key,
            RateLimitItemPerSecond(THREESIXTY_READS, 1),
            RateLimitItemPerSecond(THREESIXTY_WRITES, 1),
        )
        with self._lock:
            slots = self._slots.get(key)
            if slots is None:
                slots = RedisSlots(self.client, key) if self.client is not None else LocalSlots()
                self._slots[key] = slots
        return limiter, slots

    def coursera(self, api_base: str, org_id: str) -> Limiter:
        """The rate limiter of a Coursera organization (reads and writes alike)."""
        item = RateLimitItemPerSecond(COURSERA_REQUESTS, 1)
        return WindowLimiter(self, "coursera", company_key(api_base, org_id), item, item)

    # ------------------------------------------------------------------ saturation

    def count(self, api: str, key: str, waited: float) -> None:
        """Count one request let through after ``waited`` seconds."""
        if self.client is not None:
            name = f"{PREFIX}:saturation:{api}:{key}"
            try:
                pipe = self.client.pipeline(transaction=False)
                pipe.hincrby(name, "requests", 1)
                if waited > 0:
                    pipe.hincrby(name, "waited", 1)
                    pipe.hincrbyfloat(name, "wait_seconds", waited)
                pipe.execute()
            except Exception:  # a counter is not worth failing a request for
                pass
            return
        with self._lock:
            counts = self._counts.setdefault((api, key), [0, 0, 0.0])
            counts[0] += 1
            if waited > 0:
                counts[1] += 1
                counts[2] += waited

    def saturation(self) -> list[Saturation]:
        """Every company's counters, by API and key."""
        if self.client is None:
            with self._lock:
                items = sorted(self._counts.items())
            return [Saturation(a, k, int(c[0]), int(c[1]), c[2]) for (a, k), c in items]
        found = []
        for name in self.client.scan_iter(match=f"{PREFIX}:saturation:*", count=500):
            text = name.decode() if isinstance(name, bytes) else str(name)
            api, _, key = text.removeprefix(f"{PREFIX}:saturation:").partition(":")
            fields = {
                (k.decode() if isinstance(k, bytes) else k): v
                for k, v in self.client.hgetall(name).items()
            }
            found.append(
                Saturation(
                    api,
                    key,
                    int(fields.get("requests", 0)),
                    int(fields.get("waited", 0)),
                    float(fields.get("wait_seconds", 0.0)),
                )
            )
        return sorted(found, key=lambda s: (s.api, s.key))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

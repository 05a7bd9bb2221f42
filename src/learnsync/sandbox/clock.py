"""A clock the simulators share, which tests can move forward (token expiry, bulk progress)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """Real time plus an offset that tests may advance; optionally frozen."""

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen = frozen_at.timestamp() if frozen_at is not None else None

    def time(self) -> float:
        """Seconds since the epoch, as the simulators see it."""
        with self._lock:
            base = self._frozen if self._frozen is not None else time.time()
            return base + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def now_ms(self) -> int:
        return int(self.time() * 1000)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def advance_delta(self, delta: timedelta) -> None:
        self.advance(delta.total_seconds())

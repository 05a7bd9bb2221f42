"""One waiting budget, shared by every loop that waits (docs/waiting.md).

A :class:`Budget` is a deadline on an injected clock: ``seconds`` from its creation. Waiting
through it (:meth:`Budget.sleep`) never goes past the deadline, and the time spent *between* the
waits (requests, decoding) is charged too, because the deadline is measured on the clock. The
clock and the sleep are injected, so a test with a fake clock can assert the exact time waited.

Budgets nest without multiplying: a budget created with ``parent`` ends at the earlier of its own
deadline and its parent's, so a wait inside it consumes the outer budget as well, and an inner
loop can never restart the outer one. That is how the HTTP retries of one request (the
:class:`~learnsync.http.retry.RetryPolicy` budget) run inside bulk-slot waiting or operation
polling: they may use what is left of the outer budget, never more.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class Budget:
    """At most ``seconds`` of clock time from now (``math.inf``: no limit of its own).

    ``wall=False`` makes it a budget of waiting only: ``seconds`` of sleeps, however long the
    work between them takes (the HTTP retries: a slow answer is bounded by its timeout instead).
    """

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        parent: Budget | None = None,
        wall: bool = True,
    ) -> None:
        if seconds < 0:
            raise ValueError("a budget cannot be negative")
        self.seconds = seconds
        self.clock = clock
        self._sleep = sleep
        self.parent = parent
        self.started = clock()
        # wall=False: only the seconds slept count (the time spent in requests does not)
        self.deadline = self.started + seconds if wall and math.isfinite(seconds) else math.inf
        self.waited = 0.0  # seconds slept through this budget (not counting inner budgets)

    def child(self, seconds: float, *, wall: bool = True) -> Budget:
        """A budget of ``seconds`` inside this one (it ends when this one ends, if earlier)."""
        return Budget(seconds, clock=self.clock, sleep=self._sleep, parent=self, wall=wall)

    def remaining(self) -> float:
        """Seconds left (≥ 0), the parent's deadline included.

        Also never more than ``seconds`` minus the seconds slept through it: a fake ``sleep``
        that does not move the clock still exhausts the budget.
        """
        left = max(0.0, min(self.deadline - self.clock(), self.seconds - self.waited))
        if self.parent is not None:
            left = min(left, self.parent.remaining())
        return left

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def sleep(self, wanted: float) -> float:
        """Sleep ``wanted`` seconds, cut to what remains; return the seconds slept."""
        wait = min(max(0.0, wanted), self.remaining())
        if wait > 0:
            self._sleep(wait)
            self._charge(wait)
        return wait

    def _charge(self, seconds: float) -> None:
        self.waited += seconds
        if self.parent is not None:
            self.parent._charge(seconds)

"""What every API client has: an :class:`HttpSession`, its request counters, and a lifecycle."""

from __future__ import annotations

from typing import Self

from learnsync.http.session import HttpSession


class SessionClient:
    """Base of the Coursera and 360Learning clients (``self.session`` is set by the subclass)."""

    session: HttpSession

    @property
    def request_count(self) -> int:
        """Requests sent over the network, retries and token requests included."""
        return self.session.request_count

    @property
    def request_counts(self) -> dict[tuple[str, str], int]:
        """Requests by (method, route kind), e.g. ``("PUT", "bulk_upsert_courses")``."""
        return dict(self.session.request_counts)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

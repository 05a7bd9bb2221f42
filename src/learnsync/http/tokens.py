"""An OAuth2 access token cached until shortly before it expires (both APIs' clients use one).

It is renewed five minutes before it expires — or half-way through a lifetime shorter than ten
minutes — so a request never leaves with a token about to lapse; ``clear`` drops it after a 401.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REFRESH_MARGIN = 300.0  # seconds before expiry when a cached token is renewed


def expires_in(body: Any, default: float) -> float:
    """The token answer's ``expires_in`` in seconds (a numeric string counts); ``default`` when
    it is missing, unreadable or not positive."""
    value = body.get("expires_in") if isinstance(body, dict) else None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default


class TokenCache:
    def __init__(self, clock: Callable[[], float], *, default_lifetime: float) -> None:
        self.clock = clock
        self.default_lifetime = default_lifetime
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self) -> str | None:
        """The cached token while it is fresh enough, else None."""
        if self._token is not None and self.clock() < self._renew_at:
            return self._token
        return None

    def put(self, token: str, body: Any) -> str:
        """Keep ``token`` for the lifetime the token answer ``body`` gives; return it."""
        lifetime = expires_in(body, self.default_lifetime)
        self._token = token
        self._renew_at = self.clock() + max(lifetime - REFRESH_MARGIN, lifetime / 2)
        return token

    def clear(self) -> None:
        self._token = None
        self._renew_at = 0.0

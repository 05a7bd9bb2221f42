"""Coursera refresh tokens lapse after 14 days without use: warn after 10.

The service remembers, per integration, the last time the refresh token worked (a successful run
or Setup integration — each mints an access token from it) or was stored (a new token starts its
14 days when issued). ``None`` (an integration from before migration 0003 that has not run since)
means "unknown": no warning until the next run records a use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from learnsync.store.service_repository import IntegrationSettings

TOKEN_LIFETIME = timedelta(days=14)
WARN_AFTER = timedelta(days=10)


def refresh_token_warning(item: IntegrationSettings, now: datetime) -> str | None:
    """An administrator's sentence when the token is close to lapsing (or has lapsed), else None."""
    if item.coursera_auth != "refresh_token" or not item.has_coursera_refresh_token:
        return None
    used = item.coursera_token_used_at
    if used is None or now - used < WARN_AFTER:
        return None
    idle = (now - used).days
    expires = (used + TOKEN_LIFETIME).date().isoformat()
    if now - used >= TOKEN_LIFETIME:
        return (
            f"The Coursera refresh token has not been used for {idle} days and has probably "
            "lapsed (14 days without use): create a new one with `learnsync coursera authorize` "
            "and enter it in the Refresh token field."
        )
    return (
        f"The Coursera refresh token has not been used for {idle} days; it lapses after 14 days "
        f"without use (on {expires}). Run a content synchronization now, or create a new one "
        "with `learnsync coursera authorize`."
    )

"""Where a bearer token may go: only to the origin (scheme and host) it was configured for."""

from __future__ import annotations

from urllib.parse import urlsplit


def same_origin(url: str, base_url: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base_url`` (no https → http)."""
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())

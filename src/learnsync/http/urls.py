"""Where a bearer token may go: only to the origin (scheme, host and port) it was configured for."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, lowercased, the scheme's default port made explicit
    (``https://h`` and ``https://h:443`` are one origin); a port that is not a number is None."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return scheme, (parts.hostname or "").lower(), None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, base_url: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base_url`` (no https → http, no other
    port, no other host)."""
    mine, theirs = origin(url), origin(base_url)
    return mine == theirs and mine[1] != "" and mine[2] is not None

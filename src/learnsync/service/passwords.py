"""Administrator passwords: salted scrypt (RFC 7914) from the standard library.

Stored as ``scrypt$N$r$p$salt$hash`` (base64), so the cost can be raised while old hashes still
verify. The cost is OWASP's current guidance for scrypt (Password Storage Cheat Sheet): N=2^17,
r=8, p=1 — 128 MiB and about 0.3 s per hash. A hash made with other parameters still verifies,
and :func:`needs_rehash` tells the sign-in to replace it (``Auth.login``).

At most :data:`CONCURRENT_HASHES` hashes are computed at once per process (the others wait):
with 128 MiB each, a burst of sign-ins on many threads must not exhaust the host's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

N, R, P = 2**17, 8, 1
_DKLEN = 32
MIN_LENGTH = 8
CONCURRENT_HASHES = 2
# a stored hash asking for more memory than this is refused, never computed (a corrupted or
# planted row must not make one sign-in allocate gigabytes)
MAX_MEMORY = 1 << 30

_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _memory(n: int, r: int, p: int) -> int:
    """What OpenSSL's scrypt allocates (its ``maxmem`` must cover it), with some headroom."""
    return 128 * r * (n + p + 2) + (1 << 16)


def _derive(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """The one place a hash is computed (the tests count the calls)."""
    with _slots:
        return hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            dklen=dklen,
            maxmem=_memory(n, r, p),
        )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, N, R, P, _DKLEN)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        parsed = int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest)
    except (ValueError, TypeError):
        return None
    if min(parsed[:3]) < 1 or _memory(*parsed[:3]) > MAX_MEMORY or not parsed[4]:
        return None
    return parsed


def verify_password(password: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _derive(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was not made with the current parameters (:data:`N`, :data:`R`,
    :data:`P`): the sign-in that just verified it stores a new hash."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (N, R, P) or len(parsed[4]) != _DKLEN

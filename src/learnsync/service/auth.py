"""Administrator sign-in: password check, server-side sessions, CSRF tokens.

The session cookie carries a random token; the database keeps only its SHA-256, with the
session's CSRF token (synchronizer-token pattern: every form and every API write must echo it).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

from learnsync.service.passwords import MIN_LENGTH, hash_password, verify_password
from learnsync.store.service_repository import ServiceRepository, SessionRecord

SESSION_LIFETIME = timedelta(hours=12)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so a wrong name costs as much time as a wrong
    password. Made on first use, not at import: scrypt is deliberately slow and memory-hungry,
    and the CLI imports this module for commands that never sign anyone in."""
    return hash_password(secrets.token_hex(8))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Auth:
    def __init__(self, repo: ServiceRepository) -> None:
        self.repo = repo

    def create_user(self, username: str, password: str) -> int:
        username = username.strip()
        if not username:
            raise ValueError("the user name must not be empty")
        if len(password) < MIN_LENGTH:
            raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
        return self.repo.create_user(username, hash_password(password))

    def login(self, username: str, password: str) -> str | None:
        """A new session token when the password is right, else None."""
        user = self.repo.get_user(username.strip())
        if user is None:
            verify_password(password, _dummy_hash())
            return None
        if not verify_password(password, user.password_hash):
            return None
        token = secrets.token_urlsafe(32)
        self.repo.create_session(
            token_hash(token), user.id, secrets.token_urlsafe(32), SESSION_LIFETIME
        )
        self.repo.touch_login(user.id)
        return token

    def session(self, token: str | None) -> SessionRecord | None:
        if not token:
            return None
        return self.repo.get_session(token_hash(token))

    def logout(self, token: str | None) -> None:
        if token:
            self.repo.delete_session(token_hash(token))


def csrf_ok(session: SessionRecord, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf_token, given or "")

"""Administrator sign-in: password check, throttling, server-side sessions, CSRF tokens.

The session cookie carries a random token; the database keeps only its SHA-256, with the
session's CSRF token (synchronizer-token pattern: every form and every API write must echo it).
A session ends :data:`SESSION_IDLE` after its last request or :data:`SESSION_LIFETIME` after the
sign-in, whichever comes first, when it is revoked (``learnsync admin sessions revoke``, a new
password, a disabled account) or at sign-out.

Sign-in attempts are counted per account and per client address in the store (every ``serve``
process shares the count) *before* the password is hashed: past the free attempts each one locks
the account (or the address) for a delay that doubles, and a locked attempt is refused with
:class:`LoginThrottled` without computing anything. Successes, failures and lockouts go to the
audit log (:mod:`learnsync.service.audit`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import secrets
from datetime import timedelta

from learnsync.service.audit import AuditAction, AuditLog
from learnsync.service.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from learnsync.store.service_repository import (
    AdminUserRecord,
    LoginAttempt,
    ServiceRepository,
    SessionRecord,
    ThrottleRule,
)

SESSION_LIFETIME = timedelta(hours=12)  # absolute: from the sign-in, whatever the activity
SESSION_IDLE = timedelta(minutes=30)  # from the session's last request
SESSION_TOUCH = timedelta(minutes=1)  # last_seen_at is written at most once a minute

# 5 attempts per account, 20 per client address, then 1 s, 2 s, 4 s … up to 15 min each
ACCOUNT_THROTTLE = ThrottleRule(free=5, base=timedelta(seconds=1), cap=timedelta(minutes=15))
CLIENT_THROTTLE = ThrottleRule(free=20, base=timedelta(seconds=1), cap=timedelta(minutes=15))
THROTTLE_MEMORY = timedelta(hours=24)  # attempts older than this (and no lock) are forgotten

UNKNOWN_ACTOR = "?"  # the audit log's actor for a sign-in name that is no administrator


class LoginThrottled(Exception):
    """Too many failed sign-ins for this account or this client address: try again in
    ``retry_after`` seconds (an HTTP 429 with ``Retry-After``). Nothing was checked."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after} s")
        self.retry_after = retry_after


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so a wrong name costs as much time as a wrong
    password. Made on first use, not at import: scrypt is deliberately slow and memory-hungry,
    and the CLI imports this module for commands that never sign anyone in."""
    return hash_password(secrets.token_hex(8))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def client_subject(client: str) -> str:
    """What a client address is counted as: an IPv4 address, or an IPv6 address's /64 (one
    host usually holds a whole /64); anything else (a proxy's name) as given."""
    text = client.strip().lower()
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def throttle_key(scope: str, subject: str) -> str:
    """The ``login_throttle`` key of an account (``user``) or a client address (``addr``)."""
    return hashlib.sha256(f"{scope}\0{subject}".encode()).hexdigest()


def _seconds(delay: timedelta) -> int:
    return max(1, math.ceil(delay.total_seconds()))


def _check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")


class Auth:
    def __init__(self, repo: ServiceRepository, audit: AuditLog | None = None) -> None:
        self.repo = repo
        self.audit = audit if audit is not None else AuditLog(repo)

    # ------------------------------------------------------------------ accounts

    def create_user(self, username: str, password: str, *, actor: str = "system") -> int:
        username = username.strip()
        if not username:
            raise ValueError("the user name must not be empty")
        _check_password(password)
        user_id = self.repo.create_user(username, hash_password(password))
        self.audit.record(actor, AuditAction.USER_CREATED, detail=f"administrator {username!r}")
        return user_id

    def _user(self, username: str) -> AdminUserRecord:
        user = self.repo.get_user(username.strip())
        if user is None:
            raise LookupError(f"no administrator named {username.strip()!r}")
        return user

    def set_password(self, username: str, password: str, *, actor: str) -> int:
        """A new password; the account's sessions end and its failed attempts are forgotten.
        Returns how many sessions ended. :class:`LookupError`, :class:`ValueError`."""
        _check_password(password)
        user = self._user(username)
        self.repo.set_password_hash(user.id, hash_password(password))
        ended = self.repo.delete_sessions(user.id)
        self.repo.clear_login_attempts([throttle_key("user", user.username)])
        self.audit.record(
            actor,
            AuditAction.PASSWORD_CHANGED,
            detail=f"administrator {user.username!r}, {ended} session(s) ended",
        )
        return ended

    def set_disabled(self, username: str, disabled: bool, *, actor: str) -> int:
        """Disable (its sessions end, it cannot sign in) or enable an administrator. Returns
        how many sessions ended."""
        user = self._user(username)
        self.repo.set_disabled(user.id, disabled)
        ended = self.repo.delete_sessions(user.id) if disabled else 0
        action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
        detail = f"administrator {user.username!r}" + (
            f", {ended} session(s) ended" if disabled else ""
        )
        self.audit.record(actor, action, detail=detail)
        return ended

    def revoke_sessions(self, username: str | None, *, actor: str) -> int:
        """End the sessions of ``username`` (None: everyone's); how many were live."""
        user = self._user(username) if username is not None else None
        ended = self.repo.delete_sessions(user.id if user is not None else None)
        whose = f"of administrator {user.username!r}" if user is not None else "of everyone"
        self.audit.record(
            actor, AuditAction.SESSIONS_REVOKED, detail=f"{ended} session(s) {whose} ended"
        )
        return ended

    # ------------------------------------------------------------------ sign-in

    def login(self, username: str, password: str, client: str | None = None) -> str | None:
        """A new session token when the password is right, else None.

        ``client``: the request's address (``request.client.host``), counted besides the
        account. Raises :class:`LoginThrottled` — before any hashing — while the account or
        the address is locked."""
        name = username.strip()
        subjects = {throttle_key("user", name): ("account", ACCOUNT_THROTTLE)}
        shown_client = client.strip()[:64] if client else None
        if client:
            subjects[throttle_key("addr", client_subject(client))] = (
                "client address",
                CLIENT_THROTTLE,
            )
        attempt = self.repo.begin_login_attempt(
            {key: rule for key, (_, rule) in subjects.items()}, forget_after=THROTTLE_MEMORY
        )
        if attempt.retry_after is not None:
            raise LoginThrottled(_seconds(attempt.retry_after))
        user = self.repo.get_user(name)
        if user is None:
            verify_password(password, _dummy_hash())
            self._failed(UNKNOWN_ACTOR, "unknown user name", shown_client, attempt, subjects)
            return None
        if not verify_password(password, user.password_hash):
            self._failed(user.username, "wrong password", shown_client, attempt, subjects)
            return None
        if user.disabled:
            self._failed(user.username, "account disabled", shown_client, attempt, subjects)
            return None
        if needs_rehash(user.password_hash):
            # the parameters were raised since this hash was made: the password is at hand
            self.repo.set_password_hash(
                user.id, hash_password(password), replacing=user.password_hash
            )
        self.repo.clear_login_attempts(list(subjects))
        token = secrets.token_urlsafe(32)
        self.repo.create_session(
            token_hash(token), user.id, secrets.token_urlsafe(32), SESSION_LIFETIME
        )
        self.repo.touch_login(user.id)
        self.audit.record(user.username, AuditAction.LOGIN, client=shown_client)
        return token

    def _failed(
        self,
        actor: str,
        reason: str,
        client: str | None,
        attempt: LoginAttempt,
        subjects: dict[str, tuple[str, ThrottleRule]],
    ) -> None:
        self.audit.record(actor, AuditAction.LOGIN_FAILED, detail=reason, client=client)
        for key, (attempts, lock) in attempt.locked.items():
            what = subjects[key][0]
            self.audit.record(
                actor,
                AuditAction.LOGIN_LOCKED,
                detail=f"{what} locked for {_seconds(lock)} s after {attempts} failed sign-ins",
                client=client,
            )

    # ------------------------------------------------------------------ sessions

    def session(self, token: str | None) -> SessionRecord | None:
        """The live session of this cookie value (idle and absolute timeouts checked; its
        last request moved to now), else None."""
        if not token:
            return None
        return self.repo.get_session(token_hash(token), SESSION_IDLE, touch_every=SESSION_TOUCH)

    def logout(self, token: str | None, *, client: str | None = None) -> None:
        if not token:
            return
        hashed = token_hash(token)
        live = self.repo.get_session(hashed, SESSION_IDLE)
        self.repo.delete_session(hashed)
        if live is not None:
            self.audit.record(
                live.username, AuditAction.LOGOUT, client=client.strip()[:64] if client else None
            )


def csrf_ok(session: SessionRecord, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf_token, given or "")

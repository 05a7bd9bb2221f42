"""Admin accounts (docs/security.md#admin-accounts): sign-in throttling before any hashing, the
lockout in the audit log, current password hashing with rehash at sign-in, idle and absolute
session timeouts on a fake clock, revocation, the ``learnsync admin`` commands, the audit log,
and migration 0010 — on SQLite and PostgreSQL (the ``url`` fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import Engine, MetaData, select
from sqlalchemy import text as text_

from learnsync.service import passwords
from learnsync.service.audit import AuditAction, AuditLog
from learnsync.service.auth import (
    ACCOUNT_THROTTLE,
    CLIENT_THROTTLE,
    SESSION_IDLE,
    SESSION_LIFETIME,
    Auth,
    LoginThrottled,
    client_subject,
)
from learnsync.service.secrets import KEY_ENV
from learnsync.store import Store
from learnsync.store.db import alembic_config, create_store_engine
from learnsync.store.service_repository import ServiceRepository, ThrottleRule
from store_support import T0, Clock

# the production scrypt cost: these tests are about the hashing and its rehash rule
pytestmark = pytest.mark.usefixtures("real_password_hashing")

PASSWORD = "correct horse battery"
RUN = (
    "from learnsync.cli import coursera, sandbox, service; "
    "from learnsync.cli.main import app; app(prog_name='learnsync')"
)


class Hashes:
    """Counts the scrypt computations (``passwords._derive``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cheap: bool) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        real = passwords._derive

        def counted(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
            with self._lock:
                self.calls += 1
            return real(password, salt, n, r, p, dklen)

        monkeypatch.setattr(passwords, "_derive", counted)
        if cheap:  # the tests' own hashes: the logic, not the cost, is under test here
            monkeypatch.setattr(passwords, "N", 2**10)


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    return Hashes(monkeypatch, cheap=True)


@pytest.fixture
def repo(store: Store, clock: Clock) -> ServiceRepository:
    return ServiceRepository.of_store(store, clock)


@pytest.fixture
def auth(repo: ServiceRepository, hashes: Hashes) -> Auth:
    made = Auth(repo)
    made.create_user("admin", PASSWORD)
    return made


def actions(auth: Auth) -> list[str]:
    """The audit log's actions, oldest first."""
    return [entry.action for entry in reversed(auth.audit.recent(1000))]


def attempts(auth: Auth, n: int, *, password: str = "wrong password", **kw: str) -> list[object]:
    """``n`` sign-ins: each a token, None or the LoginThrottled raised."""
    outcomes: list[object] = []
    for _ in range(n):
        try:
            outcomes.append(auth.login(kw.get("username", "admin"), password, kw.get("client")))
        except LoginThrottled as exc:
            outcomes.append(exc)
    return outcomes


# ---------------------------------------------------------------------- throttling


def test_a_flood_is_refused_before_any_hash_is_computed(
    auth: Auth, hashes: Hashes, clock: Clock
) -> None:
    hashes.calls = 0
    outcomes = attempts(auth, 50, client="198.51.100.7")
    refused = [o for o in outcomes if isinstance(o, LoginThrottled)]
    assert outcomes[: ACCOUNT_THROTTLE.free] == [None] * ACCOUNT_THROTTLE.free
    assert len(refused) == 50 - ACCOUNT_THROTTLE.free
    assert hashes.calls == ACCOUNT_THROTTLE.free  # the 45 refused attempts cost no scrypt
    assert {o.retry_after for o in refused} == {1}
    # the right password is refused too while the lock lasts, without being checked
    with pytest.raises(LoginThrottled):
        auth.login("admin", PASSWORD, "198.51.100.7")
    assert hashes.calls == ACCOUNT_THROTTLE.free
    # the lockout is in the audit log, once per lock, not once per refused attempt
    assert actions(auth) == ["user_created"] + ["login_failed"] * 5 + ["login_locked"]
    locked = auth.audit.recent(1, actions=(AuditAction.LOGIN_LOCKED,))[0]
    assert locked.actor == "admin" and locked.client == "198.51.100.7"
    assert locked.detail == "account locked for 1 s after 5 failed sign-ins"
    # once it ends: one attempt, which fails and doubles the lock
    clock.advance(seconds=1)
    assert attempts(auth, 1) == [None]
    assert auth.audit.recent(1, actions=(AuditAction.LOGIN_LOCKED,))[0].detail == (
        "account locked for 2 s after 6 failed sign-ins"
    )
    with pytest.raises(LoginThrottled) as caught:
        auth.login("admin", PASSWORD)
    assert caught.value.retry_after == 2
    clock.advance(seconds=2)
    assert auth.login("admin", PASSWORD) is not None  # the lock over, the right one works


def test_the_backoff_doubles_up_to_its_cap() -> None:
    rule = ThrottleRule(free=5, base=timedelta(seconds=1), cap=timedelta(minutes=15))
    assert [rule.lock_after(n) for n in (1, 4)] == [None, None]
    assert [rule.lock_after(n).total_seconds() for n in range(5, 11)] == [1, 2, 4, 8, 16, 32]
    assert rule.lock_after(15) == timedelta(minutes=15)
    assert rule.lock_after(10**6) == timedelta(minutes=15)


def test_a_success_starts_the_count_again(auth: Auth) -> None:
    assert attempts(auth, ACCOUNT_THROTTLE.free - 1) == [None] * (ACCOUNT_THROTTLE.free - 1)
    assert auth.login("admin", PASSWORD, "198.51.100.7") is not None
    assert attempts(auth, ACCOUNT_THROTTLE.free - 1) == [None] * (ACCOUNT_THROTTLE.free - 1)
    assert "login_locked" not in actions(auth)


def test_one_address_trying_many_names_is_throttled(auth: Auth, hashes: Hashes) -> None:
    names = [f"user{n}" for n in range(CLIENT_THROTTLE.free + 5)]
    outcomes = [attempts(auth, 1, username=name, client="203.0.113.9")[0] for name in names]
    assert outcomes[: CLIENT_THROTTLE.free] == [None] * CLIENT_THROTTLE.free
    assert all(isinstance(o, LoginThrottled) for o in outcomes[CLIENT_THROTTLE.free :])
    # another address is not concerned; the unknown names are logged without the name given
    assert auth.login("admin", PASSWORD, "203.0.113.10") is not None
    failed = auth.audit.recent(100, actions=(AuditAction.LOGIN_FAILED,))
    assert {e.actor for e in failed} == {"?"}
    assert {e.detail for e in failed} == {"unknown user name"}
    locked = auth.audit.recent(1, actions=(AuditAction.LOGIN_LOCKED,))[0]
    assert locked.detail.startswith("client address locked for 1 s after 20 failed")


def test_an_ipv6_client_is_counted_by_its_64() -> None:
    assert client_subject("2001:db8:1:2:aaaa::1") == client_subject("2001:db8:1:2:bbbb::9")
    assert client_subject("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_subject("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_subject(" 192.0.2.1 ") == "192.0.2.1"
    assert client_subject("testclient") == "testclient"


def test_concurrent_attempts_see_each_other(auth: Auth, hashes: Hashes) -> None:
    """Counted before the hash: parallel guesses cannot all slip in before the first fails."""
    hashes.calls = 0
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: attempts(auth, 1)[0], range(40)))
    assert outcomes.count(None) == ACCOUNT_THROTTLE.free
    assert hashes.calls == ACCOUNT_THROTTLE.free


def test_processes_share_the_count(url: str, auth: Auth, clock: Clock) -> None:
    """The state is in the store: another process (its own engine) sees the lock."""
    attempts(auth, ACCOUNT_THROTTLE.free)
    with Store.open(url, clock=clock) as other_store:
        other = Auth(ServiceRepository.of_store(other_store, clock))
        with pytest.raises(LoginThrottled):
            other.login("admin", PASSWORD)


def test_old_attempts_are_forgotten(auth: Auth, clock: Clock) -> None:
    attempts(auth, ACCOUNT_THROTTLE.free - 1)
    clock.advance(hours=25)
    assert attempts(auth, ACCOUNT_THROTTLE.free - 1) == [None] * (ACCOUNT_THROTTLE.free - 1)


# ---------------------------------------------------------------------- password hashing


def test_hashes_use_the_current_scrypt_parameters() -> None:
    assert (passwords.N, passwords.R, passwords.P) == (2**17, 8, 1)  # OWASP's guidance
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("scrypt$131072$8$1$")
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.needs_rehash(stored)


def test_a_weaker_hash_is_replaced_at_sign_in(repo: ServiceRepository, hashes: Hashes) -> None:
    auth = Auth(repo)
    old = _hash_with(PASSWORD, 2**4)
    repo.create_user("old", old)
    assert passwords.needs_rehash(old)
    assert auth.login("old", "not the password") is None
    assert repo.get_user("old").password_hash == old  # a failure changes nothing
    assert auth.login("old", PASSWORD) is not None
    new = repo.get_user("old").password_hash
    assert new != old and new.startswith(f"scrypt${passwords.N}$8$1$")
    assert not passwords.needs_rehash(new)
    assert auth.login("old", PASSWORD) is not None
    assert repo.get_user("old").password_hash == new  # current: left alone


def test_a_rehash_never_undoes_a_password_change(repo: ServiceRepository, hashes: Hashes) -> None:
    user_id = repo.create_user("a", _hash_with(PASSWORD, 2**4))
    changed = passwords.hash_password("the new password")
    assert repo.set_password_hash(user_id, changed)
    assert not repo.set_password_hash(user_id, "rehash", replacing=_hash_with(PASSWORD, 2**4))
    assert repo.get_user("a").password_hash == changed


def test_a_planted_hash_cannot_make_a_sign_in_allocate_gigabytes() -> None:
    assert not passwords.verify_password(PASSWORD, "scrypt$1073741824$8$1$AAAA$AAAA")
    assert not passwords.verify_password(PASSWORD, "scrypt$0$8$1$AAAA$AAAA")


def _hash_with(password: str, n: int) -> str:
    import base64
    import hashlib

    salt = b"s" * 16
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"scrypt${n}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


# ---------------------------------------------------------------------- sessions


def test_a_session_ends_after_30_idle_minutes(auth: Auth, clock: Clock) -> None:
    assert timedelta(minutes=30) == SESSION_IDLE
    token = auth.login("admin", PASSWORD)
    for _ in range(4):  # each request moves the idle deadline
        clock.advance(minutes=29)
        assert auth.session(token) is not None
    clock.advance(minutes=31)
    assert auth.session(token) is None


def test_a_session_ends_12_hours_after_the_sign_in_however_busy(auth: Auth, clock: Clock) -> None:
    assert timedelta(hours=12) == SESSION_LIFETIME
    token = auth.login("admin", PASSWORD)
    end = clock.now + SESSION_LIFETIME
    while clock.now + timedelta(minutes=10) < end:
        clock.advance(minutes=10)
        assert auth.session(token) is not None
    clock.now = end
    assert auth.session(token) is None


def test_sessions_are_revoked(auth: Auth) -> None:
    auth.create_user("other", PASSWORD)
    mine = [auth.login("admin", PASSWORD) for _ in range(2)]
    theirs = auth.login("other", PASSWORD)
    assert auth.revoke_sessions("admin", actor="cli:root") == 2
    assert [auth.session(t) for t in mine] == [None, None]
    assert auth.session(theirs) is not None
    auth.logout(theirs, client="192.0.2.1")
    assert auth.session(theirs) is None
    again = auth.login("other", PASSWORD)
    assert auth.revoke_sessions(None, actor="cli:root") == 1
    assert auth.session(again) is None
    with pytest.raises(LookupError, match="no administrator named 'nobody'"):
        auth.revoke_sessions("nobody", actor="cli:root")
    revoked = auth.audit.recent(2, actions=(AuditAction.SESSIONS_REVOKED,))
    assert [e.detail for e in revoked] == [
        "1 session(s) of everyone ended",
        "2 session(s) of administrator 'admin' ended",
    ]
    logout = auth.audit.recent(1, actions=(AuditAction.LOGOUT,))[0]
    assert (logout.actor, logout.client) == ("other", "192.0.2.1")


def test_a_disabled_administrator_cannot_sign_in(auth: Auth) -> None:
    token = auth.login("admin", PASSWORD)
    assert auth.set_disabled("admin", True, actor="cli:root") == 1
    assert auth.session(token) is None
    assert auth.login("admin", PASSWORD) is None
    failed = auth.audit.recent(1, actions=(AuditAction.LOGIN_FAILED,))[0]
    assert (failed.actor, failed.detail) == ("admin", "account disabled")
    assert auth.set_disabled("admin", False, actor="cli:root") == 0
    assert auth.login("admin", PASSWORD) is not None


def test_a_new_password_ends_the_sessions_and_the_lock(auth: Auth) -> None:
    token = auth.login("admin", PASSWORD)
    attempts(auth, ACCOUNT_THROTTLE.free + 1)
    with pytest.raises(LoginThrottled):
        auth.login("admin", PASSWORD)
    assert auth.set_password("admin", "another long one", actor="cli:root") == 1
    assert auth.session(token) is None
    assert auth.login("admin", PASSWORD) is None
    assert auth.login("admin", "another long one") is not None
    with pytest.raises(ValueError, match="at least 8"):
        auth.set_password("admin", "short", actor="cli:root")


# ---------------------------------------------------------------------- audit log


def test_audit_record_and_recent(repo: ServiceRepository, clock: Clock) -> None:
    log = AuditLog(repo)
    log.record("ann", AuditAction.SETTINGS_CHANGED, 3, "label, client secret changed")
    clock.advance(seconds=1)
    log.record("ann", "sync_now", 3, "content")
    log.record("bob", AuditAction.CANCEL, 4, "run 12\n\x1b[31mforged line", client="192.0.2.1")
    log.record("bob", AuditAction.SETUP, None, "x" * 900)
    with pytest.raises(ValueError):
        log.record("bob", "drop_tables")
    newest = log.recent(2)
    assert [e.action for e in newest] == ["setup", "cancel"]
    assert len(newest[0].detail) == 500 and newest[0].detail.endswith("…")
    assert newest[1].detail == "run 12\ufffd\ufffd[31mforged line"  # one printable line
    assert newest[1].client == "192.0.2.1" and newest[1].integration_id == 4
    mine = log.recent(10, integration_id=3)
    assert [(e.actor, e.action, e.detail) for e in mine] == [
        ("ann", "sync_now", "content"),
        ("ann", "settings_changed", "label, client secret changed"),
    ]
    assert mine[1].at == T0 and mine[0].at == T0 + timedelta(seconds=1)
    assert log.recent(0) == []


def test_no_password_reaches_the_audit_log(auth: Auth) -> None:
    attempts(auth, 2, password="wrong-secret-1")
    attempts(auth, 1, username=PASSWORD, password="x", client="192.0.2.1")  # name field typo
    auth.login("admin", PASSWORD, "192.0.2.1")
    text = repr(auth.audit.recent(100))
    assert "wrong-secret-1" not in text and PASSWORD not in text
    assert [e.action for e in auth.audit.recent(100)].count("login") == 1
    # the throttle keeps hashes of the names and addresses, never the names themselves
    with auth.repo.engine.connect() as conn:
        rows = conn.execute(text_("SELECT * FROM login_throttle")).all()
    assert rows and all(PASSWORD not in str(row) and "admin" not in str(row) for row in rows)


def test_reprs_show_no_password_hash_and_no_csrf_token(auth: Auth) -> None:
    token = auth.login("admin", PASSWORD)
    session = auth.session(token)
    user = auth.repo.get_user("admin")
    assert session is not None and user is not None
    assert session.csrf_token not in repr(session) and user.password_hash not in repr(user)


# ---------------------------------------------------------------------- migration 0010


def test_0010_keeps_users_and_sessions(url: str) -> None:
    engine = _at(url, "0009")
    try:
        meta = MetaData()
        meta.reflect(engine)
        users, sessions = meta.tables["admin_users"], meta.tables["admin_sessions"]
        with engine.begin() as conn:
            conn.execute(
                users.insert().values(id=1, username="admin", password_hash="h", created_at=T0)
            )
            conn.execute(
                sessions.insert().values(
                    token_hash="t" * 64,
                    user_id=1,
                    csrf_token="c",
                    created_at=T0,
                    expires_at=T0 + SESSION_LIFETIME,
                )
            )
    finally:
        engine.dispose()
    with Store.open(url, clock=Clock(T0 + timedelta(minutes=5))) as store:
        repo = ServiceRepository.of_store(store, Clock(T0 + timedelta(minutes=5)))
        user = repo.get_user("admin")
        assert user is not None and user.disabled is False
        session = repo.get_session("t" * 64, SESSION_IDLE)
        assert session is not None and session.last_seen_at == T0  # was: its creation
        meta = MetaData()
        meta.reflect(store.engine)
        assert {"login_throttle", "audit_log"} <= set(meta.tables)
        with store.engine.connect() as conn:
            seen = conn.execute(select(meta.tables["admin_sessions"].c.last_seen_at)).scalar()
        assert seen is not None


def _at(url: str, revision: str) -> Engine:
    engine = create_store_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


# ---------------------------------------------------------------------- the admin commands


def cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_SECRET")}
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=120,
    )


@pytest.fixture
def cli_store(tmp_path: Path) -> Iterator[str]:
    store = f"sqlite:///{tmp_path / 'admin.db'}"
    key = Fernet.generate_key().decode()
    made = cli(
        "admin", "create-user", "admin", "--store", store, "--password-stdin",
        stdin=PASSWORD + "\n", env={KEY_ENV: key},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    yield store


def test_admin_commands(cli_store: str) -> None:
    store = cli_store
    with Store.open(store) as opened:
        auth = Auth(ServiceRepository.of_store(opened))
        token = auth.login("admin", PASSWORD)
        assert token is not None
    # no secret key needed for the accounts: none is read
    changed = cli(
        "admin", "set-password", "admin", "--store", store, "--password-stdin",
        stdin="a brand new password\n",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "1 session(s) ended" in changed.stdout
    assert "a brand new password" not in changed.stdout + changed.stderr
    disabled = cli("admin", "disable", "admin", "--store", store)
    assert disabled.returncode == 0 and "disabled" in disabled.stdout
    with Store.open(store) as opened:
        auth = Auth(ServiceRepository.of_store(opened))
        assert auth.session(token) is None
        assert auth.login("admin", "a brand new password") is None
    enabled = cli("admin", "enable", "admin", "--store", store)
    assert enabled.returncode == 0 and "enabled" in enabled.stdout
    with Store.open(store) as opened:
        auth = Auth(ServiceRepository.of_store(opened))
        assert auth.login("admin", "a brand new password") is not None
        assert auth.login("admin", "a brand new password") is not None
    one = cli("admin", "sessions", "revoke", "admin", "--store", store)
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "2 session(s) of administrator 'admin' ended"
    every = cli("admin", "sessions", "revoke", "--all", "--store", store)
    assert every.returncode == 0 and every.stdout.strip() == "0 session(s) ended"
    with Store.open(store) as opened:
        entries = AuditLog(ServiceRepository.of_store(opened)).recent(100)
    cli_entries = [e for e in entries if e.actor.startswith("cli:")]
    assert [e.action for e in reversed(cli_entries)] == [
        "user_created",
        "password_changed",
        "user_disabled",
        "user_enabled",
        "sessions_revoked",
        "sessions_revoked",
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (("set-password", "nobody", "--password-stdin"), "long enough pw\n", "no administrator"),
        (("set-password", "admin", "--password-stdin"), "short\n", "at least 8"),
        (("set-password", "admin"), "", "no terminal"),
        (("disable", "nobody"), "", "no administrator named 'nobody'"),
        (("sessions", "revoke"), "", "either a USERNAME or --all"),
        (("sessions", "revoke", "admin", "--all"), "", "either a USERNAME or --all"),
    ],
)
def test_admin_command_errors_are_one_line(
    cli_store: str, args: tuple[str, ...], stdin: str, words: str
) -> None:
    done = cli("admin", *args, "--store", cli_store, stdin=stdin)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("learnsync: error: ")
    assert words in done.stderr

"""Repository functions for the service tables (:mod:`learnsync.store.service_models`) and the
service's side of ``integrations`` (its settings and encrypted secrets, migration 0004).

Like :class:`~learnsync.store.repository.Store`, every method runs its own short transaction and
speaks in plain dataclasses. Secret columns go in and out as ciphertext only: encryption is the
caller's job (:mod:`learnsync.service.secrets`), so this module never sees a secret in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from learnsync.model.integration import SETTING_FIELDS
from learnsync.store import bulk, db
from learnsync.store.clock import Clock, utc_now
from learnsync.store.models import Integration
from learnsync.store.repository import Store
from learnsync.store.service_models import (
    SETUP_STATUSES,
    AdminSession,
    AdminUser,
    AuditEntry,
    LoginThrottle,
    Schedule,
)

SECRET_COLUMNS = (
    "coursera_client_secret_enc",
    "coursera_refresh_token_enc",
    "threesixty_client_secret_enc",
)
SETTING_COLUMNS = SETTING_FIELDS  # learnsync.model.integration.IntegrationSchema
_TOKEN = "coursera_refresh_token_enc"
# setting → ``integrations`` column, where the pipelines already had the same fact
_COLUMNS = {"coursera_org_id": "org_id", "threesixty_base_url": "base_url"}
DEFAULT_SCHEDULES = {"content": "08:45", "stats": "09:00"}
DEFAULT_TIMEZONE = "Europe/Paris"


@dataclass(frozen=True, slots=True)
class AdminUserRecord:
    id: int
    username: str
    password_hash: str = field(repr=False)
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SessionRecord:
    user_id: int
    username: str
    csrf_token: str = field(repr=False)
    expires_at: datetime  # the absolute end
    last_seen_at: datetime | None = None  # the idle timeout counts from here


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """``free`` attempts since the last success pass; from the ``free``-th on, each attempt
    locks the key for ``base`` doubled per attempt beyond it, at most ``cap``."""

    free: int
    base: timedelta
    cap: timedelta

    def lock_after(self, attempts: int) -> timedelta | None:
        if attempts < self.free:
            return None
        doublings = min(attempts - self.free, 40)  # 2**40 s is far beyond any cap
        delay: timedelta = self.base * (1 << doublings)
        return min(self.cap, delay)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """What :meth:`ServiceRepository.begin_login_attempt` decided. ``retry_after``: the attempt
    is refused (a key is locked) for that long; else it was counted, and ``locked`` holds the
    keys this attempt locked (key → (attempts, lock)), which a failure makes a lockout."""

    retry_after: timedelta | None
    locked: dict[str, tuple[int, timedelta]]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    integration_id: int | None
    client: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class IntegrationSettings:
    """An integration's settings without its secrets (only whether each one is set).

    ``id`` is the integration's stable identity (``integrations.id``); ``key`` was set when it
    was created and is never recomputed from the settings."""

    id: int
    key: str
    label: str
    coursera_org_id: str
    coursera_client_id: str
    coursera_api_base: str
    coursera_token_url: str
    coursera_program_id: str
    coursera_auth: str
    threesixty_base_url: str
    threesixty_client_id: str
    group_id: str
    author_id: str
    integration_name: str
    archive_removed: bool
    content_type_overrides: dict[str, str]
    setup_status: str
    setup_message: str | None
    setup_checked_at: datetime | None
    coursera_token_used_at: datetime | None
    has_coursera_client_secret: bool
    has_coursera_refresh_token: bool
    has_threesixty_client_secret: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    integration_id: int
    kind: str
    time_of_day: str
    timezone: str
    enabled: bool
    last_slot_at: datetime | None


class ServiceRepository:
    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    @classmethod
    def of_store(cls, store: Store, clock: Clock = utc_now) -> ServiceRepository:
        """The service's tables in the store's database, through the store's engine (one pool)."""
        return cls(store.engine, clock)

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # ------------------------------------------------------------------ admin users

    def create_user(self, username: str, password_hash: str) -> int:
        """A new administrator; :class:`ValueError` when the name is taken."""
        table = AdminUser.__table__
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    insert(table).values(
                        username=username, password_hash=password_hash, created_at=self.now()
                    )
                )
                return db.inserted_id(result)
        except IntegrityError:
            raise ValueError(f"an administrator named {username!r} already exists") from None

    def get_user(self, username: str) -> AdminUserRecord | None:
        table = AdminUser.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.id, table.c.username, table.c.password_hash, table.c.disabled).where(
                    table.c.username == username
                )
            ).one_or_none()
        return AdminUserRecord(row[0], row[1], row[2], bool(row[3])) if row is not None else None

    def count_users(self) -> int:
        table = AdminUser.__table__
        with self.engine.connect() as conn:
            return len(conn.execute(select(table.c.id)).all())

    def touch_login(self, user_id: int) -> None:
        table = AdminUser.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.id == user_id).values(last_login_at=self.now())
            )

    def set_password_hash(
        self, user_id: int, password_hash: str, *, replacing: str | None = None
    ) -> bool:
        """Store a new hash; with ``replacing``, only if the stored one is still that (a rehash
        at sign-in never undoes a password change made meanwhile). False when nothing changed."""
        table = AdminUser.__table__
        where = [table.c.id == user_id]
        if replacing is not None:
            where.append(table.c.password_hash == replacing)
        with self.engine.begin() as conn:
            result = conn.execute(update(table).where(*where).values(password_hash=password_hash))
        return result.rowcount == 1

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        table = AdminUser.__table__
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == user_id).values(disabled=disabled))

    # ------------------------------------------------------------------ sessions

    def create_session(
        self, token_hash: str, user_id: int, csrf_token: str, lifetime: timedelta
    ) -> None:
        now = self.now()
        table = AdminSession.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.expires_at < now))
            conn.execute(
                insert(table).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=now + lifetime,
                    last_seen_at=now,
                )
            )

    def get_session(
        self,
        token_hash: str,
        idle: timedelta | None = None,
        *,
        touch_every: timedelta = timedelta(0),
    ) -> SessionRecord | None:
        """The live session: before its absolute end, seen within ``idle`` (None: no idle
        timeout), of an administrator who is not disabled. Its ``last_seen_at`` is moved to
        now when it is older than ``touch_every`` (fewer writes for frequent requests)."""
        now = self.now()
        s, u = AdminSession.__table__, AdminUser.__table__
        live = [s.c.token_hash == token_hash, s.c.expires_at > now, u.c.disabled.is_(False)]
        if idle is not None:
            live.append(s.c.last_seen_at > now - idle)
        stmt = (
            select(s.c.user_id, u.c.username, s.c.csrf_token, s.c.expires_at, s.c.last_seen_at)
            .join(u, u.c.id == s.c.user_id)
            .where(*live)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        record = SessionRecord(*row)
        if record.last_seen_at is None or now - record.last_seen_at >= touch_every:
            with self.engine.begin() as conn:
                conn.execute(
                    update(s)
                    .where(s.c.token_hash == token_hash, s.c.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return record

    def delete_session(self, token_hash: str) -> None:
        table = AdminSession.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.token_hash == token_hash))

    def delete_sessions(self, user_id: int | None = None) -> int:
        """End every session of ``user_id`` (None: of everyone); how many were live."""
        table = AdminSession.__table__
        now = self.now()
        mine = [] if user_id is None else [table.c.user_id == user_id]
        with self.engine.begin() as conn:
            live = conn.execute(
                select(func.count()).select_from(table).where(*mine, table.c.expires_at > now)
            ).scalar_one()
            conn.execute(delete(table).where(*mine))
        return int(live)

    # ------------------------------------------------------------------ sign-in throttle

    def begin_login_attempt(
        self, rules: Mapping[str, ThrottleRule], *, forget_after: timedelta
    ) -> LoginAttempt:
        """Count one sign-in attempt against each key of ``rules`` — before the password is
        checked, so concurrent attempts see each other — unless a key is locked: then nothing
        is counted and the attempt is refused. One transaction that other processes' attempts
        wait for (SQLite's write lock, PostgreSQL's row locks). Rows whose last attempt is older
        than ``forget_after`` (and not locked) are forgotten first."""
        now = self.now()
        table = LoginThrottle.__table__
        keys = list(rules)
        with db.write_transaction(self.engine) as conn:
            conn.execute(
                delete(table).where(
                    table.c.last_attempt_at < now - forget_after,
                    or_(table.c.locked_until.is_(None), table.c.locked_until <= now),
                )
            )
            conn.execute(
                bulk.dialect_insert(conn, table)
                .values([{"key": k, "attempts": 0, "last_attempt_at": now} for k in keys])
                .on_conflict_do_nothing(index_elements=["key"])
            )
            rows = {
                row.key: row
                for row in conn.execute(
                    select(table.c.key, table.c.attempts, table.c.locked_until)
                    .where(table.c.key.in_(keys))
                    .with_for_update()
                )
            }
            waits = [
                row.locked_until - now
                for row in rows.values()
                if row.locked_until is not None and row.locked_until > now
            ]
            if waits:
                return LoginAttempt(max(waits), {})
            locked: dict[str, tuple[int, timedelta]] = {}
            for key, rule in rules.items():
                attempts = int(rows[key].attempts) + 1
                lock = rule.lock_after(attempts)
                if lock is not None:
                    locked[key] = (attempts, lock)
                conn.execute(
                    update(table)
                    .where(table.c.key == key)
                    .values(
                        attempts=attempts,
                        locked_until=now + lock if lock is not None else None,
                        last_attempt_at=now,
                    )
                )
        return LoginAttempt(None, locked)

    def clear_login_attempts(self, keys: list[str]) -> None:
        """A successful sign-in: its keys start again from zero."""
        table = LoginThrottle.__table__
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.key.in_(keys)))

    # ------------------------------------------------------------------ audit log

    def add_audit(
        self,
        actor: str,
        action: str,
        *,
        integration_id: int | None = None,
        client: str | None = None,
        detail: str = "",
    ) -> int:
        table = AuditEntry.__table__
        with self.engine.begin() as conn:
            return db.inserted_id(
                conn.execute(
                    insert(table).values(
                        at=self.now(),
                        actor=actor,
                        action=action,
                        integration_id=integration_id,
                        client=client,
                        detail=detail,
                    )
                )
            )

    def recent_audit(
        self, limit: int, *, integration_id: int | None = None, actions: tuple[str, ...] = ()
    ) -> list[AuditRecord]:
        """The newest entries first (by id: the order they were written in)."""
        table = AuditEntry.__table__
        stmt = select(
            table.c.id,
            table.c.at,
            table.c.actor,
            table.c.action,
            table.c.integration_id,
            table.c.client,
            table.c.detail,
        )
        where = []
        if integration_id is not None:
            where.append(table.c.integration_id == integration_id)
        if actions:
            where.append(table.c.action.in_(actions))
        stmt = stmt.where(and_(*where)) if where else stmt
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(table.c.id.desc()).limit(limit)).all()
        return [AuditRecord(*row) for row in rows]

    # ------------------------------------------------------------------ secrets at rest

    def reencrypt_secrets(self, reencrypt: Callable[[str], str]) -> tuple[int, int]:
        """Replace every stored secret (every integration's ``*_enc`` columns) by
        ``reencrypt(ciphertext)``, in one transaction: if it raises for any, nothing changed.
        Returns (integrations, secrets) re-encrypted."""
        table = Integration.__table__
        columns = [table.c[name] for name in SECRET_COLUMNS]
        rows_done = secrets_done = 0
        with db.write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(table.c.id, *columns).order_by(table.c.id).with_for_update()
            ).all()
            for row in rows:
                values = {
                    name: reencrypt(value)
                    for name, value in zip(SECRET_COLUMNS, row[1:], strict=True)
                    if value
                }
                if not values:
                    continue
                conn.execute(update(table).where(table.c.id == row[0]).values(**values))
                rows_done += 1
                secrets_done += len(values)
        return rows_done, secrets_done

    # ------------------------------------------------------------------ integrations

    def create_integration(
        self, settings: Mapping[str, Any], secrets_enc: Mapping[str, str | None], *, key: str
    ) -> int:
        """A new integration (and its two default schedules); :class:`ValueError` on a taken
        label.

        ``key`` (:attr:`learnsync.config.Config.integration_key`) is stored once, here. An
        integration only config-file runs knew (same key, no label) is adopted with its state;
        a key a renamed integration still holds gets a ``#n`` suffix (the two stay apart).
        """
        _known(settings, SETTING_COLUMNS)
        _known(secrets_enc, SECRET_COLUMNS)
        now = self.now()
        table = Integration.__table__
        values = {
            **_columns(settings),
            **dict(secrets_enc),
            # a refresh token starts its 14 days when it is issued (stored)
            "coursera_token_used_at": now if secrets_enc.get(_TOKEN) else None,
            "setup_status": "new",
            "setup_message": None,
            "setup_checked_at": None,
            "updated_at": now,
        }
        if "integration_name" in settings:
            values["name"] = settings["integration_name"]
        try:
            with self.engine.begin() as conn:
                taken = {
                    row.key: row
                    for row in conn.execute(
                        select(table.c.id, table.c.key, table.c.label).where(
                            table.c.key.startswith(key, autoescape=True)
                        )
                    )
                }
                adopted = taken.get(key)
                if adopted is not None and adopted.label is None:
                    conn.execute(update(table).where(table.c.id == adopted.id).values(**values))
                    new_id = int(adopted.id)
                else:
                    unique = key
                    n = 2
                    while unique in taken:
                        unique, n = f"{key}#{n}", n + 1
                    new_id = db.inserted_id(
                        conn.execute(
                            insert(table).values(
                                {
                                    "languages": [],
                                    "content_types": [],
                                    "content_type_overrides": {},
                                    **values,
                                    "key": unique,
                                    "created_at": now,
                                }
                            )
                        )
                    )
                existing = {
                    kind
                    for kind in conn.execute(
                        select(Schedule.__table__.c.kind).where(
                            Schedule.__table__.c.integration_id == new_id
                        )
                    ).scalars()
                }
                missing = {k: at for k, at in DEFAULT_SCHEDULES.items() if k not in existing}
                if not missing:
                    return new_id
                conn.execute(
                    insert(Schedule.__table__),
                    [
                        {
                            "integration_id": new_id,
                            "kind": kind,
                            "time_of_day": at,
                            "timezone": DEFAULT_TIMEZONE,
                            "enabled": True,
                            # a new integration has missed nothing: its first run is the next slot
                            "last_slot_at": now,
                        }
                        for kind, at in missing.items()
                    ],
                )
                return new_id
        except IntegrityError:
            raise ValueError(f"an integration named {settings.get('label')!r} exists") from None

    def update_integration(
        self,
        integration_id: int,
        settings: Mapping[str, Any],
        secrets_enc: Mapping[str, str | None] | None = None,
    ) -> None:
        """Update the given settings; a secret is replaced only when given (write-only fields).

        The integration keeps its id and its key: filters, runs and item states stay with it
        whatever is renamed (integration name, group, platform URL)."""
        _known(settings, SETTING_COLUMNS)
        values = {**_columns(settings), **{k: v for k, v in (secrets_enc or {}).items() if v}}
        _known(values, tuple(_columns(dict.fromkeys(SETTING_COLUMNS))) + SECRET_COLUMNS)
        if "integration_name" in settings:
            values["name"] = settings["integration_name"]
        if values.get(_TOKEN):
            values["coursera_token_used_at"] = self.now()  # a new token: its 14 days start now
        table = Integration.__table__
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(table)
                    .where(table.c.id == integration_id, table.c.label.is_not(None))
                    .values(**values, updated_at=self.now())
                )
        except IntegrityError:
            raise ValueError(f"an integration named {settings.get('label')!r} exists") from None
        if result.rowcount == 0:
            raise LookupError(f"no integration with id {integration_id}")

    def set_setup_result(self, integration_id: int, status: str, message: str | None) -> None:
        if status not in SETUP_STATUSES:
            raise ValueError(f"setup status must be one of {', '.join(SETUP_STATUSES)}")
        table = Integration.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == integration_id)
                .values(setup_status=status, setup_message=message, setup_checked_at=self.now())
            )

    def mark_token_used(self, integration_id: int, at: datetime | None = None) -> None:
        """Remember that the Coursera refresh token worked (or was just issued) at ``at``."""
        table = Integration.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == integration_id)
                .values(coursera_token_used_at=at or self.now())
            )

    def get_integration(self, integration_id: int) -> IntegrationSettings | None:
        """The service integration ``integration_id`` (None also for a config-file-only one)."""
        table = Integration.__table__
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table).where(table.c.id == integration_id, table.c.label.is_not(None))
            ).one_or_none()
        return _settings(row._mapping) if row is not None else None

    def list_integrations(self) -> list[IntegrationSettings]:
        """The integrations the service manages (a label), not those only config files run."""
        table = Integration.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(table).where(table.c.label.is_not(None)).order_by(table.c.label, table.c.id)
            ).all()
        return [_settings(row._mapping) for row in rows]

    def get_encrypted_secrets(self, integration_id: int) -> dict[str, str | None]:
        table = Integration.__table__
        columns = [table.c[name] for name in SECRET_COLUMNS]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*columns).where(table.c.id == integration_id, table.c.label.is_not(None))
            ).one_or_none()
        if row is None:
            raise LookupError(f"no integration with id {integration_id}")
        return dict(row._mapping)

    # ------------------------------------------------------------------ schedules

    def list_schedules(self, integration_id: int | None = None) -> list[ScheduleRecord]:
        table = Schedule.__table__
        stmt = select(table).order_by(table.c.integration_id, table.c.kind)
        if integration_id is not None:
            stmt = stmt.where(table.c.integration_id == integration_id)
        with self.engine.connect() as conn:
            return [ScheduleRecord(**row._mapping) for row in conn.execute(stmt)]

    def set_schedule(
        self, integration_id: int, kind: str, *, time_of_day: str, timezone: str, enabled: bool
    ) -> None:
        """Change a schedule. An edit starts from now: a slot of the new time that is already
        past today is not "missed" (it would otherwise run at once)."""
        table = Schedule.__table__
        now = self.now()
        mine = (table.c.integration_id == integration_id, table.c.kind == kind)
        with self.engine.begin() as conn:
            last = conn.execute(select(table.c.last_slot_at).where(*mine)).scalar_one_or_none()
            result = conn.execute(
                update(table)
                .where(*mine)
                .values(
                    time_of_day=time_of_day,
                    timezone=timezone,
                    enabled=enabled,
                    last_slot_at=max(last, now) if last is not None else now,
                )
            )
            if result.rowcount == 0:
                conn.execute(
                    insert(table).values(
                        integration_id=integration_id,
                        kind=kind,
                        time_of_day=time_of_day,
                        timezone=timezone,
                        enabled=enabled,
                        last_slot_at=self.now(),
                    )
                )

    def claim_slot(self, integration_id: int, kind: str, slot: datetime) -> bool:
        """Mark ``slot`` as started; False when it (or a later one) already was — by this or
        another process. This compare-and-set is what makes a slot run once."""
        table = Schedule.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(
                    table.c.integration_id == integration_id,
                    table.c.kind == kind,
                    or_(table.c.last_slot_at.is_(None), table.c.last_slot_at < slot),
                )
                .values(last_slot_at=slot)
            )
        return result.rowcount == 1

    def unclaim_slot(self, integration_id: int, kind: str, slot: datetime) -> None:
        """Give a claimed slot back (its run could not start); it becomes due again."""
        table = Schedule.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(
                    table.c.integration_id == integration_id,
                    table.c.kind == kind,
                    table.c.last_slot_at == slot,
                )
                .values(last_slot_at=slot - timedelta(microseconds=1))
            )


def _known(values: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(values) - set(allowed)
    if unknown:
        raise TypeError(f"unknown integration fields: {', '.join(sorted(unknown))}")


def _columns(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings → ``integrations`` columns."""
    return {_COLUMNS.get(k, k): v for k, v in settings.items()}


def _settings(row: RowMapping) -> IntegrationSettings:
    plain = {
        k: row[_COLUMNS.get(k, k)]
        for k in IntegrationSettings.__slots__
        if not k.startswith("has_") and _COLUMNS.get(k, k) in row
    }
    return IntegrationSettings(
        **plain,
        has_coursera_client_secret=bool(row["coursera_client_secret_enc"]),
        has_coursera_refresh_token=bool(row["coursera_refresh_token_enc"]),
        has_threesixty_client_secret=bool(row["threesixty_client_secret_enc"]),
    )

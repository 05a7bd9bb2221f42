"""The audit log: who did what, when, to which integration (table ``audit_log``, migration 0010).

One row per action of an administrator or an operator: sign-ins (successful, failed, locked),
sign-outs, settings changes, setup, filter changes, manual runs, imports, cancellations and the
``learnsync admin`` commands. ``detail`` is a short printable line saying what changed — never a
secret: callers name fields ("client secret changed"), never values.

Usage (the web routes)::

    service.auth.audit.record(session.username, AuditAction.SYNC_NOW, integration_id, "content")
    service.auth.audit.recent(50)
"""

from __future__ import annotations

import getpass
import logging
import os
from enum import StrEnum

from learnsync.store.service_repository import AuditRecord, ServiceRepository

__all__ = ["AuditAction", "AuditLog", "AuditRecord", "cli_actor"]

log = logging.getLogger("learnsync.audit")

MAX_ACTOR = 255
MAX_DETAIL = 500
MAX_CLIENT = 64


class AuditAction(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    LOGOUT = "logout"
    SETTINGS_CHANGED = "settings_changed"  # an integration created or its settings saved
    SETUP = "setup"  # Setup integration
    FILTERS_CHANGED = "filters_changed"
    SCHEDULE_CHANGED = "schedule_changed"
    SYNC_NOW = "sync_now"
    IMPORT = "import"  # a config file imported (web or `learnsync integrations import`)
    CANCEL = "cancel"  # a run cancelled
    USER_CREATED = "user_created"
    PASSWORD_CHANGED = "password_changed"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    SESSIONS_REVOKED = "sessions_revoked"
    KEY_ROTATED = "key_rotated"


def _line(text: str, limit: int) -> str:
    """One printable line of at most ``limit`` characters (control and format characters —
    newlines, escapes, bidi controls — become U+FFFD)."""
    clean = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def cli_actor() -> str:
    """Who runs a ``learnsync admin`` command: ``cli:<operating-system user>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (some containers)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"cli:{user}"


class AuditLog:
    def __init__(self, repo: ServiceRepository) -> None:
        self.repo = repo

    def record(
        self,
        actor: str,
        action: AuditAction | str,
        integration_id: int | None = None,
        detail: str = "",
        *,
        client: str | None = None,
    ) -> None:
        """Append one entry. ``actor``: the administrator's user name (``cli:<user>`` for a
        command, ``?`` for an unknown sign-in name); ``client``: the request's address.
        :class:`ValueError` for an action not in :class:`AuditAction`."""
        kind = AuditAction(action)
        who = _line(actor, MAX_ACTOR) or "?"
        where = _line(client, MAX_CLIENT) if client else None
        what = _line(detail, MAX_DETAIL)
        self.repo.add_audit(
            who, kind.value, integration_id=integration_id, client=where, detail=what
        )
        log.log(
            logging.WARNING if kind is AuditAction.LOGIN_LOCKED else logging.INFO,
            "audit: %s by %s%s%s%s",
            kind.value,
            who,
            f" from {where}" if where else "",
            f" (integration {integration_id})" if integration_id is not None else "",
            f": {what}" if what else "",
        )

    def recent(
        self,
        limit: int = 100,
        *,
        integration_id: int | None = None,
        actions: tuple[AuditAction, ...] = (),
    ) -> list[AuditRecord]:
        """The newest ``limit`` entries, newest first (of one integration, of some actions)."""
        return self.repo.recent_audit(
            max(0, limit), integration_id=integration_id, actions=tuple(a.value for a in actions)
        )

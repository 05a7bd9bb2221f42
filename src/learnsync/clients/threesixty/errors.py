"""What 360Learning's refusals mean, in words an administrator can act on (reference §1.4, §6.4)."""

from __future__ import annotations

import re
from typing import Any

from learnsync.errors import AuthError, BulkOperationError

API = "360Learning"

# (method or "*", path regex, scope) — first match wins; reference §1.4
_SCOPES: tuple[tuple[str, str, str], ...] = (
    ("*", r"^/api/v2/bulk/operations(/|$)", "bulkOperations:read"),
    ("*", r"^/api/v2/bulk/integrations/", "integrations:bulk"),
    ("*", r"^/api/v2/bulk/groups/", "groups:bulk"),
    ("GET", r"^/api/v2/integrations(/|$)", "integrations:read"),
    ("*", r"^/api/v2/integrations(/|$)", "integrations:write"),
    ("GET", r"^/api/v2/courses/stats(/|$)", "courseStats:read"),
    ("GET", r"^/api/v2/courses/[^/]+/tags$", "tags:read"),
    ("GET", r"^/api/v2/courses(/|$)", "courses:read"),
    ("*", r"^/api/v2/courses(/|$)", "courses:write"),
    ("GET", r"^/api/v2/users(/|$)", "users:read"),
    ("GET", r"^/api/v2/groups(/|$)", "groups:read"),
    ("GET", r"^/api/v2/tags(/|$)", "tags:read"),
    ("*", r"^/api/v2/tags(/|$)", "tags:write"),
)
# scopes 360Learning grants only through the customer's Customer Success Partner
RESTRICTED_SCOPES = frozenset({"integrations:bulk", "groups:bulk"})

_OBJECT_ID = re.compile(r"/[0-9a-fA-F]{24}(?=/|$)")


def scope_for(method: str, path: str) -> str | None:
    """The OAuth scope 360Learning requires for ``method path``, when known."""
    for want, pattern, scope in _SCOPES:
        if (want == "*" or want == method.upper()) and re.search(pattern, path):
            return scope
    return None


def display_path(path: str) -> str:
    """``path`` with ids elided, e.g. ``/api/v2/bulk/operations/…``."""
    return _OBJECT_ID.sub("/…", path)


def missing_scope(method: str, path: str) -> AuthError:
    scope = scope_for(method, path)
    route = f"{method.upper()} {display_path(path)}"
    if scope is None:
        return AuthError(
            f"360Learning refused {route} (403 invalid_scope): the API credential lacks a "
            "scope this route needs — check its scopes in the API v2 admin panel"
        )
    hint = " — add it in the API v2 admin panel"
    if scope in RESTRICTED_SCOPES:
        hint += (
            " (a restricted scope: ask your 360Learning Customer Success Partner to enable it "
            "for the company first)"
        )
    return AuthError(
        f"360Learning refused {route}: the API credential lacks the scope {scope}{hint}"
    )


class BatchFailed(BulkOperationError):
    """A bulk operation ended in ``error``: ``batch`` was not applied.

    ``in_flight`` holds the batches submitted after it whose outcome was not awaited — treat them
    as not applied too (re-sending them is safe: upserts, archives and statistics are keyed).
    Batches that ``run_batches`` yielded before this error were applied.
    """

    def __init__(
        self,
        message: str,
        *,
        batch: list[dict[str, Any]],
        in_flight: list[list[dict[str, Any]]],
        operation: dict[str, Any],
        operation_url: str,
    ) -> None:
        super().__init__(message, status=200, code="bulkOperationError", body=operation, api=API)
        self.batch = batch
        self.in_flight = in_flight
        self.operation = operation
        self.operation_url = operation_url

    @property
    def not_applied(self) -> list[list[dict[str, Any]]]:
        return [self.batch, *self.in_flight]

"""What 360Learning's refusals mean, in words an administrator can act on.

The scopes and error bodies: docs/api-notes.md#scopes and
docs/api-notes.md#360learning-error-bodies."""

from __future__ import annotations

import re

from learnsync.errors import AuthError

API = "360Learning"

# (method or "*", path regex, scope) — first match wins; docs/api-notes.md#scopes
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

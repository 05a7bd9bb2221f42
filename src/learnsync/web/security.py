"""Who may call what, and what every answer says about itself.

Sessions for everything but the public paths, CSRF on every write (:func:`csrf_guard`), the
security headers on every response (:class:`SecurityHeadersMiddleware`), and the optional bearer
token of ``/metrics`` (:func:`metrics_allowed`). The middlewares are pure ASGI: none buffers or
reads a request body.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Iterable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnsync.service.auth import Auth, csrf_ok

SESSION_COOKIE = "learnsync_session"
LOGIN_CSRF_COOKIE = "learnsync_login_csrf"
#: Paths open without a session: the login form and its stylesheet, the probes. ``/metrics``
#: takes a bearer token instead when :data:`METRICS_TOKEN_ENV` is set.
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics", "/static/style.css"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METRICS_TOKEN_ENV = "LEARNSYNC_METRICS_TOKEN"

#: Scripts, styles, images and requests from the app's own origin only: no inline script or
#: style (the pages' CSS and JS are static files; the charts' SVG uses presentation attributes
#: only), no plugin, no framing, forms post only back here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Cache-Control", "no-store"),
)
#: Sent when the cookies are ``Secure`` (served over HTTPS): a year, this host only.
STRICT_TRANSPORT_SECURITY = ("Strict-Transport-Security", "max-age=31536000")


def security_headers(*, hsts: bool) -> tuple[tuple[str, str], ...]:
    return SECURITY_HEADERS + ((STRICT_TRANSPORT_SECURITY,) if hsts else ())


def scope_path(request: HTTPConnection) -> str:
    """The path the router dispatches on: the ASGI scope's, never one rebuilt from the ``Host``
    header (``request.url``), which a client controls."""
    return str(request.scope.get("path", ""))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response that passes it (pages, API, static files,
    redirects, 404s, 413s) unless the response set its own value; the 500 answer is built with
    them (``create_app``'s error handler), as it is sent from outside every middleware."""

    def __init__(self, app: ASGIApp, headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                raw += [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, with_headers)


class SessionMiddleware:
    """Refuses anonymous requests to anything but :data:`PUBLIC_PATHS` (pages: a redirect to the
    login page; the API and writes: 401); the session is ``request.state.session``."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        session = self.auth.session(connection.cookies.get(SESSION_COOKIE))
        scope.setdefault("state", {})["session"] = session
        path = scope_path(connection)
        if session is None and path not in PUBLIC_PATHS:
            wants_page = scope["method"] == "GET" and not path.startswith("/api/")
            if wants_page:
                refusal: JSONResponse | RedirectResponse = RedirectResponse("/login", 303)
            else:
                refusal = JSONResponse({"detail": "sign in first"}, status_code=401)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def metrics_token_from_env() -> str | None:
    """``LEARNSYNC_METRICS_TOKEN`` (blank: unset, ``/metrics`` anonymous)."""
    return os.environ.get(METRICS_TOKEN_ENV, "").strip() or None


def metrics_allowed(request: Request, token: str | None) -> bool:
    """No token configured: anyone; else ``Authorization: Bearer <token>``, compared in
    constant time."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def csrf_guard(request: Request) -> None:
    """App-wide dependency: a write must carry the CSRF token (form field or header)."""
    if request.method not in UNSAFE:
        return
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if given is not None and not given.isascii():
        given = None  # a token is ASCII (hmac.compare_digest refuses to compare other text)
    if scope_path(request) == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
            await request.close()
            raise HTTPException(403, "the form expired: reload the login page and try again")
        return
    session = getattr(request.state, "session", None)
    if session is None or not csrf_ok(session, given):
        await request.close()  # a refused upload's temporary files
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")

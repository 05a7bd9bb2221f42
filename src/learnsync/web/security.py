"""Who may call what, and what every answer says about itself.

Sessions for everything but the public paths, CSRF on every write (:func:`csrf_guard`), the
security headers on every response (:class:`SecurityHeadersMiddleware`), and the optional bearer
token of ``/metrics`` (:func:`metrics_allowed`). The middlewares are pure ASGI: none buffers a
request body, and only one reads one — a form posted to a settings or schedules page after its
session ended, whose non-secret fields are kept as a draft (:class:`~learnsync.web.forms.Drafts`).

Sign-in keeps where the administrator was going: a page opened without a session redirects to
``/login?next=<path>`` (:func:`safe_next` accepts only a path on this site), and a form posted
after the session ended — with the cookie and the CSRF token of that session, so no other site
can plant one — is kept as a draft the page shows again after sign-in (secrets excepted).
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnsync.service.auth import Auth, csrf_ok, token_hash
from learnsync.web.forms import Drafts

SESSION_COOKIE = "learnsync_session"
LOGIN_CSRF_COOKIE = "learnsync_login_csrf"
#: Paths open without a session: the login form and its stylesheet, the probes. ``/metrics``
#: takes a bearer token instead when :data:`METRICS_TOKEN_ENV` is set.
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics", "/static/style.css"})
# pages under /api/ (the API reference): signed out, a browser is sent to sign in first
API_PAGES = frozenset({"/api/docs"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
METRICS_TOKEN_ENV = "LEARNSYNC_METRICS_TOKEN"
#: Where a sign-in lands without a ``next`` (and pages that need none to come back to).
HOME = "/integrations"
#: The forms whose non-secret fields survive an expired session (settings, schedules).
DRAFT_PATHS = re.compile(r"/integrations/(?:new|[0-9]{1,18}|[0-9]{1,18}/schedules)")
NEXT_MAX = 2000  # characters of a ``next`` path

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


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a path on this site to go to after sign-in, else None: it starts
    with one ``/`` (not ``//host``), has no scheme, host, backslash or control character, and
    is not the sign-in or sign-out page itself (no open redirect)."""
    if not value or len(value) > NEXT_MAX or not value.isascii():
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if any(not c.isprintable() or c.isspace() for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path in ("/login", "/logout"):
        return None
    return value


def login_url(next_path: str | None = None, **params: str) -> str:
    """``/login`` with ``next`` (when safe and not the home page) and other parameters."""
    query = [f"{k}={quote(v, safe='')}" for k, v in params.items() if v]
    target = safe_next(next_path)
    if target and target not in (HOME, "/") and not target.startswith("/static/"):
        query.append(f"next={quote(target, safe='')}")
    return "/login" + ("?" + "&".join(query) if query else "")


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
    login page with ``next``; the API and writes: 401); the session is
    ``request.state.session``. A settings or schedules form posted once its session ended is
    kept as a draft (``drafts``) and the browser sent to sign in, back to that form."""

    def __init__(self, app: ASGIApp, auth: Auth, drafts: Drafts | None = None) -> None:
        self.app = app
        self.auth = auth
        self.drafts = drafts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        cookie = connection.cookies.get(SESSION_COOKIE)
        session = self.auth.session(cookie)
        scope.setdefault("state", {})["session"] = session
        path = scope_path(connection)
        if session is None and path not in PUBLIC_PATHS:
            refusal = await self._refusal(scope, receive, path, cookie)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(
        self, scope: Scope, receive: Receive, path: str, cookie: str | None
    ) -> JSONResponse | RedirectResponse:
        method = scope["method"]
        if method == "GET" and (not path.startswith("/api/") or path in API_PAGES):
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            return RedirectResponse(login_url(target, expired="1" if cookie else ""), 303)
        if method == "POST" and cookie and self.drafts is not None and DRAFT_PATHS.fullmatch(path):
            draft = await self._keep_draft(scope, receive, path, cookie)
            if draft is not None:
                return RedirectResponse(login_url(f"{path}?draft={draft}", expired="1"), 303)
        accept = dict(scope.get("headers", [])).get(b"accept", b"")
        if method == "POST" and b"text/html" in accept and not path.startswith("/api/"):
            # a browser's form without a session (nothing kept): to sign in, back to the form
            back = path if DRAFT_PATHS.fullmatch(path) else None
            return RedirectResponse(login_url(back, expired="1" if cookie else ""), 303)
        return JSONResponse({"detail": "sign in first"}, status_code=401)

    async def _keep_draft(
        self, scope: Scope, receive: Receive, path: str, cookie: str
    ) -> str | None:
        """The draft of a form posted with the cookie and CSRF token of a session that ended
        by its idle timeout (still within its lifetime, its administrator not disabled), else
        None. The body read is bounded by the body limits, outside this middleware."""
        assert self.drafts is not None
        # idle timeout off, never touched (that would make the ended session live again)
        ended = self.auth.repo.get_session(token_hash(cookie), None, touch_every=timedelta.max)
        content_type = dict(scope.get("headers", [])).get(b"content-type", b"")
        if ended is None or not content_type.startswith(b"application/x-www-form-urlencoded"):
            return None
        request = Request(scope, receive)
        form = await request.form()
        given = form.get("csrf_token")
        if not isinstance(given, str) or not given.isascii() or not csrf_ok(ended, given):
            return None
        return self.drafts.put(ended.user_id, path, dict(form.items()))


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

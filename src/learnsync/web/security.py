"""Who may call what: sessions for everything but the public paths, CSRF on every write."""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from learnsync.service.auth import Auth, csrf_ok

SESSION_COOKIE = "learnsync_session"
LOGIN_CSRF_COOKIE = "learnsync_login_csrf"
PUBLIC_PATHS = frozenset({"/login", "/healthz", "/metrics"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def scope_path(request: Request) -> str:
    """The path the router dispatches on: the ASGI scope's, never one rebuilt from the ``Host``
    header (``request.url``), which a client controls."""
    return str(request.scope.get("path", ""))


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


class SessionMiddleware(BaseHTTPMiddleware):
    """Refuses anonymous requests to anything but :data:`PUBLIC_PATHS` (pages: a redirect to the
    login page; the API and writes: 401)."""

    def __init__(self, app: object, auth: Auth) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.auth = auth

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        session = self.auth.session(request.cookies.get(SESSION_COOKIE))
        request.state.session = session
        path = scope_path(request)
        if session is None and path not in PUBLIC_PATHS:
            wants_page = request.method == "GET" and not path.startswith("/api/")
            if wants_page:
                return RedirectResponse("/login", status_code=303)
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


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
    if scope_path(request) == "/login":
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
        if not expected or not given or not hmac.compare_digest(expected, given):
            await request.close()
            raise HTTPException(403, "the form expired: reload the login page and try again")
        return
    session = getattr(request.state, "session", None)
    if session is None or not csrf_ok(session, given):
        await request.close()  # a refused upload's temporary files
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")

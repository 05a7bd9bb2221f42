"""Coursera OAuth2: the legacy refresh-token flow, the client-credentials flow, and the helpers of
``learnsync coursera authorize`` (docs/api-notes.md#coursera-legacy-oauth2-flow).

An access token is cached until five minutes before it expires (as Coursera's own client does);
``invalidate`` drops it after a 401 so the next request mints a new one. A refused refresh token or
client is an :class:`~learnsync.errors.AuthError` whose message says what to do — never the secret.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

from learnsync.errors import ApiError, AuthError
from learnsync.http import HttpSession, RetryPolicy, decode_body, error_code
from learnsync.http.tokens import TokenCache

API = "Coursera"
AUTHORIZE_SCOPE = "view_profile access_business_api"
DEFAULT_LIFETIME = 1800.0  # a token answer without a readable expires_in: 30 minutes


class OAuthApp(Protocol):
    """The Coursera app the OAuth requests name (``CourseraSettings`` of the config meets it)."""

    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def token_url(self) -> str: ...


class CourseraCredentials(OAuthApp, Protocol):
    """An app and how it mints access tokens (``auth``: ``refresh_token`` or
    ``client_credentials``)."""

    @property
    def refresh_token(self) -> str: ...
    @property
    def auth(self) -> str: ...


def _basic(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _token_refused(body: Any, status: int, flow: str) -> AuthError:
    code = error_code(body) or f"HTTP {status}"
    if flow == "refresh_token" and code == "invalid_grant":
        return AuthError(
            "the Coursera refresh token was refused (invalid_grant): create a new one with "
            "`learnsync coursera authorize` and put it in [coursera] refresh_token "
            "(refresh tokens lapse after 14 days without use)"
        )
    if code in ("invalid_client", "unauthorized_client") or status == 401:
        return AuthError(
            f"Coursera refused the client credentials ({code}): check [coursera] client_id and "
            "client_secret (and [coursera] auth: 'refresh_token' for an App Console app, "
            "'client_credentials' for a developer-portal app)"
        )
    return AuthError(
        f"Coursera refused the token request ({code}): check the [coursera] credentials and "
        "token_url"
    )


class CourseraAuth:
    """Mints and caches Coursera access tokens for ``settings`` through ``session``."""

    def __init__(
        self,
        settings: CourseraCredentials,
        session: HttpSession,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self._cache = TokenCache(clock, default_lifetime=DEFAULT_LIFETIME)
        session.add_secret(settings.client_secret)
        session.add_secret(getattr(settings, "refresh_token", ""))

    @property
    def flow(self) -> str:
        return getattr(self.settings, "auth", "refresh_token") or "refresh_token"

    def token(self) -> str:
        """A valid access token, from the cache when it has more than five minutes left."""
        return self._cache.get() or self._fetch()

    def invalidate(self) -> None:
        self._cache.clear()

    def _fetch(self) -> str:
        s = self.settings
        headers = {"Accept": "application/json"}
        if self.flow == "client_credentials":
            headers["Authorization"] = _basic(s.client_id, s.client_secret)
            form = {"grant_type": "client_credentials"}
        else:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": s.refresh_token,
                "client_id": s.client_id,
                "client_secret": s.client_secret,
            }
        # minting a token changes nothing on the server: safe to retry like a GET
        response = self.session.send(
            "POST", s.token_url, kind="token", idempotent=True, headers=headers, data=form
        )
        body = self.session.scrub(decode_body(response))
        if response.status_code in (400, 401, 403):
            raise _token_refused(body, response.status_code, self.flow)
        if response.status_code != 200:
            raise ApiError(
                f"the Coursera token endpoint answered HTTP {response.status_code}; "
                "try again later",
                status=response.status_code,
                code=error_code(body),
                body=body,
                api=API,
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiError(
                "the Coursera token endpoint answered without an access_token",
                status=response.status_code,
                api=API,
            )
        self.session.add_secret(token)
        return self._cache.put(token, body)


def authorize_url(token_url: str) -> str:
    """The browser authorization URL next to ``token_url`` (``…/token`` → ``…/auth``)."""
    base = token_url.rstrip("/")
    if base.endswith("/token"):
        return base[: -len("/token")] + "/auth"
    return base + "/auth"


def build_authorize_url(settings_like: OAuthApp, redirect_uri: str, state: str) -> str:
    """The URL the service account opens to grant offline access."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings_like.client_id,
            "redirect_uri": redirect_uri,
            "scope": AUTHORIZE_SCOPE,
            "state": state,
            "access_type": "offline",
        }
    )
    return f"{authorize_url(settings_like.token_url)}?{query}"


def exchange_code(
    settings_like: OAuthApp,
    code: str,
    redirect_uri: str,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Trade an authorization ``code`` for a refresh token (``grant_type=authorization_code``)."""
    session = HttpSession(api=API, transport=transport, retry=retry, sleep=sleep)
    for secret in (settings_like.client_secret, code):
        session.add_secret(secret)
    try:
        response = session.send(
            "POST",
            settings_like.token_url,
            kind="token",
            # a code is single-use: a second try after a lost answer would only be refused
            idempotent=False,
            headers={"Accept": "application/json"},
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": settings_like.client_id,
                "client_secret": settings_like.client_secret,
                "redirect_uri": redirect_uri,
                "access_type": "offline",
            },
        )
        body = session.scrub(decode_body(response))
    finally:
        session.close()
    if response.status_code in (400, 401, 403):
        code_name = error_code(body) or f"HTTP {response.status_code}"
        if code_name == "invalid_grant":
            raise AuthError(
                "Coursera refused the authorization code (invalid_grant): codes are single-use "
                "and expire within minutes, and redirect_uri must match the app's exactly; run "
                "`learnsync coursera authorize` again"
            )
        raise _token_refused(body, response.status_code, "authorization_code")
    refresh = body.get("refresh_token") if isinstance(body, dict) else None
    if response.status_code != 200 or not isinstance(refresh, str) or not refresh:
        raise ApiError(
            f"the Coursera token endpoint answered HTTP {response.status_code} without a "
            "refresh_token; check that access_type=offline was granted and try again",
            status=response.status_code,
            code=error_code(body),
            api=API,
        )
    return refresh

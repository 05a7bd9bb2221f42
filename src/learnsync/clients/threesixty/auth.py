"""360Learning API v2 tokens: client credentials, JSON body, one hour
(docs/api-notes.md#token-endpoint).

The token is renewed five minutes before it expires and after a 401 (``invalidate``). A refused
credential is an :class:`~learnsync.errors.AuthError` naming the config keys to check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from learnsync.errors import ApiError, AuthError
from learnsync.http import HttpSession, decode_body, error_code
from learnsync.http.tokens import TokenCache

API = "360Learning"
DEFAULT_LIFETIME = 3600.0  # 360Learning tokens last one hour


class ThreeSixtyCredentials(Protocol):
    """A 360Learning API credential and its platform (``ThreeSixtySettings`` of the config)."""

    @property
    def base_url(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...


class ThreeSixtyAuth:
    def __init__(
        self,
        settings: ThreeSixtyCredentials,
        session: HttpSession,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.token_url = f"{settings.base_url.rstrip('/')}/api/v2/oauth2/token"
        self._cache = TokenCache(clock, default_lifetime=DEFAULT_LIFETIME)
        session.add_secret(settings.client_secret)

    def token(self) -> str:
        return self._cache.get() or self._fetch()

    def invalidate(self) -> None:
        self._cache.clear()

    def _fetch(self) -> str:
        s = self.settings
        response = self.session.send(
            "POST",
            self.token_url,
            kind="token",
            idempotent=True,  # minting a token has no effect on the platform
            headers={"Accept": "application/json"},
            json={
                "grant_type": "client_credentials",
                "client_id": s.client_id,
                "client_secret": s.client_secret,
            },
        )
        body = self.session.scrub(decode_body(response))
        code = error_code(body)
        if response.status_code == 401 or code == "invalid_client":
            raise AuthError(
                f"360Learning refused the client credentials ({code or 'HTTP 401'}): check "
                "[threesixty] client_id and client_secret, and base_url (EU "
                "https://app.360learning.com or US https://app.us.360learning.com)"
            )
        if response.status_code in (400, 403):
            raise AuthError(
                f"360Learning refused the token request ({code or response.status_code}): "
                "check [threesixty] client_id and client_secret"
            )
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise ApiError(
                f"the 360Learning token endpoint answered HTTP {response.status_code} without "
                "an access token; try again later",
                status=response.status_code,
                code=code,
                body=body,
                api=API,
            )
        self.session.add_secret(token)
        return self._cache.put(token, body)

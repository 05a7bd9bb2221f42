"""The 360Learning API v2 client (the target): integrations, bulk writes, course archiving and
the reads of the setup check (group, author).

Every request carries ``360-api-version: v2.0``, ``Accept: application/json`` and the bearer token,
and goes only to the origin of ``base_url`` (scheme, host and port): a URL 360Learning hands out
(a ``Link`` to the next page, a bulk ``Location``) elsewhere is refused before any request.
Error mapping: 401 → one re-authentication and one retry, then ``AuthError``; 403 → ``AuthError``
naming the missing scope; 503 ``bulkAPIDisabled`` (after the policy's retries) and any other
refusal → ``ApiError`` with status, code and body.

Limits on what 360Learning sends (docs/clients.md#limits-on-upstreams): each answer and each
attempt as :mod:`learnsync.http.session` bounds them (32 MiB, 300 s); a listing page holds at
most ``MAX_PAGE_ITEMS`` items and a listing at most ``max_pages`` pages (``PagingError``); bulk
results and operation polling: :mod:`~learnsync.clients.threesixty.bulk`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from learnsync.clients.threesixty.auth import ThreeSixtyAuth, ThreeSixtyCredentials
from learnsync.clients.threesixty.bulk import OPERATION_WAIT, BulkMixin
from learnsync.clients.threesixty.errors import API, display_path, missing_scope
from learnsync.errors import ApiError, AuthError, ConfigError, PagingError
from learnsync.http import (
    DEFAULT_TIMEOUT,
    MAX_BODY_BYTES,
    REQUEST_DEADLINE,
    HttpSession,
    RateLimiter,
    RetryPolicy,
    decode_body,
    error_code,
    error_text,
)
from learnsync.http.client import SessionClient
from learnsync.http.ratelimit import Limiter
from learnsync.http.shared import BulkSlots
from learnsync.http.urls import same_origin
from learnsync.http.waiting import Budget

API_VERSION = "v2.0"
# what learnsync creates (docs/sync-rules.md#the-360learning-integration): Start → completed at
# 0 %, visible in public subgroups
INTEGRATION_DEFAULTS: dict[str, Any] = {
    "defaultCompletion": True,
    "defaultProgress": 0,
    "noGroupPropagation": False,
}
# listings page by 100 (integrations) or 500 (courses); more than twice the larger is refused
MAX_PAGE_ITEMS = 1_000
MAX_PAGES = 1_000  # pages of one listing: 500,000 courses


class ThreeSixtyClient(SessionClient, BulkMixin):
    def __init__(
        self,
        settings: ThreeSixtyCredentials,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        poll_initial: float = 0.2,
        poll_max: float = 5.0,
        wait_timeout: float = OPERATION_WAIT,
        concurrency_patience: float = 600.0,
        slot_wait_initial: float = 1.0,
        slot_wait_max: float = 30.0,
        reads_per_second: float = 50.0,
        writes_per_second: float = 10.0,
        deadline: float = REQUEST_DEADLINE,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_pages: int = MAX_PAGES,
        limiter: Limiter | None = None,
        slots: BulkSlots | None = None,
    ) -> None:
        """``limiter``/``slots``: the company's rate limiter and bulk slots shared with the
        other runs (:class:`~learnsync.http.shared.SharedLimits`); without them, this client's
        own buckets of ``reads_per_second``/``writes_per_second`` and only its own operations
        counted against the three slots."""
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self.slots = slots
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.max_pages = max_pages
        self.max_body_bytes = max_body_bytes
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.wait_timeout = wait_timeout
        self.concurrency_patience = concurrency_patience
        self.slot_wait_initial = slot_wait_initial
        self.slot_wait_max = slot_wait_max
        self.session = HttpSession(
            api=API,
            transport=transport,
            retry=self.retry,
            limiter=limiter
            or RateLimiter.threesixty(
                reads_per_second=reads_per_second,
                writes_per_second=writes_per_second,
                clock=clock,
                sleep=sleep,
            ),
            sleep=sleep,
            clock=clock,
            timeout=DEFAULT_TIMEOUT,
            deadline=deadline,
            max_body_bytes=max_body_bytes,
        )
        self.auth = ThreeSixtyAuth(settings, self.session, clock=clock)

    # -- integrations --------------------------------------------------------------------------

    def list_integrations(self, external_platform: str | None = None) -> list[dict[str, Any]]:
        params = {"externalPlatform[eq]": external_platform} if external_platform else {}
        return list(self._iter_linked("/api/v2/integrations", params, kind="integrations"))

    def create_integration(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self._request(
            "POST", "/api/v2/integrations", kind="integrations", json=body, ok=(200, 201)
        )
        return self._object(response)

    def update_integration(self, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /api/v2/integrations/{id}``: the given fields changed, the others kept. The
        answer has no ``_id`` (api-notes.md): the one given is added."""
        path = f"/api/v2/integrations/{quote(integration_id, safe='')}"
        # the same partial update twice leaves the same integration: safe to retry
        response = self._request("PATCH", path, kind="integrations", json=body, idempotent=True)
        return {**self._object(response), "_id": integration_id}

    def ensure_integration(
        self, *, name: str, group_id: str, author_id: str, known_id: str | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """Find the integration ``name`` of ``group_id``; when missing, rename the remembered
        one (``known_id``: its name, group or author changed in learnsync's settings), or create
        it when there is none; return it and warnings."""
        existing = self.find_integration(name, group_id)
        if existing is not None:
            return existing, default_warnings(existing)
        body = {"externalPlatform": name, "groupId": group_id, "authorId": author_id}
        try:
            if known_id:
                try:
                    renamed = self.update_integration(known_id, body)
                    return renamed, default_warnings(renamed)
                except ApiError as exc:
                    if exc.code != "integrationNotFound":
                        raise
                    # deleted in 360Learning: a new one (prepare_integration warns)
            return self.create_integration({**body, **INTEGRATION_DEFAULTS}), []
        except ApiError as exc:
            if exc.code == "duplicateExternalPlatform":
                # created meanwhile (or a lost answer to our own create): list again
                existing = self.find_integration(name, group_id)
                if existing is not None:
                    return existing, default_warnings(existing)
                raise ConfigError(
                    f"360Learning says the integration name {name!r} is already used in this "
                    "group by a configuration learnsync cannot see: choose another "
                    "integration_name in [threesixty]"
                ) from None
            if exc.code == "reservedPlatformName":
                raise ConfigError(
                    f"360Learning reserves the integration name {name!r} (reservedPlatformName): "
                    "choose another integration_name in [threesixty], e.g. 'Coursera for Business'"
                ) from None
            if exc.code == "groupNotFound":
                raise ConfigError(
                    f"360Learning does not know group {group_id} (groupNotFound): check "
                    "[threesixty] group_id"
                ) from None
            if exc.code == "userNotFound":
                raise ConfigError(
                    f"360Learning does not know user {author_id} (userNotFound): check "
                    "[threesixty] author_id (an editor or admin of the group)"
                ) from None
            raise

    def find_integration(self, name: str, group_id: str) -> dict[str, Any] | None:
        """The integration ``name`` of ``group_id``, or None (a dry run looks without creating)."""
        for item in self.list_integrations(name):
            if item.get("externalPlatform") == name and item.get("groupId") == group_id:
                return item
        return None

    # -- courses, groups, users ----------------------------------------------------------------

    def set_course_archived(self, course_id: str, archived: bool) -> dict[str, Any]:
        path = f"/api/v2/courses/{quote(course_id, safe='')}/archive"
        response = self._request("PUT", path, kind="course_archive", json={"archived": archived})
        return self._object(response)

    def archived_course_ids(self, group_id: str) -> set[str]:
        """The ids of the external courses of ``group_id`` archived now: ``GET /api/v2/courses``
        with ``status[eq]=archived`` (500 a page, ``Link`` paging; scope ``courses:read``)."""
        params = {"status[eq]": "archived", "type[eq]": "external", "groupId[eq]": group_id}
        return {
            str(course["_id"])
            for course in self._iter_linked("/api/v2/courses", params, kind="courses")
            if isinstance(course, dict) and course.get("_id")
        }

    def get_group(self, group_id: str) -> dict[str, Any]:
        path = f"/api/v2/groups/{quote(group_id, safe='')}"
        return self._object(self._request("GET", path, kind="groups"))

    def get_user(self, user_id: str) -> dict[str, Any]:
        path = f"/api/v2/users/{quote(user_id, safe='')}"
        return self._object(self._request("GET", path, kind="users"))

    # -- the request core ----------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return self.base_url + path_or_url

    def _request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        retry: RetryPolicy | None = None,
        ok: tuple[int, ...] = (200,),
        budget: Budget | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        url = self._url(url)
        if not same_origin(url, self.base_url):  # every request passes here: the token stays home
            raise ApiError(
                f"refusing to send {method} {display_path(urlsplit(url).path)} ({kind}) to "
                f"{_origin(url)}: only the origin of [threesixty] base_url "
                f"({_origin(self.base_url)}) gets the 360Learning token",
                code="foreignOrigin",
                api=API,
            )
        args = (method, url, kind, params, json, idempotent, retry, budget, max_body_bytes)
        response = self._send(*args)
        if response.status_code == 401:
            self.auth.invalidate()
            response = self._send(*args)
        if response.status_code in ok:
            return response
        raise self._error(method, url, response)

    def _send(
        self,
        method: str,
        url: str,
        kind: str,
        params: dict[str, Any] | None,
        json: Any,
        idempotent: bool | None,
        retry: RetryPolicy | None,
        budget: Budget | None = None,
        max_body_bytes: int | None = None,
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.auth.token()}",
            "360-api-version": API_VERSION,
            "Accept": "application/json",
        }
        return self.session.send(
            method,
            url,
            kind=kind,
            idempotent=idempotent,
            retry=retry,
            headers=headers,
            params=params,
            json=json,
            budget=budget,
            max_body_bytes=max_body_bytes,
        )

    def _error(self, method: str, url: str, response: httpx.Response) -> Exception:
        status = response.status_code
        path = urlsplit(url).path
        route = f"{method} {display_path(path)}"
        body = self.session.scrub(decode_body(response))
        code = error_code(body)
        if status == 401:
            return AuthError(
                f"360Learning refused a fresh access token on {route} (401 {code or ''}): check "
                "that the API credential of [threesixty] client_id is still active"
            )
        if status == 403:
            return missing_scope(method, path)
        detail = error_text(body) or code or "no detail"
        if status == 503 and code == "bulkAPIDisabled":
            message = (
                f"the 360Learning bulk API is temporarily disabled (503 bulkAPIDisabled on "
                f"{route}), and stayed so through the retries; run again later"
            )
        elif status == 429:
            message = (
                f"360Learning kept answering 429 ({code or 'tooManyRequests'}) on {route} "
                "through the retries; run again later"
            )
        else:
            message = f"360Learning answered HTTP {status} on {route} ({code or '-'}: {detail})"
        return ApiError(message, status=status, code=code, body=body, api=API)

    def _json(self, response: httpx.Response) -> Any:
        return self.session.scrub(decode_body(response))

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        body = self._json(response)
        return body if isinstance(body, dict) else {}

    def _iter_linked(self, path: str, params: dict[str, Any], *, kind: str) -> Iterator[Any]:
        """Items of a listing that pages with ``Link: <…>; rel="next"``.

        See docs/api-notes.md#360learning-pagination.
        """
        url: str | None = self._url(path)
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        pages = 0
        while url is not None:
            response = self._request("GET", url, kind=kind, params=query)
            pages += 1
            body = self._json(response)
            if not isinstance(body, list):
                raise ApiError(
                    f"360Learning answered {display_path(urlsplit(url).path)} with a "
                    f"{type(body).__name__}, not a list",
                    status=response.status_code,
                    api=API,
                )
            if len(body) > MAX_PAGE_ITEMS:
                raise PagingError(
                    f"360Learning {kind}: page {pages} holds {len(body):,} items, more than "
                    f"{MAX_PAGE_ITEMS:,}, the limit of one page; refusing it",
                    status=response.status_code,
                    code="pageTooLarge",
                    api=API,
                )
            yield from body
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return
            if pages >= self.max_pages:
                raise PagingError(
                    f"360Learning {kind}: page {pages:,} still links a next page; "
                    f"{self.max_pages:,} pages is the limit of one listing — a paging cursor "
                    "that never ends? Stopping",
                    code="paging",
                    api=API,
                )
            # the next URL keeps the filters; resolve a relative one against this page's URL
            url = urljoin(str(response.url), nxt)
            query = None
            if not same_origin(url, self.base_url):
                raise PagingError(
                    f"360Learning pointed the next page of {kind} to another origin; refusing "
                    "to send the token there",
                    api=API,
                )
            if url in seen:
                raise PagingError(
                    f"360Learning repeated the same next page of {kind}; stopping instead of "
                    "looping",
                    api=API,
                )
            seen.add(url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def default_warnings(integration: dict[str, Any]) -> list[str]:
    """The report warning for a reused integration whose defaults differ from learnsync's."""
    differ = [
        f"{key}={integration[key]!r}"
        for key, want in INTEGRATION_DEFAULTS.items()
        if key in integration and integration[key] != want
    ]
    if not differ:
        return []
    wanted = ", ".join(f"{k}={v!r}" for k, v in INTEGRATION_DEFAULTS.items())
    return [
        f"the existing 360Learning integration {integration.get('externalPlatform')!r} "
        f"({integration.get('_id', '?')}) has {', '.join(differ)}; learnsync reuses it as it is "
        f"(it would create one with {wanted})"
    ]

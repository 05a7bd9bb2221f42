"""The Coursera for Business API client: authenticated, paged reads that yield typed rows.

It reads; it never decides. Rows are validated into the tolerant models of
:mod:`learnsync.model.coursera`; an element that is not a JSON object is skipped with a
logged warning (the mapping reports unusable rows, the client never crashes on one).

Error mapping (docs/api-notes.md#coursera-authentication-errors): 401 → one re-authentication
and one retry, then ``AuthError``; 403 → ``AuthError`` (wrong org id, or the app is not entitled);
404 on the organisation's routes → ``ConfigError`` (an unknown ``org_id`` — or ``program_id`` — is
fixed in the config file, exit 2); 400 on a program-filtered route → ``ConfigError`` (a program
slug given where an id is expected); anything else after the retries → ``ApiError``.

Limits on what Coursera sends (docs/clients.md#limits-on-upstreams): each answer and each attempt
as :mod:`learnsync.http.session` bounds them (32 MiB, 300 s — 600 s for ``enrollmentReports``),
at most ``MAX_PAGE_ELEMENTS`` elements a page and ``max_pages`` pages a read
(:mod:`~learnsync.clients.coursera.paging`), both ``PagingError``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any, Protocol, TypeVar, overload
from urllib.parse import quote

import httpx

from learnsync.clients.coursera.auth import CourseraAuth, CourseraCredentials
from learnsync.clients.coursera.paging import MAX_PAGES, OffsetPaginator
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
from learnsync.model.coursera import Content, EnrollmentRow
from learnsync.model.ports import OnPage

log = logging.getLogger("learnsync.coursera")

API = "Coursera"
# enrollmentReports pages are slow to build on Coursera's side (≥ 60 s advised:
# docs/api-notes.md#coursera-enrollmentreports)
REPORTS_TIMEOUT = httpx.Timeout(connect=15.0, read=180.0, write=60.0, pool=30.0)
REPORTS_DEADLINE = 600.0  # one attempt at a report page: its 180 s of building, then the transfer
# a page learnsync asks for holds at most 1,000 elements (limit=1000); five times that is refused
MAX_PAGE_ELEMENTS = 5_000

# Coursera publishes no rate limit (docs/api-notes.md#coursera-rate-limits); 50 requests/s keeps
# a polite ceiling while a million-row report (1,000 pages) is never held back by it: the pages
# take longer than 20 ms to build and transfer anyway. A 429 is still retried with backoff
# (learnsync.http.retry).
DEFAULT_REQUESTS_PER_SECOND = 50.0

R = TypeVar("R")


def _decode_ok(response: httpx.Response) -> Any:
    """A 200 answer's JSON body (``decode_body``'s result; a report page is ~1 MB: fast decoder).
    A row with bytes that are not UTF-8 keeps its other fields, U+FFFD in place of the bad bytes
    (the extract step decides about the string); the other rows of the page are untouched."""
    return decode_body(response)


class CourseraSettingsLike(CourseraCredentials, Protocol):
    """The app's credentials, the API and the organisation (``CourseraSettings`` of the config)."""

    @property
    def api_base(self) -> str: ...
    @property
    def org_id(self) -> str: ...


class CourseraClient(SessionClient):
    """Reads one organisation: the organisation itself, its catalog and its enrollment reports."""

    def __init__(
        self,
        settings: CourseraSettingsLike,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        deadline: float = REQUEST_DEADLINE,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_pages: int = MAX_PAGES,
        limiter: Limiter | None = None,
    ) -> None:
        """``limiter``: the organization's rate limiter shared with the other runs
        (:class:`~learnsync.http.shared.SharedLimits`); default: this client's own bucket of
        ``requests_per_second``."""
        self.settings = settings
        self.max_pages = max_pages
        self.reports_deadline = max(REPORTS_DEADLINE, deadline)
        self.session = HttpSession(
            api=API,
            transport=transport,
            retry=retry,
            limiter=limiter
            or RateLimiter.coursera(per_second=requests_per_second, clock=clock, sleep=sleep),
            sleep=sleep,
            clock=clock,
            timeout=DEFAULT_TIMEOUT,
            deadline=deadline,
            max_body_bytes=max_body_bytes,
        )
        self.auth = CourseraAuth(settings, self.session, clock=clock)
        self._org_base = (
            f"{settings.api_base.rstrip('/')}/businesses.v1/{quote(settings.org_id, safe='')}"
        )

    # -- public reads --------------------------------------------------------------------------

    def get_organization(self) -> dict[str, Any]:
        """``GET /businesses.v1/{orgId}``: the organisation (validates org id and credentials)."""
        body = self._get(self._org_base, {}, kind="organization")
        if isinstance(body, dict) and isinstance(body.get("elements"), list):
            first = next((e for e in body["elements"] if isinstance(e, dict)), None)
            return first or {}
        return body if isinstance(body, dict) else {}

    def iter_contents(
        self, program_id: str | None = None, page_size: int = 1000, *, on_page: OnPage | None = None
    ) -> Iterator[Content]:
        params = {"q": "byProgramIds", "programIds": program_id} if program_id else {}
        return self._iter(
            "contents", Content.model_validate, params, page_size, on_page, program_id
        )

    @overload
    def iter_enrollment_reports(
        self,
        *,
        program_id: str | None = None,
        include_s12n: bool = True,
        last_activity_after: datetime | None = None,
        page_size: int = 1000,
        on_page: OnPage | None = None,
        row_factory: None = None,
        fetch_ahead: bool = False,
    ) -> Iterator[EnrollmentRow]: ...

    @overload
    def iter_enrollment_reports(
        self,
        *,
        program_id: str | None = None,
        include_s12n: bool = True,
        last_activity_after: datetime | None = None,
        page_size: int = 1000,
        on_page: OnPage | None = None,
        row_factory: Callable[[dict[str, Any]], R],
        fetch_ahead: bool = False,
    ) -> Iterator[R]: ...

    def iter_enrollment_reports(
        self,
        *,
        program_id: str | None = None,
        include_s12n: bool = True,
        last_activity_after: datetime | None = None,
        page_size: int = 1000,
        on_page: OnPage | None = None,
        row_factory: Callable[[dict[str, Any]], object] | None = None,
        fetch_ahead: bool = False,
    ) -> Iterator[object]:
        """Every row of the report, as :class:`EnrollmentRow` — or as ``row_factory(raw)``.

        ``row_factory`` receives each element that is a JSON object (non-objects are skipped with
        a warning, as always) and its result is yielded instead of the pydantic model: a caller
        that reads a million rows can build lighter rows (``dict`` yields the raw elements).
        Paging, authentication, retries and errors are the same. ``fetch_ahead`` requests the
        next page while the caller works on the current one (one extra request when the caller
        stops early).
        """
        params: dict[str, str] = {}
        if program_id:
            params.update(q="byProgramId", programId=program_id)
        if include_s12n:
            params["includeS12n"] = "true"
        if last_activity_after is not None:
            if last_activity_after.tzinfo is None:
                raise ValueError("last_activity_after must be timezone-aware")
            params["lastActivityAfter"] = str(int(last_activity_after.timestamp() * 1000))
        return self._iter(
            "enrollmentReports",
            row_factory or EnrollmentRow.model_validate,
            params,
            page_size,
            on_page,
            program_id,
            timeout=REPORTS_TIMEOUT,
            deadline=self.reports_deadline,
            fetch_ahead=fetch_ahead,
        )

    # -- internals -----------------------------------------------------------------------------

    def _iter(
        self,
        path: str,
        build: Callable[[dict[str, Any]], R],
        params: dict[str, str],
        page_size: int,
        on_page: OnPage | None,
        program_id: str | None,
        *,
        kind: str | None = None,
        timeout: httpx.Timeout | None = None,
        deadline: float | None = None,
        fetch_ahead: bool = False,
    ) -> Iterator[R]:
        kind = kind or path
        pager = OffsetPaginator(page_size, route=kind, max_pages=self.max_pages)
        url = f"{self._org_base}/{path}"

        def fetch(paging: dict[str, str]) -> Any:
            return self._get(
                url,
                {**params, **paging},
                kind=kind,
                program_id=program_id,
                timeout=timeout,
                deadline=deadline,
            )

        if fetch_ahead:
            yield from self._iter_ahead(fetch, build, pager, on_page, kind)
            return
        while True:
            body = fetch(pager.params())
            elements = self._elements(body, kind, pager)
            for position, element in enumerate(elements):
                if not isinstance(element, dict):
                    log.warning(
                        "Coursera %s: element %d of the page at start %s is a %s, not an "
                        "object; skipped",
                        kind,
                        position,
                        pager.start,
                        type(element).__name__,
                    )
                    continue
                yield build(element)
            more = pager.update(body.get("paging"), len(elements))
            if on_page is not None:
                on_page(pager.fetched, pager.total)
            if not more:
                return

    def _iter_ahead(
        self,
        fetch: Callable[[dict[str, str]], Any],
        build: Callable[[dict[str, Any]], R],
        pager: OffsetPaginator,
        on_page: OnPage | None,
        kind: str,
    ) -> Iterator[R]:
        """``_iter`` with the next page requested (in a worker thread) as soon as this page's
        ``paging`` is known — before its rows are handed out — so Coursera builds page k+1 while
        the caller works on page k. Same paging checks and errors, raised at the same row."""
        with ThreadPoolExecutor(1, thread_name_prefix="learnsync-coursera-page") as pool:
            ahead: Future[Any] | None = pool.submit(fetch, pager.params())
            try:
                while ahead is not None:
                    body = ahead.result()
                    ahead = None
                    elements = self._elements(body, kind, pager)
                    start = pager.start
                    more = pager.update(body.get("paging"), len(elements))
                    if more:
                        ahead = pool.submit(fetch, pager.params())
                    for position, element in enumerate(elements):
                        if not isinstance(element, dict):
                            log.warning(
                                "Coursera %s: element %d of the page at start %s is a %s, not "
                                "an object; skipped",
                                kind,
                                position,
                                start,
                                type(element).__name__,
                            )
                            continue
                        yield build(element)
                    if on_page is not None:
                        on_page(pager.fetched, pager.total)
            finally:
                if ahead is not None and not ahead.cancel():
                    with contextlib.suppress(Exception):  # the caller stopped early
                        ahead.result()

    def _elements(self, body: Any, kind: str, pager: OffsetPaginator) -> list[Any]:
        """The page's ``elements`` (refused when not a list, or longer than a page can be)."""
        if not isinstance(body, dict) or not isinstance(body.get("elements"), list):
            raise ApiError(
                f"Coursera {kind}: the answer is not an envelope with an 'elements' list",
                status=200,
                body=self.session.scrub(body if isinstance(body, dict) else None),
                api=API,
            )
        elements: list[Any] = body["elements"]
        if len(elements) > MAX_PAGE_ELEMENTS:
            raise PagingError(
                f"Coursera {kind}: the page at start {pager.start} holds {len(elements):,} "
                f"elements, more than {MAX_PAGE_ELEMENTS:,}, the limit of one page (learnsync "
                f"asked for {pager.page_size:,}); refusing it",
                status=200,
                code="pageTooLarge",
                api=API,
            )
        return elements

    def _get(
        self,
        url: str,
        params: dict[str, str],
        *,
        kind: str,
        program_id: str | None = None,
        timeout: httpx.Timeout | None = None,
        deadline: float | None = None,
    ) -> Any:
        response = self._send(url, params, kind, timeout, deadline)
        if response.status_code == 401:
            # re-mint the token once and retry once
            # (docs/api-notes.md#coursera-authentication-errors)
            self.auth.invalidate()
            response = self._send(url, params, kind, timeout, deadline)
        if response.status_code == 200:
            return _decode_ok(response)
        raise self._error(response, kind, program_id)

    def _send(
        self,
        url: str,
        params: dict[str, str],
        kind: str,
        timeout: httpx.Timeout | None,
        deadline: float | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.auth.token()}", "Accept": "application/json"}
        return self.session.send(
            "GET",
            url,
            kind=kind,
            headers=headers,
            params=params,
            timeout=timeout,
            deadline=deadline,
        )

    def _error(self, response: httpx.Response, kind: str, program_id: str | None) -> Exception:
        status = response.status_code
        body = self.session.scrub(decode_body(response))
        code = error_code(body)
        org = self.settings.org_id
        if status == 401:
            return AuthError(
                f"Coursera refused a freshly minted access token for {kind} (401): the app's "
                "authorization was revoked or it has no access to the Coursera for Business API; "
                "check [coursera] client_id, or run `learnsync coursera authorize` again"
            )
        if status == 403:
            return AuthError(
                f"Coursera refused access to organization {org} (403 on {kind}): either "
                "[coursera] org_id is wrong or the app is not entitled to this organization's "
                "business API — the app must belong to the organization's service account or "
                "admin, with the Coursera for Business API enabled"
            )
        if status == 404:
            what = (
                f"organization {org} or program {program_id}"
                if program_id
                else (f"organization {org}")
            )
            return ConfigError(
                f"Coursera does not know {what} (404 on {kind}): check [coursera] org_id"
                + (" and program_id" if program_id else "")
            )
        if status == 400 and program_id:
            return ConfigError(
                f"Coursera rejected program {program_id!r} (400 on {kind}: "
                f"{error_text(body) or code or 'bad request'}): [coursera] program_id must be a "
                "program id such as gywzv9MFEeml3w46OqZe-A, not a program slug"
            )
        hint = "Coursera kept refusing; try again later" if status in (429, 502, 503, 504) else ""
        detail = error_text(body) or code or "no detail"
        return ApiError(
            f"Coursera answered HTTP {status} on {kind} ({detail})" + (f"; {hint}" if hint else ""),
            status=status,
            code=code,
            body=body,
            api=API,
        )

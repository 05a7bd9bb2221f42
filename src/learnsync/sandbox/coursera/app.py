"""HTTP face of the Coursera for Business simulator (docs/api-notes.md#coursera-for-business).

The OAuth2 endpoints answer RFC 6749 bodies; the ``businesses.v1`` resources answer Naptime
envelopes and Naptime error bodies, under both ``/api`` (legacy host) and ``/ent/api`` (new
host). Pages are encoded with the stdlib ``json`` into a plain ``Response``: no per-row model
validation, so a million report rows stay cheap to serve.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from learnsync import fastjson
from learnsync.sandbox.coursera.admin import admin_router
from learnsync.sandbox.coursera.state import AccessToken, AuthFailure, CourseraSim
from learnsync.sandbox.enrollments import ReportQuery
from learnsync.sandbox.faults import FaultMiddleware

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PREFIXES = ("/api", "/ent/api")


class NaptimeError(Exception):
    """A non-2xx answer in Naptime form: ``errorCode``, ``message``, ``details``, nulls kept."""

    def __init__(
        self,
        status: int,
        message: str,
        error_code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.details = details
        self.headers = headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_dumps(body), status, headers=headers, media_type="application/json")


def _dumps(body: Any) -> bytes:
    """JSON of a body (a 1,000-row report page is ~1 MB: encoding it dominated the simulator's
    share of a million-row read, hence the fast encoder)."""
    return fastjson.dumps(body)


def naptime_response(error: NaptimeError) -> Response:
    body = {"errorCode": error.error_code, "message": error.message, "details": error.details}
    return json_response(body, error.status, error.headers)


def create_app(sim: CourseraSim) -> FastAPI:
    """The simulator as an app: request counting outermost, then faults, then the routes."""
    app = FastAPI(title="Coursera for Business API (learnsync sandbox)", openapi_url=None)

    @app.exception_handler(NaptimeError)
    async def _naptime(_: Request, error: NaptimeError) -> Response:
        return naptime_response(error)

    @app.exception_handler(AuthFailure)
    async def _oauth(_: Request, error: AuthFailure) -> Response:
        headers = {"Cache-Control": "no-store"}
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="coursera"'
        body = {"error": error.error, "error_description": error.description}
        return json_response(body, error.status, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/_sandbox/"):
            return json_response({"detail": error.detail}, error.status_code)
        return naptime_response(NaptimeError(error.status_code, str(error.detail)))

    app.include_router(_oauth_router(sim))
    for prefix in PREFIXES:
        app.include_router(_api_router(sim), prefix=prefix)
    app.include_router(admin_router(sim), prefix="/_sandbox")
    app.add_middleware(FaultMiddleware, plan=sim.faults)
    app.add_middleware(_CountingMiddleware, count=sim.count)  # added last: outermost
    return app


# --- OAuth2 ---------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """HTTP Basic when present, else the ``client_id``/``client_secret`` form fields."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def _oauth_router(sim: CourseraSim) -> APIRouter:
    router = APIRouter()
    no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}

    @router.post("/oauth2/v1/token")
    async def token(request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type")
        if not grant:
            raise AuthFailure(400, "invalid_request", "Missing parameter: grant_type.")
        if grant not in ("refresh_token", "authorization_code"):
            raise AuthFailure(400, "unsupported_grant_type", f"Unsupported grant_type {grant}.")
        client = sim.authenticate_client(*_client_credentials(request, form))
        if grant == "refresh_token":
            body = sim.grant_refresh_token(client, form.get("refresh_token"))
        else:
            body = sim.grant_authorization_code(client, form.get("code"), form.get("redirect_uri"))
        return json_response(body, headers=no_store)

    @router.get("/oauth2/v1/auth")
    async def authorize(request: Request) -> Response:
        params = request.query_params
        if params.get("response_type") != "code":
            raise AuthFailure(400, "unsupported_response_type", "response_type must be code.")
        redirect_uri = params.get("redirect_uri") or ""
        if not params.get("client_id") or not re.match(r"^https?://", redirect_uri):
            raise AuthFailure(400, "invalid_request", "client_id and redirect_uri are required.")
        code = sim.issue_auth_code(params["client_id"], redirect_uri)
        query = {"code": code} | ({"state": params["state"]} if "state" in params else {})
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(query)}", status_code=302)

    @router.post("/oauth2/client_credentials/token")
    async def client_credentials_token(request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type")
        if not grant:
            raise AuthFailure(400, "invalid_request", "Missing parameter: grant_type.")
        if grant != "client_credentials":
            raise AuthFailure(400, "unsupported_grant_type", f"Unsupported grant_type {grant}.")
        client = sim.authenticate_client(*_client_credentials(request, form))
        return json_response(sim.grant_client_credentials(client), headers=no_store)

    return router


# --- businesses.v1 --------------------------------------------------------------------------


def _authorize(sim: CourseraSim, request: Request, org_id: str) -> AccessToken:
    """401 (no live token) → 404 (unknown org) → 403 (token for another org or host)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else None
    record = sim.check_access_token(token)
    if record is None:
        raise NaptimeError(
            401,
            "Missing, invalid or expired access token.",
            headers={"WWW-Authenticate": 'Bearer realm="coursera"'},
        )
    if org_id not in sim.orgs:
        raise NaptimeError(404, f"Unknown business {org_id}.")
    if record.org_id != org_id:
        raise NaptimeError(403, f"The application is not authorized for business {org_id}.")
    if sim.knobs.strict_hosts:
        new_host = request.url.path.startswith("/ent/")
        if new_host != (record.flow == "client_credentials"):
            raise NaptimeError(403, "This token is not valid on this host.")
    return record


def _paging(request: Request) -> tuple[int, int]:
    raw_start = request.query_params.get("start", "0")
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    try:
        start = int(raw_start)
    except ValueError:
        raise NaptimeError(400, f"Paging start should be an integer, was {raw_start}") from None
    try:
        limit = int(raw_limit)
    except ValueError:
        raise NaptimeError(400, f"Paging limit should be an integer, was {raw_limit}") from None
    if start < 0:
        raise NaptimeError(400, f"Paging start should not be negative, was {raw_start}")
    if limit < 1:
        raise NaptimeError(400, f"Paging limit should be positive, was {raw_limit}")
    return start, min(limit, MAX_LIMIT)


def _page(
    sim: CourseraSim, route: str, start: int, limit: int, total: int, elements: list[Any]
) -> Response:
    paging: dict[str, Any] = {}
    stuck_from = sim.knobs.stuck_cursor.get(route)
    if stuck_from is not None and start >= stuck_from:
        paging["next"] = start
    elif start + limit < total:
        paging["next"] = start + limit
    if "next" in paging and not sim.knobs.next_as_int:
        paging["next"] = str(paging["next"])
    paging["total"] = total
    return json_response({"elements": elements, "paging": paging, "linked": {}})


def _slice(sim: CourseraSim, route: str, request: Request, rows: list[dict[str, Any]]) -> Response:
    start, limit = _paging(request)
    return _page(sim, route, start, limit, len(rows), rows[start : start + limit])


def _bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise NaptimeError(400, f"{name} should be true or false, was {raw}")
    return raw.lower() == "true"


def _epoch_ms(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise NaptimeError(400, f"{name} should be epoch milliseconds, was {raw}") from None


def _required(request: Request, *names: str) -> list[str]:
    values = [request.query_params.get(name) or "" for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        finder = request.query_params.get("q")
        raise NaptimeError(400, f"Finder {finder} requires parameter(s) {', '.join(missing)}")
    return values


def _unknown_finder(request: Request) -> NaptimeError:
    return NaptimeError(400, f"Unknown finder q={request.query_params.get('q')}")


def _api_router(sim: CourseraSim) -> APIRouter:
    router = APIRouter()

    @router.get("/businesses.v1/{org_id}")
    def organization(org_id: str, request: Request) -> Response:
        _authorize(sim, request, org_id)
        element = {"id": org_id, "name": sim.orgs[org_id], "slug": org_id.lower()[:12]}
        return json_response({"elements": [element], "paging": {}, "linked": {}})

    @router.get("/businesses.v1/{org_id}/programs")
    def programs(org_id: str, request: Request) -> Response:
        _authorize(sim, request, org_id)
        if "q" in request.query_params:
            raise _unknown_finder(request)
        return _slice(sim, "programs", request, sim.programs(org_id))

    @router.get("/businesses.v1/{org_id}/contents")
    def contents(org_id: str, request: Request) -> Response:
        _authorize(sim, request, org_id)
        items = sim.org_catalog_items(org_id)
        finder = request.query_params.get("q")
        if finder == "byProgramIds":
            (raw,) = _required(request, "programIds")
            wanted = {p.strip() for p in raw.split(",") if p.strip()}
            items = [
                it
                for it in items
                if any(p.get("programId") in wanted for p in it.get("programs") or [])
            ]
        elif finder is not None:
            raise _unknown_finder(request)
        since = _epoch_ms(request, "modifiedSinceTimestamp")  # epoch seconds, as lastUpdatedAt
        if since is not None:
            items = [it for it in items if (it.get("lastUpdatedAt") or 0) >= since]
        return _slice(sim, "contents", request, items)

    @router.get("/businesses.v1/{org_id}/enrollmentReports")
    def enrollment_reports(org_id: str, request: Request) -> Response:
        _authorize(sim, request, org_id)
        start, limit = _paging(request)
        finder = request.query_params.get("q")
        program_ids = sim.program_ids(org_id)
        program_index: int | None = None
        learner: str | None = None
        if finder in ("byProgramId", "byUserProgramId"):
            names = ("programId", "externalId") if finder == "byUserProgramId" else ("programId",)
            values = _required(request, *names)
            if values[0] not in program_ids:
                raise NaptimeError(400, f"Invalid programId {values[0]}", "INVALID_PROGRAM_ID")
            program_index = program_ids.index(values[0])
            learner = values[1] if len(values) > 1 else None
        elif finder is not None:
            raise _unknown_finder(request)
        query = ReportQuery(
            program_index=program_index,
            learner=learner,
            include_s12n=_bool(request, "includeS12n", False),
            last_activity_after=_epoch_ms(request, "lastActivityAfter"),
            completed_at_after=_epoch_ms(request, "completedAtAfter"),
        )
        report = sim.org_report(org_id)
        if report is None:
            return _page(sim, "enrollmentReports", start, limit, 0, [])
        total, rows = report.count_and_rows(query, start, limit)
        return _page(sim, "enrollmentReports", start, limit, total, rows)

    @router.get("/businesses.v1/{org_id}/programs/{program_id}/memberships")
    def memberships(org_id: str, program_id: str, request: Request) -> Response:
        _authorize(sim, request, org_id)
        program_ids = sim.program_ids(org_id)
        if program_id not in program_ids:
            raise NaptimeError(404, f"Unknown program {program_id}.")
        start, limit = _paging(request)
        p = program_ids.index(program_id)
        report = sim.org_report(org_id)
        assert report is not None  # an organization with programs has a report
        total = report.member_count(p)
        rows = [report.membership(p, n) for n in range(start, min(start + limit, total))]
        return _page(sim, "memberships", start, limit, total, rows)

    return router


# --- request counting -----------------------------------------------------------------------

_ROUTE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/oauth2/v1/token$"), "token"),
    (re.compile(r"^/oauth2/v1/auth$"), "auth"),
    (re.compile(r"^/oauth2/client_credentials/token$"), "client_credentials_token"),
    (re.compile(r"^/(?:ent/)?api/businesses\.v1/[^/]+/programs/[^/]+/memberships$"), "memberships"),
    (re.compile(r"^/(?:ent/)?api/businesses\.v1/[^/]+/(programs|contents|enrollmentReports)$"), ""),
    (re.compile(r"^/(?:ent/)?api/businesses\.v1/[^/]+$"), "organization"),
]


_ORG_PATH = re.compile(r"^/(?:ent/)?api/businesses\.v1/([^/]+)")


def org_of(path: str) -> str | None:
    """The organization id an API path names, if any."""
    match = _ORG_PATH.match(path)
    return match.group(1) if match else None


def route_name(path: str) -> str:
    """The statistics key of a request path (``other`` when it matches no simulated route)."""
    for pattern, name in _ROUTE_PATTERNS:
        match = pattern.match(path)
        if match:
            return name or match.group(1)
    return "other"


class _CountingMiddleware:
    """Counts every API request per route, faulted ones included (``GET /_sandbox/stats``)."""

    def __init__(self, app: ASGIApp, count: Callable[[str, str | None], None]) -> None:
        self.app = app
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox/"):
            self.count(route_name(scope["path"]), org_of(scope["path"]))
        await self.app(scope, receive, send)

"""HTTP routes of the 360Learning simulator: the public API v2 subset a connector uses.

Each route checks, in this order (a GAP decision: gateways and guards run before validation):
the optional rate limit (429), the Bearer token (401), the scope (403), then the
``360-api-version: v2.0`` header (400 ``invalidApiVersion``), then its body. Sandbox-only routes
(learner launch, admin) live under ``/_sandbox/`` (see ``admin.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from learnsync import fastjson
from learnsync.sandbox.faults import FaultMiddleware
from learnsync.sandbox.threesixty import admin
from learnsync.sandbox.threesixty.errors import ApiFailure, failure
from learnsync.sandbox.threesixty.fleet import Companies, CompanyRouting
from learnsync.sandbox.threesixty.paging import filters_of, link_header, slice_page
from learnsync.sandbox.threesixty.state import ThreeSixtySim, sim_in_scope
from learnsync.sandbox.threesixty.validation import parse_date_time

API_VERSION = "v2.0"


class _CountRequests:
    """Counts requests per ``METHOD route-template`` (``GET /_sandbox/stats`` shows them)."""

    def __init__(self, app: ASGIApp, sim: ThreeSixtySim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox/"):
            route = scope.get("route")
            path = getattr(route, "path", None) or scope["path"]
            sim = sim_in_scope(scope, self.sim)
            with sim.lock:
                sim.request_counts[f"{scope['method']} {path}"] += 1


class _CountCompany:
    """The company's load counters (``GET /_sandbox/counters``), counted as a request arrives,
    before faults: outermost but for a fleet's routing."""

    def __init__(self, app: ASGIApp, sim: ThreeSixtySim) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox/"):
            sim_in_scope(scope, self.sim).counters.request(scope["method"], scope["path"])
        await self.app(scope, receive, send)


def _guard(sim: ThreeSixtySim, request: Request, scope: str) -> None:
    sim.check_rate(request.method)
    sim.authorize(request.headers.get("authorization"), scope)
    version = request.headers.get("360-api-version")
    if version != API_VERSION:
        raise failure(
            400,
            "invalidApiVersion",
            f"the 360-api-version header must be {API_VERSION!r} (got {version!r})",
        )


async def _json(request: Request) -> Any:
    raw = await request.body()  # a 10,000-item bulk body is ~3 MB: decoded with the fast decoder
    try:
        return fastjson.loads(raw) if raw else None
    except ValueError as exc:
        raise failure(400, "invalidInput", "the body is not valid JSON") from exc


def _page(
    request: Request,
    fetch: Callable[[dict[str, str], int, int], tuple[list[Any], int | None]],
    size: int,
) -> JSONResponse:
    filters, cursor = filters_of(request)
    items, next_cursor = fetch(filters, cursor, size)
    return JSONResponse(items, headers=link_header(request, filters, next_cursor))


def _list_page(
    request: Request, items_for: Callable[[dict[str, str]], list[Any]], size: int
) -> JSONResponse:
    return _page(request, lambda f, c, s: slice_page(items_for(f), c, s), size)


def create_app(sim: ThreeSixtySim, companies: Companies | None = None) -> FastAPI:
    """The simulator's FastAPI app, wrapped in the shared :class:`FaultMiddleware`.

    With ``companies`` (a fleet), each request is served by the company it is for (found from
    its token, its client id, or an admin route's ``company`` parameter); ``sim`` serves the
    rest, as it alone does without a fleet.
    """
    app = FastAPI(title="360Learning API v2 simulator", docs_url=None, redoc_url=None)
    app.state.sim = sim

    def current(request: Request) -> ThreeSixtySim:
        return sim_in_scope(request.scope, sim)

    @app.exception_handler(ApiFailure)
    async def _on_failure(_: Request, exc: ApiFailure) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    # --------------------------------------------------------------- token
    @app.post("/api/v2/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        sim = current(request)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        return JSONResponse(sim.issue_token(body))

    # --------------------------------------------------------------- integrations
    @app.get("/api/v2/integrations")
    async def list_integrations(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "integrations:read")
        return _list_page(
            request, lambda f: sim.list_integrations(f.get("externalPlatform[eq]")), 100
        )

    @app.post("/api/v2/integrations")
    async def create_integration(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "integrations:write")
        return JSONResponse(sim.create_integration(await _json(request)), status_code=201)

    @app.patch("/api/v2/integrations/{integrationId}")
    async def patch_integration(integrationId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "integrations:write")
        return JSONResponse(sim.patch_integration(integrationId, await _json(request)))

    @app.delete("/api/v2/integrations/{integrationId}")
    async def delete_integration(integrationId: str, request: Request) -> Response:
        sim = current(request)
        _guard(sim, request, "integrations:write")
        sim.delete_integration(integrationId)
        return Response(status_code=204)

    @app.get("/api/v2/integrations/{integrationId}/courses/{externalId:path}")
    async def retrieve_external_course(
        integrationId: str, externalId: str, request: Request
    ) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "integrations:read")
        return JSONResponse(sim.retrieve_external_course(integrationId, externalId))

    # --------------------------------------------------------------- bulk
    async def _submit(request: Request, op_type: Any, integrationId: str) -> Response:
        sim = current(request)
        _guard(sim, request, "integrations:bulk")
        bulkOperationId = sim.submit(op_type, integrationId, await _json(request))
        base = str(request.base_url).rstrip("/")
        return Response(
            status_code=202,
            headers={"Location": f"{base}/api/v2/bulk/operations/{bulkOperationId}"},
        )

    @app.put("/api/v2/bulk/integrations/{integrationId}/courses")
    async def upsert_courses(integrationId: str, request: Request) -> Response:
        return await _submit(request, "importExternalCourses", integrationId)

    @app.delete("/api/v2/bulk/integrations/{integrationId}/courses")
    async def archive_courses(integrationId: str, request: Request) -> Response:
        return await _submit(request, "archiveExternalCourses", integrationId)

    @app.post("/api/v2/bulk/integrations/{integrationId}/stats")
    async def import_stats(integrationId: str, request: Request) -> Response:
        return await _submit(request, "importExternalStatistics", integrationId)

    @app.get("/api/v2/bulk/operations")
    async def list_operations(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "bulkOperations:read")
        return _list_page(request, sim.list_operations, 20)

    @app.get("/api/v2/bulk/operations/{bulkOperationId}")
    async def get_operation(bulkOperationId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "bulkOperations:read")
        return JSONResponse(sim.operation(bulkOperationId))

    @app.get("/api/v2/bulk/operations/{bulkOperationId}/results")
    async def get_results(bulkOperationId: str, request: Request) -> Response:
        sim = current(request)
        _guard(sim, request, "bulkOperations:read")
        return Response(sim.operation_results_body(bulkOperationId), media_type="application/json")

    # --------------------------------------------------------------- courses
    @app.get("/api/v2/courses/stats")
    async def course_stats(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "courseStats:read")
        return _page(request, lambda f, c, s: _stats_page(sim, f, c, s), 500)

    @app.get("/api/v2/courses")
    async def list_courses(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "courses:read")

        def items(f: dict[str, str]) -> list[Any]:
            with sim.lock:
                return [
                    sim.course_dto(c)
                    for c in sim.courses
                    if f.get("type[eq]", "external") == "external"
                    and f.get("status[eq]", c.status) == c.status
                    and f.get("groupId[eq]", c.group_id) == c.group_id
                ]

        return _list_page(request, items, 500)

    @app.get("/api/v2/courses/{courseId}")
    async def get_course(courseId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "courses:read")
        with sim.lock:
            return JSONResponse(sim.course_dto(sim.course(courseId)))

    @app.put("/api/v2/courses/{courseId}/archive")
    async def archive_course(courseId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "courses:write")
        return JSONResponse(sim.set_archived(courseId, await _json(request)))

    @app.get("/api/v2/courses/{courseId}/tags")
    async def get_course_tags(courseId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "tags:read")
        with sim.lock:
            tags = [{"tagId": t, "source": "native"} for t in sim.course(courseId).tags]
        return _list_page(request, lambda _: tags, 500)

    @app.put("/api/v2/courses/{courseId}/tags")
    async def put_course_tags(courseId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "courses:write")
        return JSONResponse(sim.set_course_tags(courseId, await _json(request)))

    @app.get("/api/v2/tags")
    async def list_tags(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "tags:read")

        def items(f: dict[str, str]) -> list[Any]:
            main = f.get("isMain[eq]")
            return sim.list_tags(None if main is None else main.lower() == "true")

        return _list_page(request, items, 5000)

    @app.post("/api/v2/tags")
    async def create_tag(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "tags:write")
        return JSONResponse(sim.create_tag(await _json(request)), status_code=201)

    # --------------------------------------------------------------- groups and users
    @app.get("/api/v2/groups")
    async def list_groups(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "groups:read")
        return _list_page(request, lambda _: sim.groups(), 500)

    @app.get("/api/v2/groups/{groupId}")
    async def get_group(groupId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "groups:read")
        return JSONResponse(sim.get_group(groupId))

    def _content_ids(kind: str) -> Any:
        async def handler(groupId: str, contentType: str, request: Request) -> JSONResponse:
            sim = current(request)
            _guard(sim, request, "groups:read")
            sim.get_group(groupId)
            allowed = ("course", "path-session") if kind == "catalog" else ("course", "path")
            if contentType not in allowed:
                raise failure(400, "invalidInput", f"contentType must be one of {allowed}")
            store = sim.catalog if kind == "catalog" else sim.library
            with sim.lock:
                ids = list(store.get(groupId, [])) if contentType == "course" else []
            return _list_page(request, lambda _: ids, 10_000)

        return handler

    app.add_api_route("/api/v2/groups/{groupId}/catalog/{contentType}-ids", _content_ids("catalog"))
    app.add_api_route("/api/v2/groups/{groupId}/library/{contentType}-ids", _content_ids("library"))

    @app.get("/api/v2/users")
    async def list_users(request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "users:read")
        return _page(request, lambda f, c, s: _users_page(sim, f, c, s), 500)

    @app.get("/api/v2/users/{userId}")
    async def get_user(userId: str, request: Request) -> JSONResponse:
        sim = current(request)
        _guard(sim, request, "users:read")
        return JSONResponse(sim.get_user(userId))

    admin.add_routes(app, sim, companies)
    app.add_middleware(_CountRequests, sim=sim)
    app.add_middleware(FaultMiddleware, plan=sim.faults)
    app.add_middleware(_CountCompany, sim=sim)
    if companies is not None:
        app.add_middleware(CompanyRouting, companies=companies)  # added last: outermost
    return app


def _users_page(
    sim: ThreeSixtySim, filters: dict[str, str], cursor: int, size: int
) -> tuple[list[Any], int | None]:
    if "mail[eq]" in filters:
        key = sim.user_key_by_mail(filters["mail[eq]"])
        return ([] if key is None else [sim.user_dto(key)]), None
    page: list[Any] = []
    for position, key in sim.iter_user_keys(cursor):
        if len(page) == size:
            return page, position
        page.append(sim.user_dto(key))
    return page, None


def _stats_page(
    sim: ThreeSixtySim, filters: dict[str, str], cursor: int, size: int
) -> tuple[list[Any], int | None]:
    """Attempts in creation order; the cursor is a position in that order."""
    lt = parse_date_time(filters.get("completedAt[lt]"))
    gte = parse_date_time(filters.get("completedAt[gte]"))
    lt_ms = int(lt.timestamp() * 1000) if lt else None
    gte_ms = int(gte.timestamp() * 1000) if gte else None
    with sim.lock:
        course_index = None
        if "courseId[eq]" in filters:
            found = sim.course_or_none(filters["courseId[eq]"])
            if found is None:
                return [], None
            course_index = found.index
        user_key = None
        if "userId[eq]" in filters:
            user_key = sim.user_key_for_filter(filters["userId[eq]"])
            if user_key is None:
                return [], None
        ordered = sim.attempts.ordered
        page: list[Any] = []
        position = cursor
        while position < len(ordered):
            attempt = ordered[position]
            position += 1
            if course_index is not None and attempt.course != course_index:
                continue
            if user_key is not None and attempt.user != user_key:
                continue
            if (lt_ms is not None or gte_ms is not None) and not attempt.is_completed:
                continue
            if lt_ms is not None and not attempt.completed < lt_ms:
                continue
            if gte_ms is not None and not attempt.completed >= gte_ms:
                continue
            if len(page) == size:
                return page, position - 1
            page.append(sim.stat_dto(attempt))
        return page, None

"""Sandbox-only routes (not in 360Learning's API) under ``/_sandbox/``.

- the learner side: ``GET /_sandbox/launch/{courseId}?user=<mail>[&pathId=…]`` ("clicks Start"),
  ``POST /_sandbox/paths`` and ``GET /_sandbox/paths/{pathId}/status?user=<mail>``;
- test hooks: credentials with chosen scopes, token expiry/revocation, faults, clock, switches,
  and ``GET /_sandbox/stats`` (request counts per route, bulk and attempt counters);
- load counters per company: ``GET``/``DELETE /_sandbox/counters`` (``learnsync.sandbox.counters``);
- a fleet's tenants and their credentials: ``GET /_sandbox/tenants``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from learnsync.sandbox.faults import Fault
from learnsync.sandbox.threesixty.attempts import AttemptRules
from learnsync.sandbox.threesixty.errors import failure
from learnsync.sandbox.threesixty.fleet import Companies
from learnsync.sandbox.threesixty.state import ThreeSixtySim, sim_in_scope

SWITCHES = (
    "phase_seconds",
    "max_concurrent_operations",
    "restore_on_upsert",
    "bulk_api_disabled",
    "reject_unknown_properties",
    "reserved_platform_names",
    "integrations_limit",
    "rate_limits",
    "get_rate_per_second",
    "write_rate_per_second",
    "retry_after",
    "fail_next_operations",
)
RULE_SWITCHES = ("completed_conflict", "allow_progress_decrease", "reject_reversed_dates")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise failure(400, "invalidInput", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise failure(400, "invalidInput", "the body must be a JSON object")
    return body


def switches_of(sim: ThreeSixtySim) -> dict[str, Any]:
    out = {name: getattr(sim, name) for name in SWITCHES}
    out.update({name: getattr(sim.rules, name) for name in RULE_SWITCHES})
    return out


def set_switches(sim: ThreeSixtySim, body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - set(SWITCHES) - set(RULE_SWITCHES)
    if unknown:
        raise failure(400, "invalidInput", f"unknown switches {sorted(unknown)}")
    with sim.lock:
        for name in SWITCHES:
            if name in body:
                setattr(sim, name, body[name])
        rules = {name: body.get(name, getattr(sim.rules, name)) for name in RULE_SWITCHES}
        if rules["completed_conflict"] not in ("ignore", "error", "new"):
            raise failure(400, "invalidInput", "completed_conflict: ignore | error | new")
        sim.rules = AttemptRules(**rules)
    return switches_of(sim)


def add_routes(app: FastAPI, sim: ThreeSixtySim, companies: Companies | None = None) -> None:
    """The admin routes; each serves the company its request is for (``?company=`` in a
    fleet, see ``fleet.py``), else ``sim``."""

    def current(request: Request) -> ThreeSixtySim:
        return sim_in_scope(request.scope, sim)

    # --------------------------------------------------------------- learner side
    @app.get("/_sandbox/launch/{course_id}")
    async def launch(
        course_id: str, user: str, request: Request, pathId: str | None = None
    ) -> Response:
        sim = current(request)
        url = sim.launch(course_id, user, pathId)
        return RedirectResponse(url, status_code=302)

    @app.post("/_sandbox/paths")
    async def create_path(request: Request) -> JSONResponse:
        sim = current(request)
        return JSONResponse(sim.create_path(await _body(request)), status_code=201)

    @app.get("/_sandbox/paths/{path_id}/status")
    async def path_status(path_id: str, user: str, request: Request) -> JSONResponse:
        sim = current(request)
        return JSONResponse(sim.path_status(path_id, user))

    # --------------------------------------------------------------- credentials and tokens
    @app.post("/_sandbox/credentials")
    async def add_credential(request: Request) -> JSONResponse:
        sim = current(request)
        body = await _body(request)
        scopes = body.get("scopes")
        if not isinstance(scopes, list):
            raise failure(400, "invalidInput", "scopes must be an array")
        cred = sim.add_credential(scopes)
        return JSONResponse(
            {
                "client_id": cred.client_id,
                "client_secret": cred.client_secret,
                "scopes": sorted(cred.scopes),
            },
            status_code=201,
        )

    @app.post("/_sandbox/tokens/expire")
    async def expire_tokens(request: Request) -> JSONResponse:
        sim = current(request)
        body = await _body(request)
        return JSONResponse({"expired": sim.expire_tokens(body.get("token"))})

    @app.post("/_sandbox/tokens/revoke")
    async def revoke_tokens(request: Request) -> JSONResponse:
        sim = current(request)
        body = await _body(request)
        return JSONResponse({"revoked": sim.revoke_tokens(body.get("token"))})

    # --------------------------------------------------------------- faults, clock, switches
    @app.get("/_sandbox/faults")
    async def list_faults(request: Request) -> JSONResponse:
        sim = current(request)
        return JSONResponse(sim.faults.describe())

    @app.post("/_sandbox/faults")
    async def add_fault(request: Request) -> JSONResponse:
        sim = current(request)
        body = await _body(request)
        try:
            fault = Fault(**body)
        except TypeError as exc:
            raise failure(400, "invalidInput", str(exc)) from exc
        sim.faults.add(fault)
        return JSONResponse(sim.faults.describe(), status_code=201)

    @app.delete("/_sandbox/faults")
    async def clear_faults(request: Request) -> Response:
        sim = current(request)
        sim.faults.clear()
        return Response(status_code=204)

    @app.post("/_sandbox/clock/advance")
    async def advance_clock(request: Request) -> JSONResponse:
        sim = current(request)
        body = await _body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise failure(400, "invalidInput", "seconds must be a number")
        sim.clock.advance(float(seconds))
        return JSONResponse({"now": sim.clock.now().isoformat()})

    @app.get("/_sandbox/switches")
    async def get_switches(request: Request) -> JSONResponse:
        sim = current(request)
        return JSONResponse(switches_of(sim))

    @app.post("/_sandbox/switches")
    async def post_switches(request: Request) -> JSONResponse:
        sim = current(request)
        return JSONResponse(set_switches(sim, await _body(request)))

    @app.get("/_sandbox/stats")
    async def stats(request: Request) -> JSONResponse:
        sim = current(request)
        sim.advance()
        with sim.lock:
            return JSONResponse(
                {
                    "requests": dict(sim.request_counts),
                    "operations": len(sim.operations),
                    "open_operations": sum(1 for op in sim.operations.values() if op.is_open),
                    "courses": len(sim.courses),
                    "attempts": len(sim.attempts),
                    "stats_applied": sim.stats_applied,
                    "stats_digest": f"{sim.stats_digest:016x}",
                }
            )

    # --------------------------------------------------------------- counters and the fleet
    def _chosen(request: Request) -> list[ThreeSixtySim] | None:
        """The one company a ``?company=`` asks for, else ``None`` (all of them)."""
        return [current(request)] if "company" in request.query_params else None

    @app.get("/_sandbox/counters")
    async def counters(request: Request) -> JSONResponse:
        chosen = _chosen(request)
        out: dict[str, dict[str, Any]] = {}
        if chosen is None:
            out[sim.world.company_id] = {"key": "default", **sim.counters.snapshot()}
            if companies is not None:
                out.update(companies.counters())
        else:
            one = chosen[0]
            out[one.world.company_id] = one.counters.snapshot()
        return JSONResponse({"clock": "monotonic", "companies": out})

    @app.delete("/_sandbox/counters")
    async def reset_counters(request: Request) -> Response:
        chosen = _chosen(request)
        if chosen is None:
            sim.reset_counters()
            if companies is not None:
                companies.reset_counters()
        else:
            chosen[0].reset_counters()
        return Response(status_code=204)

    @app.get("/_sandbox/tenants")
    async def tenants() -> JSONResponse:
        if companies is None:
            raise failure(404, "noFleet", "this simulator serves one company (no --tenants)")
        fleet = companies.fleet
        return JSONResponse(
            {
                "seed": fleet.seed,
                "count": fleet.count,
                "totals": fleet.totals(),
                "tenants": [t.describe() for t in fleet.tenants],
            }
        )

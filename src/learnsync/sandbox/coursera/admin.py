"""``/_sandbox/`` routes: drive the Coursera simulator over HTTP as tests do in process.

They exist for the acceptance suite and the benchmarks, which run the simulator as a separate
process. Faults never apply to them. Bodies are small JSON objects; errors are ``{"detail": …}``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, HTTPException

from learnsync.sandbox.faults import Fault

if TYPE_CHECKING:
    from learnsync.sandbox.coursera.state import CourseraSim
    from learnsync.sandbox.enrollments import EnrollmentReport

_FAULT_FIELDS = {f.name for f in dataclasses.fields(Fault)} - {"hits"}


def admin_router(sim: CourseraSim) -> APIRouter:
    router = APIRouter()

    def _report(body: dict[str, Any]) -> EnrollmentReport:
        """The report an admin change is for: the body's ``org_id`` (a fleet tenant), else the
        default organization's. A tenant's report changed so stays generated (pinned)."""
        org_id = body.get("org_id")
        if org_id is None:
            return sim.report
        report = sim.org_report(str(org_id), pin=True)
        if report is None:
            raise HTTPException(404, f"no organization {org_id} with a report")
        return report

    # --- faults ----------------------------------------------------------------------------
    @router.post("/faults", status_code=201)
    def add_fault(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        unknown = set(body) - _FAULT_FIELDS
        if unknown:
            raise HTTPException(422, f"unknown fault field(s): {sorted(unknown)}")
        if body.get("kind", "status") not in ("status", "slow", "drop"):
            raise HTTPException(422, "kind must be status, slow or drop")
        return dataclasses.asdict(sim.faults.add(Fault(**body)))

    @router.get("/faults")
    def list_faults() -> list[dict[str, Any]]:
        return sim.faults.describe()

    @router.delete("/faults", status_code=204)
    def clear_faults() -> None:
        sim.faults.clear()

    # --- clock -----------------------------------------------------------------------------
    @router.get("/clock")
    def clock() -> dict[str, Any]:
        return {"now": sim.clock.now().isoformat(), "now_ms": sim.clock.now_ms()}

    @router.post("/clock/advance")
    def advance(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise HTTPException(422, "seconds must be a number")
        sim.clock.advance(seconds)
        return clock()

    # --- world (no secrets: a driver knowing the seed can derive them) ---------------------
    @router.get("/world")
    def world() -> dict[str, Any]:
        w = sim.world
        return {
            "seed": w.seed,
            "org_id": w.coursera_org_id,
            "program_ids": w.coursera_program_ids,
            "catalog_size": w.catalog_size,
            "learners": w.learners,
            "enrollments": w.enrollments,
            "report_anchor_ms": sim.report.anchor_ms,
        }

    # --- catalog ---------------------------------------------------------------------------
    @router.get("/catalog")
    def catalog() -> dict[str, Any]:
        items = sim.catalog_items()
        return {"total": len(items), "items": items}

    @router.put("/catalog/items")
    def put_item(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if not body.get("id") and not (body.get("contentType") and body.get("contentId")):
            raise HTTPException(422, "an item needs an id, or a contentType and a contentId")
        return sim.put_content(body)

    @router.patch("/catalog/items/{item_id}")
    def patch_item(item_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        fields = body.get("fields", {})
        remove = body.get("remove", [])
        if not isinstance(fields, dict) or not isinstance(remove, list):
            raise HTTPException(422, "body: {fields: {path: value}, remove: [path]}")
        try:
            return sim.patch_content(item_id, fields, remove)
        except KeyError:
            raise HTTPException(404, f"no catalog item {item_id}") from None

    @router.delete("/catalog/items/{item_id}")
    def delete_item(item_id: str) -> dict[str, Any]:
        try:
            return sim.remove_content(item_id)
        except KeyError:
            raise HTTPException(404, f"no catalog item {item_id}") from None

    @router.post("/catalog/reset")
    def reset_catalog() -> dict[str, Any]:
        sim.reset_catalog()
        return {"total": len(sim.catalog_items())}

    # --- enrollments -----------------------------------------------------------------------
    @router.post("/enrollments/upsert")
    def upsert(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        learner = body.get("externalId") or body.get("email")
        if not body.get("contentId") or not learner:
            raise HTTPException(422, "contentId and externalId (or email) are required")
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise HTTPException(422, "fields must be an object")
        report = _report(body)
        try:
            rows = report.upsert(
                content_id=body["contentId"],
                content_type=body.get("contentType"),
                learner=learner,
                program_id=body.get("programId"),
                fields=fields,
                now_ms=sim.clock.now_ms(),
            )
        except KeyError as error:
            raise HTTPException(404, str(error)) from None
        return {"rows": rows}

    @router.post("/enrollments/mutate")
    def mutate(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        fraction = body.get("fraction")
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise HTTPException(422, "fraction must be a number between 0 and 1")
        return _report(body).mutate(
            float(fraction),
            str(body.get("salt", "")),
            sim.clock.now_ms(),
            report_changes=bool(body.get("report_changes", False)),
        )

    # --- tokens and clients ----------------------------------------------------------------
    @router.post("/tokens/revoke-access")
    def revoke_access() -> dict[str, int]:
        return {"revoked": sim.revoke_access_tokens()}

    @router.post("/tokens/expire-refresh")
    def expire_refresh(body: dict[str, Any] | None = Body(None)) -> dict[str, int]:
        return {"expired": sim.expire_refresh_tokens((body or {}).get("refresh_token"))}

    @router.post("/tokens/revoke-refresh")
    def revoke_refresh(body: dict[str, Any] | None = Body(None)) -> dict[str, int]:
        return {"revoked": sim.revoke_refresh_tokens((body or {}).get("refresh_token"))}

    @router.post("/clients", status_code=201)
    def register_client(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if not body.get("client_id") or not body.get("client_secret"):
            raise HTTPException(422, "client_id and client_secret are required")
        refresh = sim.register_client(
            body["client_id"],
            body["client_secret"],
            org_id=body.get("org_id"),
            org_name=body.get("org_name"),
            refresh_token=body.get("refresh_token"),
        )
        client = sim.clients[body["client_id"]]
        return {"client_id": client.client_id, "org_id": client.org_id, "refresh_token": refresh}

    # --- knobs and statistics --------------------------------------------------------------
    @router.get("/knobs")
    def knobs() -> dict[str, Any]:
        return sim.knobs.as_dict()

    @router.post("/knobs")
    def set_knobs(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        allowed = {"next_as_int", "stuck_cursor", "strict_hosts"}
        if set(body) - allowed:
            raise HTTPException(422, f"unknown knob(s): {sorted(set(body) - allowed)}")
        try:
            return sim.set_knobs(**body).as_dict()
        except (ValueError, TypeError) as error:
            raise HTTPException(422, str(error)) from None

    @router.delete("/knobs", status_code=204)
    def reset_knobs() -> None:
        sim.reset_knobs()

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        return {"requests": sim.stats_snapshot()}

    @router.delete("/stats", status_code=204)
    def reset_stats() -> None:
        sim.reset_stats()

    # --- load counters and the fleet ---------------------------------------------------------
    @router.get("/counters")
    def counters() -> dict[str, Any]:
        return {"clock": "monotonic", "organizations": sim.counters_snapshot()}

    @router.delete("/counters", status_code=204)
    def reset_counters() -> None:
        sim.org_counters.reset()

    @router.get("/tenants")
    def tenants() -> dict[str, Any]:
        if sim.fleet is None:
            raise HTTPException(404, "this simulator serves one organization (no --tenants)")
        return {
            "seed": sim.fleet.seed,
            "count": sim.fleet.count,
            "totals": sim.fleet.totals(),
            "tenants": [t.describe() for t in sim.fleet.tenants],
        }

    return router

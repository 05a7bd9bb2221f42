"""Contract tests of the Coursera simulator's businesses.v1 routes, knobs, admin and faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.coursera import CourseraSim, create_app
from learnsync.sandbox.serving import run_in_thread, serve_in_thread
from learnsync.sandbox.world import World

WORLD = World(seed=5, catalog_size=320, learners=120, enrollments=2_500)
ORG = WORLD.coursera_org_id
P0, P1 = WORLD.coursera_program_ids
BASE = f"/api/businesses.v1/{ORG}"


@pytest.fixture()
def sim() -> CourseraSim:
    return CourseraSim(WORLD, SimClock(frozen_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))


@pytest.fixture()
def client(sim: CourseraSim) -> TestClient:
    test_client = TestClient(create_app(sim))
    test_client.headers["Authorization"] = f"Bearer {sim.issue_access_token()}"
    return test_client


def read_all(client: TestClient, path: str, limit: int = 1000, **params) -> list[dict]:
    rows: list[dict] = []
    start: str | None = "0"
    while start is not None:
        body = client.get(path, params={**params, "start": start, "limit": limit}).json()
        rows += body["elements"]
        start = body["paging"].get("next")
    return rows


# --- envelopes and paging -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api", "/ent/api"])
@pytest.mark.parametrize("route", ["/programs", "/contents", "/enrollmentReports"])
def test_envelope_on_both_prefixes(client: TestClient, prefix: str, route: str) -> None:
    response = client.get(f"{prefix}/businesses.v1/{ORG}{route}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"elements", "paging", "linked"} and body["linked"] == {}
    assert isinstance(body["paging"]["total"], int)


@pytest.mark.parametrize(
    ("params", "count", "next_"),
    [
        ({}, 100, "100"),  # default limit 100
        ({"limit": "5000"}, 320, None),  # clamped at 1000: one page, no next
        ({"limit": "150", "start": "150"}, 150, "300"),
        ({"limit": "150", "start": "300"}, 20, None),  # last page: next absent
        ({"start": "999"}, 0, None),  # past the end
    ],
)
def test_contents_paging(client: TestClient, params: dict, count: int, next_: str | None) -> None:
    body = client.get(f"{BASE}/contents", params=params).json()
    assert len(body["elements"]) == count
    assert body["paging"].get("next") == next_
    assert body["paging"]["total"] == 320


def test_limit_clamp_at_1000(sim: CourseraSim, client: TestClient) -> None:
    body = client.get(f"{BASE}/enrollmentReports", params={"limit": 1500}).json()
    assert len(body["elements"]) == 1000 and body["paging"]["next"] == "1000"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "abc"}, "Paging start should be an integer, was abc"),
        ({"start": "-1"}, "Paging start should not be negative, was -1"),
        ({"limit": "x"}, "Paging limit should be an integer, was x"),
        ({"limit": "0"}, "Paging limit should be positive, was 0"),
    ],
)
def test_bad_paging_gives_naptime_400(client: TestClient, params: dict, message: str) -> None:
    for route in ("contents", "enrollmentReports", "programs"):
        response = client.get(f"{BASE}/{route}", params=params)
        assert response.status_code == 400
        assert response.json() == {"errorCode": None, "message": message, "details": None}


def test_full_read_equals_catalog(client: TestClient, sim: CourseraSim) -> None:
    assert read_all(client, f"{BASE}/contents", limit=70) == sim.catalog_items()


def test_unknown_path_and_finder(client: TestClient) -> None:
    missing = client.get(f"{BASE}/nothing")
    assert missing.status_code == 404 and set(missing.json()) == {"errorCode", "message", "details"}
    assert client.get(f"{BASE}/contents", params={"q": "bySlug"}).status_code == 400
    assert client.get(f"{BASE}/contents", params={"q": "byProgramIds"}).status_code == 400


# --- resources ------------------------------------------------------------------------------


def test_organization(client: TestClient) -> None:
    body = client.get(BASE).json()
    assert body["elements"][0]["id"] == ORG and body["elements"][0]["name"]


def test_programs_list_their_contents(client: TestClient, sim: CourseraSim) -> None:
    programs = client.get(f"{BASE}/programs").json()["elements"]
    assert [p["id"] for p in programs] == [P0, P1]
    for program in programs:
        assert program["url"].startswith("https://www.coursera.org/programs/")
        expected = {
            it["contentId"]
            for it in sim.catalog_items()
            if program["id"] in {p["programId"] for p in it["programs"]}
        }
        assert {c["contentId"] for c in program["contentIds"]} == expected


def test_contents_by_program_ids(client: TestClient, sim: CourseraSim) -> None:
    only_p1 = read_all(client, f"{BASE}/contents", q="byProgramIds", programIds=P1)
    both = read_all(client, f"{BASE}/contents", q="byProgramIds", programIds=f"{P0},{P1}")
    assert only_p1 and all(P1 in {p["programId"] for p in it["programs"]} for it in only_p1)
    assert len(only_p1) < len(both) < len(sim.catalog_items())  # items without programs left out
    assert read_all(client, f"{BASE}/contents", q="byProgramIds", programIds="nope") == []


def test_enrollment_reports_filters(client: TestClient, sim: CourseraSim) -> None:
    url = f"{BASE}/enrollmentReports"
    default = read_all(client, url)
    every = read_all(client, url, includeS12n="true")
    assert len(every) == WORLD.enrollments
    assert read_all(client, url, includeS12n="false") == default
    s12n_types = {"Specialization", "ProfessionalCertificate"}
    assert not any(r["contentType"] in s12n_types for r in default)
    assert {r["contentType"] for r in every} & s12n_types
    p1 = read_all(client, url, q="byProgramId", programId=P1, includeS12n="true")
    assert p1 == [r for r in every if r["programId"] == P1]
    learner = every[3]["externalId"]
    mine = read_all(client, url, q="byUserProgramId", programId=P0, externalId=learner)
    assert mine and all(r["externalId"] == learner and r["programId"] == P0 for r in mine)
    after = sim.report.anchor_ms - 20 * 86_400_000
    recent = read_all(client, url, includeS12n="true", lastActivityAfter=after)
    assert recent == [r for r in every if r.get("lastActivityAt", 0) > after]
    done = read_all(client, url, includeS12n="true", completedAtAfter=after)
    assert done == [r for r in every if r.get("completedAt", 0) > after]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "byProgramId"},
        {"q": "byProgramId", "programId": "learning-program-slug"},
        {"q": "byUserProgramId", "programId": P0},
        {"includeS12n": "yes"},
        {"lastActivityAfter": "2024-01-01T00:00:00Z"},
        {"q": "everything"},
    ],
)
def test_enrollment_reports_bad_parameters(client: TestClient, params: dict) -> None:
    response = client.get(f"{BASE}/enrollmentReports", params=params)
    assert response.status_code == 400
    assert set(response.json()) == {"errorCode", "message", "details"}


def test_memberships(client: TestClient) -> None:
    rows = read_all(client, f"{BASE}/programs/{P0}/memberships", limit=50)
    assert len(rows) == WORLD.learners
    assert all(r["id"] == f"{P0}~{r['externalId']}" and r["joinedAt"] > 0 for r in rows)
    assert client.get(f"{BASE}/programs/nope/memberships").status_code == 404


# --- knobs ----------------------------------------------------------------------------------


def test_next_as_integer_knob(client: TestClient) -> None:
    client.post("/_sandbox/knobs", json={"next_as_int": True})
    assert client.get(f"{BASE}/contents").json()["paging"]["next"] == 100
    client.delete("/_sandbox/knobs")
    assert client.get(f"{BASE}/contents").json()["paging"]["next"] == "100"


def test_stuck_cursor_knob(client: TestClient) -> None:
    assert client.post("/_sandbox/knobs", json={"stuck_cursor": {"enrollmentReports": 200}}).json()[
        "stuck_cursor"
    ] == {"enrollmentReports": 200}
    url = f"{BASE}/enrollmentReports"
    assert client.get(url, params={"start": 100}).json()["paging"]["next"] == "200"
    assert client.get(url, params={"start": 200}).json()["paging"]["next"] == "200"
    assert client.get(url, params={"start": 2400}).json()["paging"]["next"] == "2400"
    assert client.get(f"{BASE}/contents").json()["paging"]["next"] == "100"  # other routes fine
    assert client.post("/_sandbox/knobs", json={"stuck_cursor": {"nope": 0}}).status_code == 422


def test_stats_count_requests_per_route(client: TestClient) -> None:
    client.delete("/_sandbox/stats")
    client.get(f"{BASE}/contents")
    client.get(f"/ent/api/businesses.v1/{ORG}/contents")
    client.get(f"{BASE}/enrollmentReports")
    client.post("/oauth2/v1/token", data={})
    assert client.get("/_sandbox/stats").json()["requests"] == {
        "contents": 2,
        "enrollmentReports": 1,
        "token": 1,
    }


# --- admin: catalog and enrollments ---------------------------------------------------------


def test_catalog_admin_routes(client: TestClient, sim: CourseraSim) -> None:
    first = sim.catalog_items()[0]
    item = {"contentId": "NEWxxxxxxxxxxxxxxxxxxx", "contentType": "Course", "name": "New"}
    assert (
        client.put("/_sandbox/catalog/items", json=item).json()["id"]
        == "Course~" + item["contentId"]
    )
    patched = client.patch(
        f"/_sandbox/catalog/items/{first['id']}",
        json={
            "fields": {"name": "Renamed", "extraMetadata.definition.estimatedLearningTime": 60},
            "remove": ["extraMetadata.definition.promoPhoto"],
        },
    ).json()
    assert patched["name"] == "Renamed"
    assert patched["extraMetadata"]["definition"]["estimatedLearningTime"] == 60
    assert "promoPhoto" not in patched["extraMetadata"]["definition"]
    assert patched["lastUpdatedAt"] == int(sim.clock.time())
    served = read_all(client, f"{BASE}/contents")
    assert len(served) == 321 and served[0]["name"] == "Renamed"
    assert client.delete(f"/_sandbox/catalog/items/{first['id']}").status_code == 200
    assert first["id"] not in {it["id"] for it in read_all(client, f"{BASE}/contents")}
    assert client.delete(f"/_sandbox/catalog/items/{first['id']}").status_code == 404
    assert client.get("/_sandbox/catalog").json()["total"] == 320
    assert client.post("/_sandbox/catalog/reset").json() == {"total": 320}
    assert read_all(client, f"{BASE}/contents")[0]["name"] == first["name"]


def test_enrollment_admin_routes(client: TestClient, sim: CourseraSim) -> None:
    url = f"{BASE}/enrollmentReports"
    row = client.get(url, params={"limit": 1}).json()["elements"][0]
    sim.clock.advance(3600)
    client.headers["Authorization"] = f"Bearer {sim.issue_access_token()}"
    upserted = client.post(
        "/_sandbox/enrollments/upsert",
        json={
            "contentId": row["contentId"],
            "externalId": row["externalId"],
            "programId": row["programId"],
            "fields": {"overallProgress": 77, "isCompleted": False},
        },
    ).json()["rows"]
    assert upserted[0]["id"] == row["id"] and upserted[0]["overallProgress"] == 77
    assert upserted[0]["lastActivityAt"] == sim.clock.now_ms()
    recent = read_all(client, url, includeS12n="true", lastActivityAfter=sim.clock.now_ms() - 1)
    assert [r["id"] for r in recent] == [row["id"]]

    mutated = client.post("/_sandbox/enrollments/mutate", json={"fraction": 0.1, "salt": "x"})
    assert mutated.status_code == 200
    changed = read_all(client, url, includeS12n="true", lastActivityAfter=sim.clock.now_ms() - 1)
    assert 0.04 * WORLD.enrollments < len(changed) < 0.12 * WORLD.enrollments
    assert client.post("/_sandbox/enrollments/mutate", json={"fraction": 2}).status_code == 422
    bad = client.post("/_sandbox/enrollments/upsert", json={"contentId": "x"})
    assert bad.status_code == 422


def test_clock_advance_over_http(client: TestClient, sim: CourseraSim) -> None:
    before = sim.clock.time()
    assert client.post("/_sandbox/clock/advance", json={"seconds": 90}).status_code == 200
    assert sim.clock.time() == before + 90
    assert client.post("/_sandbox/clock/advance", json={"seconds": "x"}).status_code == 422


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_with_and_without_retry_after(client: TestClient) -> None:
    fault = {"path": "/contents$", "status": 429, "headers": {"Retry-After": "2"}, "times": 1}
    assert client.post("/_sandbox/faults", json=fault).status_code == 201
    client.post("/_sandbox/faults", json={"path": "/contents$", "status": 503, "times": 1})
    first = client.get(f"{BASE}/contents")
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    second = client.get(f"{BASE}/contents")
    assert second.status_code == 503 and "retry-after" not in second.headers
    assert client.get(f"{BASE}/contents").status_code == 200
    assert [f["hits"] for f in client.get("/_sandbox/faults").json()] == [1, 1]
    client.post("/_sandbox/faults", json={"status": 500, "times": -1})
    assert client.get("/_sandbox/stats").status_code == 200  # admin routes are exempt
    assert client.get(f"{BASE}/programs").status_code == 500
    assert client.delete("/_sandbox/faults").status_code == 204
    assert client.get(f"{BASE}/programs").status_code == 200
    assert client.post("/_sandbox/faults", json={"kind": "boom"}).status_code == 422


def test_skip_then_fault_on_the_third_page(client: TestClient) -> None:
    client.post("/_sandbox/faults", json={"path": "enrollmentReports", "skip": 2, "status": 502})
    codes = [client.get(f"{BASE}/enrollmentReports").status_code for _ in range(4)]
    assert codes == [200, 200, 502, 200]


def test_slow_fault(client: TestClient) -> None:
    client.post("/_sandbox/faults", json={"path": "/programs$", "kind": "slow", "delay": 0.3})
    began = time.perf_counter()
    assert client.get(f"{BASE}/programs").status_code == 200
    assert time.perf_counter() - began >= 0.3


def test_drop_fault_over_a_real_server(sim: CourseraSim) -> None:
    token = sim.issue_access_token()
    with serve_in_thread(create_app(sim)) as base_url, httpx.Client(base_url=base_url) as http:
        http.post("/_sandbox/faults", json={"path": "/contents$", "kind": "drop"})
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"{BASE}/contents", headers={"Authorization": f"Bearer {token}"})
        ok = http.get(f"{BASE}/contents", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["paging"]["total"] == 320


def test_run_in_thread_stops_cleanly(sim: CourseraSim) -> None:
    base_url, stop = run_in_thread(create_app(sim))
    assert httpx.get(f"{base_url}/_sandbox/world").json()["org_id"] == ORG
    stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/_sandbox/world", timeout=2)

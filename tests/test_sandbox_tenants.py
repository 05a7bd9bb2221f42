"""The simulators' fleet of tenants: the size mix, isolation between tenants, the load counters.

A fleet (``learnsync.sandbox.tenants.Fleet``) is many Coursera organizations and 360Learning
companies served at once; some tenants share a company. These tests check that the mix is a
deterministic function of the seed, that one tenant's credentials never reach another's data,
and that the per-company and per-organization counters count what they say.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from e2e_support import run_cli
from learnsync.config import load_config
from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.counters import CompanyCounters, SlidingWindowPeak
from learnsync.sandbox.coursera import CourseraSim
from learnsync.sandbox.coursera import create_app as create_coursera_app
from learnsync.sandbox.stack import running_stack, tenant_config_toml
from learnsync.sandbox.tenants import SIZE_MIX, Fleet, Tenant, tier_counts
from learnsync.sandbox.threesixty import ThreeSixtySim
from learnsync.sandbox.threesixty import create_app as create_threesixty_app
from learnsync.sandbox.threesixty.fleet import Companies
from learnsync.sandbox.world import World

DEFAULT = World(seed=42, catalog_size=20, learners=50, enrollments=40)
V2 = {"360-api-version": "v2.0"}


def small_fleet(count: int = 12, seed: int = 3) -> Fleet:
    return Fleet(seed=seed, count=count)


def shared_pair(fleet: Fleet) -> tuple[Tenant, Tenant]:
    company = next(c for c in fleet.companies if c.shared)
    first, second = company.members[:2]
    return fleet.tenants[first], fleet.tenants[second]


def alone(fleet: Fleet) -> list[Tenant]:
    return [t for t in fleet.tenants if not t.company.shared]


# --- the size mix ------------------------------------------------------------------------------


def test_the_mix_of_500_is_exact_deterministic_and_within_the_benchmark_budget() -> None:
    fleet = Fleet(seed=1, count=500)
    again = Fleet(seed=1, count=500)
    assert [t.describe() for t in fleet.tenants] == [t.describe() for t in again.tenants]
    totals = fleet.totals()
    assert [totals["tiers"][t.name]["tenants"] for t in SIZE_MIX] == [400, 80, 20]
    assert totals["total"]["catalog_items"] == 100_000
    assert totals["total"]["enrollments"] == 480_000
    assert totals["tenants_in_shared_companies"] == 100  # 20 % share a company
    assert totals["companies"] == 500 - 100 + totals["shared_companies"]
    small = SIZE_MIX[0]
    assert 100 <= small.catalog_size <= 300 and 100 <= small.enrollments <= 5_000
    printed = fleet.describe_mix()
    assert "100,000" in printed and "480,000" in printed and "small" in printed


def test_another_seed_deals_the_same_mix_to_other_tenants() -> None:
    one, other = Fleet(seed=1, count=200), Fleet(seed=2, count=200)
    assert one.totals()["total"] == other.totals()["total"]
    assert [t.tier.name for t in one.tenants] != [t.tier.name for t in other.tenants]
    assert {t.coursera_org_id for t in one.tenants}.isdisjoint(
        t.coursera_org_id for t in other.tenants
    )


@pytest.mark.parametrize("count", [0, 1, 2, 7, 33, 500])
def test_tier_counts_always_add_up(count: int) -> None:
    assert sum(tier_counts(count)) == count
    assert len(Fleet(count=count).tenants) == count


def test_every_tenant_has_its_own_ids_and_shared_companies_keep_one_group_each() -> None:
    fleet = Fleet(seed=1, count=500)
    tenants = fleet.tenants
    for attribute in (
        "coursera_org_id",
        "threesixty_client_id",
        "group_id",
    ):
        assert len({getattr(t, attribute) for t in tenants}) == 500, attribute
    assert len({t.world.coursera_client_id for t in tenants}) == 500
    assert len({t.world.coursera_refresh_token for t in tenants}) == 500
    for company in fleet.companies:
        members = [tenants[i] for i in company.members]
        assert {t.company_id for t in members} == {company.company_id}
        assert {t.world.email_domain for t in members} == {company.world.email_domain}
        assert company.world.learners == max(t.world.learners for t in members)
    assert {len(c.members) for c in fleet.companies} == {1, 2, 3}


# --- Coursera: one simulator, many organizations --------------------------------------------


@pytest.fixture
def coursera() -> Iterator[SimpleNamespace]:
    fleet = small_fleet()
    sim = CourseraSim(DEFAULT, SimClock(), fleet=fleet, tenant_cache_size=2)
    with TestClient(create_coursera_app(sim)) as client:
        yield SimpleNamespace(fleet=fleet, sim=sim, client=client)


def coursera_token(client: TestClient, tenant: Tenant) -> dict[str, str]:
    w = tenant.world
    answer = client.post(
        "/oauth2/v1/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": w.coursera_refresh_token,
            "client_id": w.coursera_client_id,
            "client_secret": w.coursera_client_secret,
        },
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def read_pages(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    start: str | None = "0"
    while start is not None:
        body = client.get(path, params={"start": start, "limit": 100}, headers=headers).json()
        rows += body["elements"]
        start = body["paging"].get("next")
    return rows


def test_a_coursera_token_reads_its_own_organization_only(coursera: SimpleNamespace) -> None:
    a, b = coursera.fleet.tenants[0], coursera.fleet.tenants[1]
    auth_a, auth_b = coursera_token(coursera.client, a), coursera_token(coursera.client, b)
    base_a = f"/api/businesses.v1/{a.coursera_org_id}"
    base_b = f"/api/businesses.v1/{b.coursera_org_id}"

    items_a = read_pages(coursera.client, f"{base_a}/contents", auth_a)
    items_b = read_pages(coursera.client, f"{base_b}/contents", auth_b)
    assert len(items_a) == a.world.catalog_size and len(items_b) == b.world.catalog_size
    assert {i["id"] for i in items_a}.isdisjoint(i["id"] for i in items_b)

    rows_a = read_pages(coursera.client, f"{base_a}/enrollmentReports", auth_a)
    assert rows_a and {r["programId"] for r in rows_a} <= set(a.world.coursera_program_ids)
    assert {r["contentId"] for r in rows_a} <= {i["contentId"] for i in items_a}

    for route in ("contents", "enrollmentReports", "programs"):
        refused = coursera.client.get(f"{base_b}/{route}", headers=auth_a)
        assert refused.status_code == 403, route
    default = f"/api/businesses.v1/{DEFAULT.coursera_org_id}/contents"
    assert coursera.client.get(default, headers=auth_a).status_code == 403
    unknown = coursera.client.get("/api/businesses.v1/no-such-org/contents", headers=auth_a)
    assert unknown.status_code == 404


def test_an_evicted_organization_is_regenerated_identically(coursera: SimpleNamespace) -> None:
    tenants = coursera.fleet.tenants[:3]  # the cache holds two
    first = [coursera.sim.org_catalog_items(t.coursera_org_id) for t in tenants]
    again = [coursera.sim.org_catalog_items(t.coursera_org_id) for t in tenants]
    assert first == again
    assert first[0] is not again[0]  # generated anew after its eviction


def test_a_changed_tenant_report_stays_changed(coursera: SimpleNamespace) -> None:
    tenant = coursera.fleet.tenants[0]
    changed = coursera.client.post(
        "/_sandbox/enrollments/mutate",
        json={"org_id": tenant.coursera_org_id, "fraction": 1.0, "salt": "x"},
    )
    assert changed.status_code == 200, changed.text
    version = coursera.sim.org_report(tenant.coursera_org_id).version
    assert version > 0
    for other in coursera.fleet.tenants[1:4]:  # would evict it, were it not pinned
        coursera.sim.org_report(other.coursera_org_id)
    assert coursera.sim.org_report(tenant.coursera_org_id).version == version
    assert coursera.sim.report.version == 0  # the default organization's is untouched


def test_coursera_counters_per_organization_and_their_reset(coursera: SimpleNamespace) -> None:
    a, b = coursera.fleet.tenants[0], coursera.fleet.tenants[1]
    auth_a = coursera_token(coursera.client, a)
    pages = read_pages(coursera.client, f"/api/businesses.v1/{a.coursera_org_id}/contents", auth_a)
    assert len(pages) == a.world.catalog_size
    expected_pages = -(-a.world.catalog_size // 100)
    report = f"/api/businesses.v1/{a.coursera_org_id}/enrollmentReports"
    coursera.client.get(report, headers=auth_a)
    coursera.client.get(f"/api/businesses.v1/{b.coursera_org_id}/contents", headers=auth_a)

    counters = coursera.client.get("/_sandbox/counters").json()["organizations"]
    assert counters[a.coursera_org_id]["contents"] == expected_pages
    assert counters[a.coursera_org_id]["enrollmentReports"] == 1
    assert counters[a.coursera_org_id]["token"] == 1
    assert counters[a.coursera_org_id]["requests"] == expected_pages + 1
    assert counters[b.coursera_org_id]["contents"] == 1  # addressed to b (and refused)
    assert counters[b.coursera_org_id]["token"] == 0
    assert counters[coursera.fleet.tenants[2].coursera_org_id]["requests"] == 0

    assert coursera.client.delete("/_sandbox/counters").status_code == 204
    after = coursera.client.get("/_sandbox/counters").json()["organizations"]
    assert after[a.coursera_org_id]["contents"] == 0


# --- 360Learning: one simulator, many companies ------------------------------------------------


@pytest.fixture
def threesixty() -> Iterator[SimpleNamespace]:
    fleet = small_fleet()
    clock = SimClock()
    default = ThreeSixtySim(DEFAULT, clock, phase_seconds=0.005)
    companies = Companies(fleet, clock, default.faults, phase_seconds=0.005)
    with TestClient(create_threesixty_app(default, companies)) as client:
        yield SimpleNamespace(fleet=fleet, default=default, companies=companies, client=client)


def threesixty_auth(client: TestClient, client_id: str, secret: str) -> dict[str, str]:
    answer = client.post(
        "/api/v2/oauth2/token",
        json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}", **V2}


def tenant_auth(client: TestClient, tenant: Tenant) -> dict[str, str]:
    return threesixty_auth(client, tenant.threesixty_client_id, tenant.threesixty_client_secret)


def new_integration(client: TestClient, auth: dict[str, str], tenant: Tenant) -> Any:
    return client.post(
        "/api/v2/integrations",
        headers=auth,
        json={
            "externalPlatform": "Coursera",
            "authorId": tenant.author_id,
            "groupId": tenant.group_id,
        },
    )


def upsert(client: TestClient, auth: dict[str, str], integration_id: str) -> Any:
    item = {
        "externalId": "Course~x",
        "name": "X",
        "defaultLang": "en",
        "launchUrl": "https://www.coursera.org/learn/x",
    }
    return client.put(
        f"/api/v2/bulk/integrations/{integration_id}/courses", headers=auth, json={"input": [item]}
    )


def test_a_360_token_never_reaches_another_company(threesixty: SimpleNamespace) -> None:
    client = threesixty.client
    a, b = alone(threesixty.fleet)[:2]
    auth_a, auth_b = tenant_auth(client, a), tenant_auth(client, b)
    created = new_integration(client, auth_a, a)
    assert created.status_code == 201, created.text
    integration = created.json()["_id"]

    assert client.get("/api/v2/integrations", headers=auth_b).json() == []
    assert upsert(client, auth_b, integration).status_code == 404
    patched = client.patch(
        f"/api/v2/integrations/{integration}", headers=auth_b, json={"externalPlatform": "Y"}
    )
    assert patched.status_code == 404
    groups_b = {g["_id"] for g in client.get("/api/v2/groups", headers=auth_b).json()}
    assert b.group_id in groups_b and a.group_id not in groups_b
    assert client.get(f"/api/v2/groups/{a.group_id}", headers=auth_b).status_code == 404
    assert new_integration(client, auth_b, a).status_code == 404  # a's group: unknown to b
    assert upsert(client, auth_a, integration).status_code == 202
    assert client.get("/api/v2/integrations", headers=auth_a).json()[0]["_id"] == integration

    # the default world's company is served as before, and knows no tenant
    auth_default = threesixty_auth(
        client, DEFAULT.threesixty_client_id, DEFAULT.threesixty_client_secret
    )
    assert client.get("/api/v2/integrations", headers=auth_default).json() == []
    assert upsert(client, auth_default, integration).status_code == 404
    forged = {**auth_a, "Authorization": "Bearer " + a.company.key + ".forged"}
    assert client.get("/api/v2/integrations", headers=forged).status_code == 401
    wrong = client.post(
        "/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": a.threesixty_client_id,
            "client_secret": b.threesixty_client_secret,
        },
    )
    assert wrong.status_code == 401


def test_tenants_sharing_a_company_keep_their_own_group(threesixty: SimpleNamespace) -> None:
    client = threesixty.client
    one, two = shared_pair(threesixty.fleet)
    auth_one, auth_two = tenant_auth(client, one), tenant_auth(client, two)
    assert new_integration(client, auth_one, one).status_code == 201
    assert new_integration(client, auth_two, two).status_code == 201  # same name, other group
    groups = {g["_id"] for g in client.get("/api/v2/groups", headers=auth_one).json()}
    assert {one.group_id, two.group_id} <= groups
    listed = client.get("/api/v2/integrations", headers=auth_two).json()
    assert sorted(i["groupId"] for i in listed) == sorted([one.group_id, two.group_id])
    assert threesixty.companies.for_client(one.threesixty_client_id) is (
        threesixty.companies.for_client(two.threesixty_client_id)
    )


def test_the_tenants_route_lists_every_credential(threesixty: SimpleNamespace) -> None:
    body = threesixty.client.get("/_sandbox/tenants").json()
    assert body["count"] == 12
    assert body["tenants"] == [t.describe() for t in threesixty.fleet.tenants]
    assert threesixty.client.get("/_sandbox/counters?company=nobody").status_code == 404


# --- the counters --------------------------------------------------------------------------------


def test_the_sliding_window_peak_is_the_busiest_second() -> None:
    peak = SlidingWindowPeak()
    for at in (0.0, 0.3, 0.6, 0.9, 1.0, 1.05, 2.5, 2.6):
        peak.note(at)
    # (0.05, 1.05] holds 0.3, 0.6, 0.9, 1.0, 1.05; 0.0 left the window at 1.0 exactly
    assert peak.peak == 5
    spread = SlidingWindowPeak()
    for k in range(20):
        spread.note(k * 0.5)  # two a second, never three
    assert spread.peak == 2


def test_counters_use_the_monotonic_clock_and_split_reads_from_writes(
    threesixty: SimpleNamespace,
) -> None:
    assert CompanyCounters()._monotonic is time.monotonic
    client = threesixty.client
    tenant = alone(threesixty.fleet)[0]
    sim = threesixty.companies.for_client(tenant.threesixty_client_id)
    ticks = iter([10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 11.3, 11.4, 11.6, 20.0])
    sim.counters = CompanyCounters(clock=lambda: next(ticks))
    auth = tenant_auth(client, tenant)  # the token request: counted, in no window
    integration = new_integration(client, auth, tenant).json()["_id"]  # write at 10.0
    for _ in range(3):
        client.patch(  # writes at 10.1, 10.2, 10.3
            f"/api/v2/integrations/{integration}", headers=auth, json={"defaultProgress": 1}
        )
    client.get("/api/v2/integrations", headers=auth)  # read at 10.4
    client.get("/api/v2/groups", headers=auth)  # read at 10.5
    for _ in range(3):
        client.get("/api/v2/groups", headers=auth)  # reads at 11.3, 11.4, 11.6
    client.delete(f"/api/v2/integrations/{integration}", headers=auth)  # write at 20.0
    counts = threesixty.client.get(f"/_sandbox/counters?company={tenant.company_id}").json()
    got = counts["companies"][tenant.company_id]
    assert got["requests"] == 11 and got["token_requests"] == 1
    assert (got["writes"], got["max_writes_per_second"]) == (5, 4)
    assert (got["reads"], got["max_reads_per_second"]) == (
        5,
        3,
    )  # (10.4, 11.4] holds 10.5, 11.3, 11.4
    assert got["bulk_submits"] == 0


def test_unfinished_operations_high_water_mark_and_bulk_submits() -> None:
    fleet = small_fleet()
    clock = SimClock()
    default = ThreeSixtySim(DEFAULT, clock)
    companies = Companies(fleet, clock, default.faults, phase_seconds=30.0)
    client = TestClient(create_threesixty_app(default, companies))
    tenant = alone(fleet)[0]
    auth = tenant_auth(client, tenant)
    integration = new_integration(client, auth, tenant).json()["_id"]
    statuses = [upsert(client, auth, integration).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]  # three may be unfinished at once

    def mine() -> dict[str, Any]:
        answer = client.get("/_sandbox/counters").json()["companies"]
        return dict(answer[tenant.company_id])

    got = mine()
    assert got["max_unfinished_operations"] == 3
    assert (got["bulk_submits"], got["bulk_operations"], got["concurrency_refusals"]) == (4, 3, 1)
    assert got["max_writes_per_second"] >= 5  # integration + 4 submits, well within a second

    assert client.post("/_sandbox/clock/advance", json={"seconds": 100}).status_code == 200
    sim = companies.for_client(tenant.threesixty_client_id)
    assert sim is not None
    sim.advance()
    assert sim.unfinished_operations() == 0
    assert upsert(client, auth, integration).status_code == 202
    assert mine()["max_unfinished_operations"] == 3  # a high-water mark: one open now

    assert client.delete("/_sandbox/counters").status_code == 204
    after = mine()
    assert after["max_unfinished_operations"] == 1  # restarts at the one still unfinished
    assert after["bulk_submits"] == 0 and after["requests"] == 0
    others = [c for c in fleet.companies if c.company_id != tenant.company_id]
    assert all(mine_or_zero == 0 for mine_or_zero in _requests(client, others))
    assert companies.for_client(others[0].world.threesixty_client_id) is None  # not a tenant's


def _requests(client: TestClient, companies: list[Any]) -> list[int]:
    answer = client.get("/_sandbox/counters").json()["companies"]
    return [answer[c.company_id]["requests"] for c in companies]


# --- end to end: learnsync syncs two tenants that share a company --------------------------------


def test_two_tenants_of_one_company_sync_into_their_own_groups(tmp_path: Path) -> None:
    fleet = Fleet(seed=3, count=12, clean_report=True, unknown_learner_ratio=0.0)
    one, two = shared_pair(fleet)
    created: dict[str, int] = {}
    sent = 0
    with running_stack(DEFAULT, fleet=fleet) as stack:
        for tenant in (one, two):
            path = tmp_path / f"{tenant.key}.toml"
            db = tmp_path / f"{tenant.key}.db"
            urls = (stack.coursera_url, stack.threesixty_url)
            path.write_text(tenant_config_toml(tenant, *urls, f"sqlite:///{db}"))
            load_config(path)  # a valid config
            for pipeline in ("content", "stats"):
                result = run_cli("sync", pipeline, "--config", path, report=tmp_path / "r.json")
                assert result.exit_code == 0, result.stderr
                assert result.report is not None and result.report["failed"] == []
                if pipeline == "content":
                    created[tenant.group_id] = result.report["created"]
                else:
                    sent += result.report["sent"]
        assert stack.companies is not None
        company = stack.companies.for_client(one.threesixty_client_id)
        assert company is not None
        by_group: dict[str, int] = {}
        for course in company.courses:
            by_group[course.group_id] = by_group.get(course.group_id, 0) + 1
        counters = stack.companies.counters()[one.company_id]
        applied = company.stats_applied
        default_courses = len(stack.threesixty.courses)
    assert by_group == created and all(n > 0 for n in created.values())
    assert sent > 0 and applied == sent
    assert counters["bulk_submits"] >= 4 and counters["max_unfinished_operations"] >= 1
    assert default_courses == 0  # the default company got nothing

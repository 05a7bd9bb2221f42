"""Contract tests of the 360Learning simulator: every route, status, envelope, paging, switch.

Every exchange with a route that exists in 360Learning's published OpenAPI files is validated
against them (``openapi_contract.ContractClient``); ``contract=False`` marks the GAP answers the
vendor does not document (e.g. ``invalidApiVersion``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.threesixty import ALL_SCOPES, ThreeSixtySim, create_app
from learnsync.sandbox.world import World
from openapi_contract import (
    ContractClient,
    course_item,
    run_bulk,
    stat_item,
    token_for,
    wait_operation,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_env(**switches: Any) -> SimpleNamespace:
    world = World(learners=300, catalog_size=10, enrollments=10, unknown_learner_ratio=0.2)
    clock = switches.pop("clock", None) or SimClock()
    switches.setdefault("phase_seconds", 0.005)
    sim = ThreeSixtySim(world, clock, **switches)
    client = TestClient(create_app(sim))
    token = token_for(client, world.threesixty_client_id, world.threesixty_client_secret)
    known = [n for n in range(world.learners) if world.learner_known_to_360(n)]
    unknown = [n for n in range(world.learners) if not world.learner_known_to_360(n)]
    return SimpleNamespace(
        world=world,
        sim=sim,
        clock=clock,
        client=client,
        api=ContractClient(client, token),
        known=known,
        unknown=unknown,
    )


@pytest.fixture
def env() -> SimpleNamespace:
    return make_env()


def new_integration(env: SimpleNamespace, name: str = "Coursera", **fields: Any) -> str:
    body = {
        "externalPlatform": name,
        "authorId": env.world.author_id,
        "groupId": env.world.group_id,
    }
    body.update(fields)
    response = env.api.post("/api/v2/integrations", json=body, check_request=True)
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


def courses_url(integration_id: str) -> str:
    return f"/api/v2/bulk/integrations/{integration_id}/courses"


# ----------------------------------------------------------------------------- token and auth
def test_token_success_shape(env: SimpleNamespace) -> None:
    response = env.client.post(
        "/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": env.world.threesixty_client_id,
            "client_secret": env.world.threesixty_client_secret,
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body) == {"token_type", "access_token", "expires_in"}


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": None}, 400, "invalid_request"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"client_secret": 12}, 400, "invalid_request"),
        ({"scope": "everything"}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"user_id": "0123456789abcdef01234567"}, 400, "non_existing_user"),
    ],
)
def test_token_errors(
    env: SimpleNamespace, change: dict[str, Any], status: int, error: str
) -> None:
    body = {
        "grant_type": "client_credentials",
        "client_id": env.world.threesixty_client_id,
        "client_secret": env.world.threesixty_client_secret,
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = env.api.post("/api/v2/oauth2/token", json=body)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_token_not_json_is_invalid_request(env: SimpleNamespace) -> None:
    response = env.client.post("/api/v2/oauth2/token", content=b"grant_type=client_credentials")
    assert (response.status_code, response.json()) == (400, {"error": "invalid_request"})


def test_missing_bad_expired_and_revoked_tokens_are_401(env: SimpleNamespace) -> None:
    for token in (None, "not-a-token"):
        response = ContractClient(env.client, token).get("/api/v2/integrations")
        assert (response.status_code, response.json()) == (401, {"error": "invalid_token"})
    assert env.api.get("/api/v2/integrations").status_code == 200
    env.clock.advance(3601)
    assert env.api.get("/api/v2/integrations").status_code == 401
    env.api.token = token_for(
        env.client, env.world.threesixty_client_id, env.world.threesixty_client_secret
    )
    assert env.api.get("/api/v2/integrations").status_code == 200
    assert env.client.post("/_sandbox/tokens/revoke", json={}).json()["revoked"] >= 1
    assert env.api.get("/api/v2/integrations").status_code == 401


def test_expire_tokens_admin_route(env: SimpleNamespace) -> None:
    env.client.post("/_sandbox/tokens/expire", json={"token": env.api.token})
    assert env.api.get("/api/v2/integrations").status_code == 401


@pytest.mark.parametrize("version", [None, "v1", "2.0", ""])
def test_api_version_header_required(env: SimpleNamespace, version: str | None) -> None:
    headers = {"Authorization": f"Bearer {env.api.token}"}
    if version is not None:
        headers["360-api-version"] = version
    response = env.client.get("/api/v2/integrations", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidApiVersion"
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v2/integrations", "integrations:read"),
        ("POST", "/api/v2/integrations", "integrations:write"),
        ("PUT", "/api/v2/bulk/integrations/{i}/courses", "integrations:bulk"),
        ("DELETE", "/api/v2/bulk/integrations/{i}/courses", "integrations:bulk"),
        ("POST", "/api/v2/bulk/integrations/{i}/stats", "integrations:bulk"),
        ("GET", "/api/v2/bulk/operations", "bulkOperations:read"),
        ("GET", "/api/v2/courses", "courses:read"),
        ("GET", "/api/v2/courses/stats", "courseStats:read"),
        ("GET", "/api/v2/groups", "groups:read"),
        ("GET", "/api/v2/users", "users:read"),
        ("GET", "/api/v2/tags", "tags:read"),
        ("POST", "/api/v2/tags", "tags:write"),
    ],
)
def test_scopes_are_enforced(env: SimpleNamespace, method: str, path: str, scope: str) -> None:
    integration_id = new_integration(env)
    others = [s for s in ALL_SCOPES if s != scope]
    cred = env.client.post("/_sandbox/credentials", json={"scopes": others}).json()
    limited = ContractClient(
        env.client, token_for(env.client, cred["client_id"], cred["client_secret"])
    )
    url = path.replace("{i}", integration_id)
    response = limited.call(method, url, json={"input": []})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_scope"
    assert scope in response.json()["error"]["message"]
    full = env.api.call(method, url, json={"input": []}, contract=False)
    assert full.status_code != 403


# ----------------------------------------------------------------------------- integrations
def test_integration_crud(env: SimpleNamespace) -> None:
    integration_id = new_integration(env, defaultCompletion=True, defaultProgress=0)
    listed = env.api.get("/api/v2/integrations", params={"externalPlatform[eq]": "Coursera"})
    assert [i["_id"] for i in listed.json()] == [integration_id]
    assert "link" not in listed.headers
    assert env.api.get("/api/v2/integrations", params={"externalPlatform[eq]": "X"}).json() == []
    patched = env.api.patch(
        f"/api/v2/integrations/{integration_id}", json={"defaultProgress": 10}, check_request=True
    )
    assert patched.status_code == 200
    assert patched.json()["defaultProgress"] == 10 and patched.json()["defaultCompletion"] is True
    assert (
        env.api.patch("/api/v2/integrations/0123456789abcdef01234567", json={}).status_code == 404
    )
    deleted = env.api.delete(f"/api/v2/integrations/{integration_id}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert env.api.get("/api/v2/integrations").json() == []
    again = env.api.delete(f"/api/v2/integrations/{integration_id}")
    assert again.json()["error"]["code"] == "integrationNotFound"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"externalPlatform": "coursera"}, 400, "duplicateExternalPlatform"),
        ({"externalPlatform": "Reserved"}, 400, "reservedPlatformName"),
        ({"groupId": "0123456789abcdef01234567"}, 404, "groupNotFound"),
        ({"authorId": "0123456789abcdef01234567"}, 404, "userNotFound"),
    ],
)
def test_integration_create_errors(body: dict[str, Any], status: int, code: str) -> None:
    env = make_env(reserved_platform_names=["reserved"])
    new_integration(env)
    payload = {
        "externalPlatform": "Other",
        "authorId": env.world.author_id,
        "groupId": env.world.group_id,
        **body,
    }
    response = env.api.post("/api/v2/integrations", json=payload)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_same_name_in_another_group_is_allowed_and_limit_applies() -> None:
    env = make_env(integrations_limit=2)
    new_integration(env)
    new_integration(env, groupId=env.world.subgroup_id)
    response = env.api.post(
        "/api/v2/integrations",
        json={
            "externalPlatform": "Third",
            "authorId": env.world.author_id,
            "groupId": env.world.group_id,
        },
    )
    assert response.json()["error"]["code"] == "integrationsLimitReached"


@pytest.mark.parametrize(
    "body",
    [
        {"externalPlatform": ""},
        {"authorId": "nope"},
        {"defaultProgress": 101},
        {"defaultProgress": 1.5},
        {"defaultCompletion": "yes"},
        {"externalPlatformLogoUrl": "http://insecure.example.com/logo.png"},
        {"unknownField": 1},
    ],
)
def test_integration_body_validation_is_invalid_input(
    env: SimpleNamespace, body: dict[str, Any]
) -> None:
    payload = {
        "externalPlatform": "P",
        "authorId": env.world.author_id,
        "groupId": env.world.group_id,
    }
    payload.update(body)
    response = env.api.post("/api/v2/integrations", json=payload, contract=False)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalidInput"


def test_integrations_paging_by_100_with_absolute_link(env: SimpleNamespace) -> None:
    for n in range(230):
        env.sim.create_integration(
            {
                "externalPlatform": f"P{n:03d}",
                "authorId": env.world.author_id,
                "groupId": env.world.group_id,
            }
        )
    pages = []
    response = env.api.get("/api/v2/integrations")
    while True:
        pages.append(response.json())
        link = response.headers.get("link")
        if link is None:
            break
        assert link.startswith("<http://testserver/api/v2/integrations?next=") and link.endswith(
            '>; rel="next"'
        )
        response = env.api.get(link[1 : link.index(">")])
    assert [len(p) for p in pages] == [100, 100, 30]
    names = [i["externalPlatform"] for p in pages for i in p]
    assert names == sorted(names) and len(set(names)) == 230


# ----------------------------------------------------------------------------- bulk submit
def test_bulk_submit_is_202_with_absolute_location(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    response = env.api.put(
        courses_url(integration_id), json={"input": [course_item()]}, check_request=True
    )
    assert response.status_code == 202 and response.content == b""
    location = response.headers["location"]
    assert location.startswith("http://testserver/api/v2/bulk/operations/")
    assert len(location.rsplit("/", 1)[1]) == 24


@pytest.mark.parametrize(
    ("method", "suffix", "body", "status", "code"),
    [
        ("PUT", "courses", {"input": {"a": 1}}, 400, "invalidInput"),
        ("PUT", "courses", {"items": []}, 400, "invalidInput"),
        ("PUT", "courses", {"input": [{}] * 10_001}, 400, "inputTooLong"),
        ("DELETE", "courses", {"input": [{"externalId": "x"}] * 1_001}, 400, "inputTooLong"),
        ("POST", "stats", {"input": [{}] * 10_001}, 400, "inputTooLong"),
        ("POST", "stats", {"input": "x"}, 400, "invalidInput"),
    ],
)
def test_bulk_submit_errors(
    env: SimpleNamespace, method: str, suffix: str, body: Any, status: int, code: str
) -> None:
    integration_id = new_integration(env)
    url = f"/api/v2/bulk/integrations/{integration_id}/{suffix}"
    response = env.api.call(method, url, json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_bulk_limits_accept_exactly_the_maximum(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    assert (
        env.api.delete(
            courses_url(integration_id), json={"input": [{"externalId": "x"}] * 1000}
        ).status_code
        == 202
    )


def test_bulk_unknown_integration_is_404(env: SimpleNamespace) -> None:
    response = env.api.put(courses_url("0123456789abcdef01234567"), json={"input": []})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "integrationNotFound"


def test_concurrency_limit_and_bulk_disabled() -> None:
    env = make_env(phase_seconds=60)
    integration_id = new_integration(env)
    for _ in range(3):
        assert env.api.put(courses_url(integration_id), json={"input": []}).status_code == 202
    refused = env.api.put(courses_url(integration_id), json={"input": []})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "bulkOperationsConcurrencyLimitReached"
    env.clock.advance(180)  # the three finish
    assert env.api.put(courses_url(integration_id), json={"input": []}).status_code == 202
    env.client.post("/_sandbox/switches", json={"bulk_api_disabled": True})
    disabled = env.api.post(f"/api/v2/bulk/integrations/{integration_id}/stats", json={"input": []})
    assert disabled.status_code == 503
    assert disabled.json()["error"]["code"] == "bulkAPIDisabled"


def test_operation_lifecycle_over_time() -> None:
    clock = SimClock(frozen_at=T0)
    env = make_env(clock=clock, phase_seconds=1.0)
    integration_id = new_integration(env)
    items = [course_item(f"c{n}") for n in range(10)]
    location = env.api.put(courses_url(integration_id), json={"input": items}).headers["location"]
    seen = []
    for _ in range(4):
        state = env.api.get(location).json()
        seen.append(state)
        if state["status"] != "completed":
            results = env.api.get(location + "/results")
            assert results.status_code == 400
            assert results.json()["error"]["code"] == "bulkOperationNotRun"
        clock.advance(1.0)
    assert [s["status"] for s in seen] == ["pending", "queued", "running", "completed"]
    assert set(seen[0]) == {"_id", "type", "createdAt", "status"}
    assert seen[0]["createdAt"] == "2026-03-02T09:00:00.000Z"
    assert seen[1]["queuedAt"] == "2026-03-02T09:00:01.000Z"
    assert seen[2]["startedAt"] == "2026-03-02T09:00:02.000Z" and seen[2]["progress"]["index"] == 0
    assert seen[3]["endedAt"] == "2026-03-02T09:00:03.000Z" and seen[3]["progress"]["index"] == 9
    assert seen[3]["type"] == "importExternalCourses"
    clock.advance(-0.5)
    halfway = env.api.get(location).json()
    assert halfway["status"] == "completed"  # terminal states stay terminal


def test_fail_next_operation_is_whole_operation_error(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    env.client.post("/_sandbox/switches", json={"fail_next_operations": 1})
    location = env.api.put(courses_url(integration_id), json={"input": [course_item()]}).headers[
        "location"
    ]
    state = wait_operation(env.api, location)
    assert state["status"] == "error" and state["errorMessage"]
    results = env.api.get(location + "/results").json()
    assert results[0]["status"] == "error"
    assert env.sim.courses == []
    assert (
        run_bulk(env.api, "PUT", courses_url(integration_id), [course_item()])[0]["status"]
        == "success"
    )


def test_unknown_operation_is_404(env: SimpleNamespace) -> None:
    for suffix in ("", "/results"):
        response = env.api.get(f"/api/v2/bulk/operations/0123456789abcdef01234567{suffix}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "bulkOperationNotFound"


def test_list_operations_pages_by_20_and_filters() -> None:
    env = make_env(max_concurrent_operations=100)
    integration_id = new_integration(env)
    for _ in range(22):
        env.api.put(courses_url(integration_id), json={"input": []})
    env.api.delete(courses_url(integration_id), json={"input": []})
    first = env.api.get("/api/v2/bulk/operations")
    assert len(first.json()) == 20 and "link" in first.headers
    link = first.headers["link"]
    second = env.api.get(link[1 : link.index(">")])
    assert len(second.json()) == 3 and "link" not in second.headers
    archives = env.api.get("/api/v2/bulk/operations", params={"type[eq]": "archiveExternalCourses"})
    assert [o["type"] for o in archives.json()] == ["archiveExternalCourses"]
    wait_operation(env.api, f"/api/v2/bulk/operations/{archives.json()[0]['_id']}")
    done = env.api.get("/api/v2/bulk/operations", params={"status[eq]": "completed"}).json()
    assert len(done) == 20 and all(o["status"] == "completed" for o in done)
    future = env.api.get(
        "/api/v2/bulk/operations", params={"createdAt[gte]": "2999-01-01T00:00:00.000Z"}
    )
    assert future.json() == []


# ----------------------------------------------------------------------------- courses
def test_upsert_creates_replaces_and_keeps_tags(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    results = run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a", duration=30)])
    course_id = results[0]["resourceId"]
    assert results[0]["input"]["externalId"] == "a"
    course = env.api.get(f"/api/v2/courses/{course_id}").json()
    assert (course["type"], course["status"], course["externalPlatform"]) == (
        "external",
        "published",
        "Coursera",
    )
    assert course["groupId"] == env.world.group_id and course["duration"] == 30
    for kind in ("catalog", "library"):
        ids = env.api.get(f"/api/v2/groups/{env.world.group_id}/{kind}/course-ids").json()
        assert ids == [course_id]
    tag = env.api.post("/api/v2/tags", json={"name": "Data", "isMain": False}, check_request=True)
    assert tag.status_code == 201
    tag_id = tag.json()["_id"]
    put = env.api.put(
        f"/api/v2/courses/{course_id}/tags", json={"tagIds": [tag_id]}, check_request=True
    )
    assert put.json() == [tag_id]
    again = run_bulk(
        env.api, "PUT", courses_url(integration_id), [course_item("a", name="Renamed")]
    )
    assert again[0]["resourceId"] == course_id
    course = env.api.get(f"/api/v2/courses/{course_id}").json()
    assert course["name"] == "Renamed" and "duration" not in course  # full replacement
    assert env.api.get(f"/api/v2/courses/{course_id}/tags").json() == [
        {"tagId": tag_id, "source": "native"}
    ]
    assert env.sim.course(course_id).writes == 2
    retrieved = env.api.get(f"/api/v2/integrations/{integration_id}/courses/a").json()
    assert retrieved["courseId"] == course_id and retrieved["translations"] == []
    assert retrieved["authorId"] == env.world.author_id


def test_retrieve_external_course_errors(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    missing = env.api.get(f"/api/v2/integrations/{integration_id}/courses/nope")
    assert missing.json()["error"]["code"] == "courseNotBelongToIntegration"
    unknown = env.api.get("/api/v2/integrations/0123456789abcdef01234567/courses/a")
    assert unknown.json()["error"]["code"] == "integrationNotFound"


@pytest.mark.parametrize("restore_on_upsert", [False, True])
def test_archive_and_restore(restore_on_upsert: bool) -> None:
    env = make_env(restore_on_upsert=restore_on_upsert)
    integration_id = new_integration(env)
    course_id = run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])[0][
        "resourceId"
    ]
    results = run_bulk(
        env.api, "DELETE", courses_url(integration_id), [{"externalId": "a"}, {"externalId": "zz"}]
    )
    assert results[0] == {
        "input": {"externalId": "a"},
        "status": "success",
        "resourceId": course_id,
    }
    assert results[1]["status"] == "error" and "zz" in results[1]["errorMessage"]
    assert env.api.get(f"/api/v2/courses/{course_id}").json()["status"] == "archived"
    run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])
    expected = "published" if restore_on_upsert else "archived"
    assert env.api.get(f"/api/v2/courses/{course_id}").json()["status"] == expected
    restored = env.api.put(
        f"/api/v2/courses/{course_id}/archive", json={"archived": False}, check_request=True
    )
    assert restored.status_code == 200 and restored.json()["status"] == "published"
    listed = env.api.get(
        "/api/v2/courses", params={"status[eq]": "published", "type[eq]": "external"}
    )
    assert [c["_id"] for c in listed.json()] == [course_id]
    assert env.api.get("/api/v2/courses", params={"status[eq]": "archived"}).json() == []


def test_deleting_integration_archives_courses_and_blocks_restore(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    course_id = run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])[0][
        "resourceId"
    ]
    env.api.delete(f"/api/v2/integrations/{integration_id}")
    assert env.api.get(f"/api/v2/courses/{course_id}").json()["status"] == "archived"
    response = env.api.put(f"/api/v2/courses/{course_id}/archive", json={"archived": False})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "integrationInactive"
    assert env.api.get("/api/v2/courses/0123456789abcdef01234567").status_code == 404


def test_tags_errors(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    course_id = run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])[0][
        "resourceId"
    ]
    env.api.post("/api/v2/tags", json={"name": "Data", "isMain": True})
    dup = env.api.post("/api/v2/tags", json={"name": "data", "isMain": False})
    assert dup.json()["error"]["code"] == "tagNameNotAvailable"
    assert [
        t["name"] for t in env.api.get("/api/v2/tags", params={"isMain[eq]": "true"}).json()
    ] == ["Data"]
    assert env.api.get("/api/v2/tags", params={"isMain[eq]": "false"}).json() == []
    missing = env.api.put(
        f"/api/v2/courses/{course_id}/tags", json={"tagIds": ["0123456789abcdef01234567"]}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "tagNotFound"


BAD_COURSE_FIELDS = [
    {"externalId": None},
    {"externalId": ""},
    {"externalId": 12},
    {"name": None},
    {"name": ""},
    {"launchUrl": None},
    {"launchUrl": ""},
    {"defaultLang": None},
    {"defaultLang": "en-US"},
    {"defaultLang": "EN"},
    {"sources": None},
    {"sources": "Stanford"},
    {"sources": [{}]},
    {"sources": [{"name": ""}]},
    {"sources": [{"name": "S", "logoUrl": ""}]},
    {"sources": ["S"]},
    {"subjects": None},
    {"subjects": "ML"},
    {"subjects": [""]},
    {"subjects": [3]},
    {"contentType": "film"},
    {"description": ""},
    {"difficultyLevel": "expert"},
    {"duration": 0},
    {"duration": 100_001},
    {"duration": 1.5},
    {"duration": "45"},
    {"imageUrl": ""},
    {"mobileLaunchUrl": ""},
    {"authorId": "not-an-object-id"},
    {"authorId": "0123456789abcdef01234567"},  # well-formed but unknown user
    {"translations": {}},
    {"translations": [{"lang": "xx", "translatedFields": {}}]},
    {"translations": [{"lang": "fr"}]},
    {"translations": [{"lang": "fr", "translatedFields": {"name": ""}}]},
    {"translations": [{"lang": "fr", "translatedFields": {"subjects": [""]}}]},
]


def test_course_item_validation_table(env: SimpleNamespace) -> None:
    """One bad field per row → an error result for that row only; never a 500."""
    integration_id = new_integration(env)
    items: list[Any] = [course_item(f"bad{n}", **row) for n, row in enumerate(BAD_COURSE_FIELDS)]
    items += ["not-an-object", course_item("good", duration=100_000, contentType="specialization")]
    results = run_bulk(env.api, "PUT", courses_url(integration_id), items)
    assert len(results) == len(items)
    for row, result in zip([*BAD_COURSE_FIELDS, "not-an-object"], results, strict=False):
        assert result["status"] == "error", (row, result)
        assert result["errorMessage"]
    assert results[-1]["status"] == "success"
    assert results[-2]["input"] == {"value": "not-an-object"}


def test_all_79_languages_accepted(env: SimpleNamespace) -> None:
    from learnsync.sandbox.threesixty.validation import LANGS

    integration_id = new_integration(env)
    items = [course_item(f"l{n}", defaultLang=lang) for n, lang in enumerate(LANGS)]
    results = run_bulk(env.api, "PUT", courses_url(integration_id), items)
    assert len(LANGS) == 79 and all(r["status"] == "success" for r in results)


@pytest.mark.parametrize("reject", [False, True])
def test_unknown_properties_switch(reject: bool) -> None:
    env = make_env(reject_unknown_properties=reject)
    integration_id = new_integration(env)
    results = run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a", tags=["x"])])
    assert results[0]["status"] == ("error" if reject else "success")


# ----------------------------------------------------------------------------- statistics
BAD_STAT_FIELDS = [
    {"courseIdentifier": None},
    {"courseIdentifier": {"type": "slug", "value": "a"}},
    {"courseIdentifier": {"type": "externalId", "value": ""}},
    {"userIdentifier": None},
    {"userIdentifier": {"type": "username", "value": "x"}},
    {"userIdentifier": {"type": "mail", "value": ""}},
    {"progress": None},
    {"progress": -1},
    {"progress": 101},
    {"progress": "50"},
    {"timeSpent": None},
    {"timeSpent": 0},
    {"timeSpent": -5},
    {"firstActivityAt": None},
    {"firstActivityAt": "yesterday"},
    {"firstActivityAt": "2026-03-01"},
    {"lastActivityAt": None},
    {"lastActivityAt": "2026-13-01T00:00:00.000Z"},
    {"lastActivityAt": "2026-02-01T00:00:00.000Z"},  # before firstActivityAt (GAP e)
    {"forceNew": "yes"},
    {"score": 101},
    {"result": "passed"},
    {"lang": "en-US"},
    {"courseIdentifier": {"type": "externalId", "value": "unknown-course"}},
    {"courseIdentifier": {"type": "internalId", "value": "0123456789abcdef01234567"}},
    {"userIdentifier": {"type": "mail", "value": "nobody@example.com"}},
    {"userIdentifier": {"type": "internalId", "value": "0123456789abcdef01234567"}},
]


def test_stat_item_validation_table(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])
    mail = env.world.learner_email(env.known[0])
    base = ("a", mail, "2026-03-01T10:00:00.000Z", "2026-03-01T11:00:00.000Z")
    items = [stat_item(*base, **row) for row in BAD_STAT_FIELDS]
    items.append(stat_item(*base, score=80, result="success", lang="fr", forceNew=False))
    results = run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", items)
    for row, result in zip(BAD_STAT_FIELDS, results, strict=False):
        assert result["status"] == "error", (row, result)
    assert "userNotFound: no user with mail nobody@example.com" in results[-3]["errorMessage"]
    assert results[-1]["status"] == "success"
    stats = env.api.get("/api/v2/courses/stats").json()
    assert len(stats) == 1 and stats[0]["lang"] == "fr" and stats[0]["score"] == 80
    assert stats[0]["_id"] == results[-1]["resourceId"]


def test_unknown_360_learner_and_case_insensitive_mail(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])
    unknown_mail = env.world.learner_email(env.unknown[0])
    known_mail = env.world.learner_email(env.known[0]).upper()
    items = [
        stat_item("a", unknown_mail, "2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00.000Z"),
        stat_item("a", known_mail, "2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00.000Z", 100),
    ]
    results = run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", items)
    assert results[0]["status"] == "error" and unknown_mail in results[0]["errorMessage"]
    assert results[1]["status"] == "success"
    stat = env.api.get("/api/v2/courses/stats").json()[0]
    assert stat["completedAt"] == "2026-03-01T10:00:00.000Z" and stat["progress"] == 100
    assert stat["userId"] == env.world.learner_user_id(env.known[0])


def test_course_stats_filters_and_paging(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    courses = [course_item("a"), course_item("b"), course_item("c")]
    run_bulk(env.api, "PUT", courses_url(integration_id), courses)
    items = []
    for n in env.known[:200]:
        for ext, progress in (("a", 100), ("b", 40), ("c", 70)):
            day = 1 + n % 28
            items.append(
                stat_item(
                    ext,
                    env.world.learner_email(n),
                    f"2026-02-{day:02d}T08:00:00.000Z",
                    f"2026-02-{day:02d}T09:00:00.000Z",
                    progress,
                )
            )
    results = run_bulk(env.api, "POST", f"/api/v2/bulk/integrations/{integration_id}/stats", items)
    assert all(r["status"] == "success" for r in results)
    first = env.api.get("/api/v2/courses/stats")
    assert len(items) == 600 and len(first.json()) == 500
    collected = list(first.json())
    response = first
    while "link" in response.headers:
        link = response.headers["link"]
        response = env.api.get(link[1 : link.index(">")])
        collected += response.json()
    assert len(collected) == len(items) == len({s["_id"] for s in collected})
    course_a = env.sim.course_by_external_id(integration_id, "a")
    assert course_a is not None
    only_a = env.api.get("/api/v2/courses/stats", params={"courseId[eq]": course_a.id}).json()
    assert len(only_a) == 200 and {s["courseId"] for s in only_a} == {course_a.id}
    user_id = env.world.learner_user_id(env.known[0])
    mine = env.api.get("/api/v2/courses/stats", params={"userId[eq]": user_id}).json()
    assert len(mine) == 3
    early = env.api.get(
        "/api/v2/courses/stats",
        params={
            "completedAt[gte]": "2026-02-01T00:00:00.000Z",
            "completedAt[lt]": "2026-02-02T00:00:00.000Z",
        },
    ).json()
    assert early and all(s["completedAt"].startswith("2026-02-01") for s in early)


# ----------------------------------------------------------------------------- groups, users
def test_groups_and_users(env: SimpleNamespace) -> None:
    groups = env.api.get("/api/v2/groups").json()
    assert {g["_id"] for g in groups} == {env.world.group_id, env.world.subgroup_id}
    sub = env.api.get(f"/api/v2/groups/{env.world.subgroup_id}").json()
    assert sub["public"] is True and sub["parentId"] == env.world.group_id
    assert (
        env.api.get("/api/v2/groups/0123456789abcdef01234567").json()["error"]["code"]
        == "groupNotFound"
    )
    author = env.api.get(f"/api/v2/users/{env.world.author_id}").json()
    assert author["_id"] == env.world.author_id
    n = env.known[0]
    found = env.api.get(
        "/api/v2/users", params={"mail[eq]": env.world.learner_email(n).upper()}
    ).json()
    assert [u["_id"] for u in found] == [env.world.learner_user_id(n)]
    gone = env.api.get(
        "/api/v2/users", params={"mail[eq]": env.world.learner_email(env.unknown[0])}
    )
    assert gone.json() == []
    assert (
        env.api.get("/api/v2/users/0123456789abcdef01234567").json()["error"]["code"]
        == "userNotFound"
    )
    first = env.api.get("/api/v2/users")
    assert len(first.json()) == min(500, len(env.known) + 1)
    wrong = env.api.get(f"/api/v2/groups/{env.world.group_id}/catalog/path-ids", contract=False)
    assert wrong.status_code == 400


# ------------------------------------------------------------------------- faults, limits, stats
def test_faults_over_http(env: SimpleNamespace) -> None:
    env.client.post(
        "/_sandbox/faults", json={"path": "/api/v2/integrations", "status": 502, "body": {"x": 1}}
    )
    assert len(env.client.get("/_sandbox/faults").json()) == 1
    assert env.api.get("/api/v2/integrations", contract=False).status_code == 502
    assert env.api.get("/api/v2/integrations").status_code == 200
    env.client.post("/_sandbox/faults", json={"path": ".*", "status": 500, "times": -1})
    env.client.delete("/_sandbox/faults")
    assert env.api.get("/api/v2/integrations").status_code == 200


def test_rate_limits_off_by_default_then_enforced(env: SimpleNamespace) -> None:
    frozen = make_env(clock=SimClock(frozen_at=T0))
    for _ in range(60):
        assert frozen.api.get("/api/v2/integrations").status_code == 200
    frozen.client.post("/_sandbox/switches", json={"rate_limits": True})
    codes = [frozen.api.get("/api/v2/integrations").status_code for _ in range(51)]
    assert codes[:50] == [200] * 50 and codes[50] == 429
    limited = frozen.api.get("/api/v2/integrations")
    assert limited.json() == {"error": "tooManyRequests"} and limited.headers["retry-after"] == "1"
    writes = [
        frozen.api.post("/api/v2/tags", json={"name": f"t{n}", "isMain": False}).status_code
        for n in range(11)
    ]
    assert writes[:10] == [201] * 10 and writes[10] == 429
    frozen.clock.advance(1.01)
    assert frozen.api.get("/api/v2/integrations").status_code == 200


def test_request_counts(env: SimpleNamespace) -> None:
    integration_id = new_integration(env)
    run_bulk(env.api, "PUT", courses_url(integration_id), [course_item("a")])
    stats = env.client.get("/_sandbox/stats").json()
    assert stats["requests"]["PUT /api/v2/bulk/integrations/{integrationId}/courses"] == 1
    assert stats["requests"]["GET /api/v2/bulk/operations/{bulkOperationId}"] >= 1
    assert stats["courses"] == 1 and stats["open_operations"] == 0
    assert env.api.validated > 0


def test_switches_route_validates_names(env: SimpleNamespace) -> None:
    assert env.client.post("/_sandbox/switches", json={"nope": 1}).status_code == 400
    body = env.client.post("/_sandbox/switches", json={"completed_conflict": "error"}).json()
    assert body["completed_conflict"] == "error" and env.sim.rules.completed_conflict == "error"

"""Contract tests of the Coursera simulator's OAuth2 endpoints and bearer checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.coursera import CourseraSim, create_app
from learnsync.sandbox.world import World

WORLD = World(seed=11, catalog_size=60, learners=50, enrollments=200)
ORG = WORLD.coursera_org_id
CID, SECRET, RT = (
    WORLD.coursera_client_id,
    WORLD.coursera_client_secret,
    WORLD.coursera_refresh_token,
)


@pytest.fixture()
def sim() -> CourseraSim:
    return CourseraSim(WORLD, SimClock(frozen_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))


@pytest.fixture()
def client(sim: CourseraSim) -> TestClient:
    return TestClient(create_app(sim), follow_redirects=False)


def refresh(client: TestClient, token: str = RT, **extra: str):
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": CID}
    form["client_secret"] = SECRET
    return client.post("/oauth2/v1/token", data=form | extra)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def api(client: TestClient, token: str | None, org: str = ORG, prefix: str = "/api"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"{prefix}/businesses.v1/{org}", headers=headers)


def test_refresh_grant_with_form_fields(client: TestClient) -> None:
    response = refresh(client)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert response.headers["cache-control"] == "no-store"
    assert api(client, body["access_token"]).status_code == 200


def test_refresh_grant_with_http_basic(client: TestClient) -> None:
    response = client.post(
        "/oauth2/v1/token",
        data={"grant_type": "refresh_token", "refresh_token": RT},
        headers=basic(CID, SECRET),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"refresh_token": "rt-unknown"}, 400, "invalid_grant"),
        ({"refresh_token": ""}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
    ],
)
def test_token_errors_have_rfc6749_bodies(
    client: TestClient, form: dict[str, str], status: int, error: str
) -> None:
    response = refresh(client, **form)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_access_token_lives_30_minutes(client: TestClient, sim: CourseraSim) -> None:
    token = refresh(client).json()["access_token"]
    sim.clock.advance(1799)
    assert api(client, token).status_code == 200
    sim.clock.advance(1)
    response = api(client, token)
    assert response.status_code == 401
    assert response.json() == {
        "errorCode": None,
        "message": "Missing, invalid or expired access token.",
        "details": None,
    }
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_refresh_token_expiry_slides_with_each_use(client: TestClient, sim: CourseraSim) -> None:
    for _ in range(3):  # used every 13 days: stays alive well past the first 14 days
        sim.clock.advance(13 * 86_400)
        assert refresh(client).status_code == 200
    sim.clock.advance(14 * 86_400 - 1)
    assert refresh(client).status_code == 200
    sim.clock.advance(14 * 86_400)
    response = refresh(client)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_revoked_and_expired_refresh_tokens(client: TestClient, sim: CourseraSim) -> None:
    assert sim.expire_refresh_tokens(RT) == 1
    assert refresh(client).json()["error"] == "invalid_grant"
    other = sim.register_client("app-2", "s2")
    assert client.post("/_sandbox/tokens/revoke-refresh", json={"refresh_token": other}).json() == {
        "revoked": 1
    }
    response = refresh(client, other, client_id="app-2", client_secret="s2")
    assert response.status_code == 400


def test_expire_refresh_over_http(client: TestClient) -> None:
    assert client.post("/_sandbox/tokens/expire-refresh").json()["expired"] >= 1
    assert refresh(client).status_code == 400


def test_revoke_all_access_tokens(client: TestClient) -> None:
    token = refresh(client).json()["access_token"]
    assert client.post("/_sandbox/tokens/revoke-access").json()["revoked"] >= 1
    assert api(client, token).status_code == 401
    assert api(client, refresh(client).json()["access_token"]).status_code == 200


def test_authorization_code_flow(client: TestClient) -> None:
    redirect = "http://localhost:9876/callback"
    response = client.get(
        "/oauth2/v1/auth",
        params={
            "response_type": "code",
            "client_id": CID,
            "redirect_uri": redirect,
            "scope": "view_profile access_business_api",
            "state": "xyz",
            "access_type": "offline",
        },
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "client_id": CID,
        "client_secret": SECRET,
        "redirect_uri": redirect,
    }
    token = client.post("/oauth2/v1/token", data=form)
    assert token.status_code == 200
    body = token.json()
    assert body["refresh_token"].startswith("rt-") and body["expires_in"] == 1800
    assert refresh(client, body["refresh_token"]).status_code == 200
    reused = client.post("/oauth2/v1/token", data=form)  # codes are single-use
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"client_id": "nobody"}, 400),
        ({"response_type": "token"}, 400),
        ({"redirect_uri": ""}, 400),
    ],
)
def test_authorize_errors(client: TestClient, params: dict[str, str], status: int) -> None:
    base = {"response_type": "code", "client_id": CID, "redirect_uri": "http://localhost/cb"}
    assert client.get("/oauth2/v1/auth", params=base | params).status_code == status


def test_code_bound_to_redirect_uri(client: TestClient) -> None:
    location = client.get(
        "/oauth2/v1/auth",
        params={"response_type": "code", "client_id": CID, "redirect_uri": "http://a/cb"},
    ).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    response = client.post(
        "/oauth2/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": CID,
            "client_secret": SECRET,
            "redirect_uri": "http://b/cb",
        },
    )
    assert response.json()["error"] == "invalid_grant"


def test_client_credentials_flow(client: TestClient, sim: CourseraSim) -> None:
    response = client.post(
        "/oauth2/client_credentials/token",
        data={"grant_type": "client_credentials"},
        headers=basic(CID, SECRET),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["grant_type"] == "client_credentials"
    assert body["expires_in"] == 1799 and body["issued_at"] == int(sim.clock.time())
    assert isinstance(body["issued_at"], int)
    assert api(client, body["access_token"], prefix="/ent/api").status_code == 200
    sim.clock.advance(1799)
    assert api(client, body["access_token"], prefix="/ent/api").status_code == 401


@pytest.mark.parametrize(
    ("form", "headers", "status", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": CID, "client_secret": SECRET},
            {},
            200,
            None,
        ),
        ({"grant_type": "client_credentials"}, basic(CID, "bad"), 401, "invalid_client"),
        ({"grant_type": "refresh_token"}, basic(CID, SECRET), 400, "unsupported_grant_type"),
        ({}, basic(CID, SECRET), 400, "invalid_request"),
    ],
)
def test_client_credentials_cases(client, form, headers, status, error) -> None:
    response = client.post("/oauth2/client_credentials/token", data=form, headers=headers)
    assert response.status_code == status
    if error:
        assert response.json()["error"] == error


def test_401_then_404_then_403(client: TestClient, sim: CourseraSim) -> None:
    refresh_b = sim.register_client("app-b", "secret-b", org_id="OrgB", org_name="B Corp")
    token_a = refresh(client).json()["access_token"]
    token_b = refresh(client, refresh_b, client_id="app-b", client_secret="secret-b").json()[
        "access_token"
    ]
    assert api(client, None, org="Unknown").status_code == 401  # no token beats unknown org
    assert api(client, "garbage").status_code == 401
    assert api(client, token_a, org="Unknown").status_code == 404
    assert api(client, token_a, org="OrgB").status_code == 403
    assert api(client, token_b, org=ORG).status_code == 403
    own = api(client, token_b, org="OrgB")
    assert own.status_code == 200 and own.json()["elements"][0]["name"] == "B Corp"
    body = api(client, token_a, org="OrgB").json()
    assert set(body) == {"errorCode", "message", "details"}


def test_register_client_over_http(client: TestClient) -> None:
    created = client.post(
        "/_sandbox/clients", json={"client_id": "c3", "client_secret": "s3", "org_id": "Org3"}
    ).json()
    assert created["org_id"] == "Org3"
    token = refresh(client, created["refresh_token"], client_id="c3", client_secret="s3").json()
    assert api(client, token["access_token"], org="Org3").status_code == 200


def test_strict_hosts_knob(client: TestClient, sim: CourseraSim) -> None:
    legacy = refresh(client).json()["access_token"]
    new = sim.issue_access_token(flow="client_credentials")
    assert api(client, legacy, prefix="/ent/api").status_code == 200  # default: both hosts
    client.post("/_sandbox/knobs", json={"strict_hosts": True})
    assert api(client, legacy, prefix="/ent/api").status_code == 403
    assert api(client, new, prefix="/api").status_code == 403
    assert api(client, new, prefix="/ent/api").status_code == 200
    assert api(client, legacy, prefix="/api").status_code == 200

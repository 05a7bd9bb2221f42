"""Validate simulator traffic against 360Learning's own published OpenAPI files (openapi-core).

The specs are copies of 360Learning's published files in ``tests/openapi/`` (see its README).
They are loaded once, with one normalization: deepObject query parameters whose schema lists
``properties`` without ``type: object`` get that type (openapi-core cannot deserialize them
otherwise; the published files omit it). Nothing else is re-typed: every schema comes from the
vendor's files.

:class:`ContractClient` wraps a ``TestClient`` (or an ``httpx.Client``): every response of a
route that exists in the spec is validated (and, with ``check_request=True``, the request too),
unless the call passes ``contract=False`` (undocumented answers, i.e. GAP decisions).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.templating.paths.exceptions import PathNotFound
from openapi_core.testing import MockRequest, MockResponse

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = REPO_ROOT / "tests" / "openapi"
SPEC_HOST = "https://app.360learning.com"


def _normalize(spec: dict[str, Any]) -> dict[str, Any]:
    for item in spec.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                if param.get("style") == "deepObject" and "type" not in schema:
                    schema["type"] = "object"
    return spec


class _BearerToken(BaseProvider):
    """The specs' one scheme, ``oauth2`` without flows, described as "the token from the
    authentication endpoint in the Authorization header": checked as such (openapi-core has no
    provider of its own for ``oauth2`` and only warns)."""

    def __call__(self, parameters: RequestParameters) -> str:
        scheme, _, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("Missing bearer token in the Authorization header.")
        return token


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS: ClassVar[dict[str, type[BaseProvider]]] = {
        **SecurityProviderFactory.PROVIDERS,
        "oauth2": _BearerToken,
    }


@cache
def spec_api(name: str) -> OpenAPI:
    """``name`` is ``bulk`` or ``core``."""
    raw = json.loads((SPEC_DIR / f"360learning-{name}-api.json").read_text())
    config = Config(spec_validator_cls=None, security_provider_factory=_SecurityProviders())
    return OpenAPI.from_dict(_normalize(raw), config=config)


def spec_for(path: str) -> OpenAPI:
    return spec_api("bulk" if path.startswith("/api/v2/bulk/") else "core")


def _mock_request(request: httpx.Request) -> MockRequest:
    url = urlsplit(str(request.url))
    body = request.content if request.content else None
    return MockRequest(
        SPEC_HOST,
        request.method,
        url.path,
        args=dict(parse_qsl(url.query, keep_blank_values=True)),
        headers=dict(request.headers),
        data=body,
        content_type=request.headers.get("content-type", "application/json"),
    )


def validate(response: httpx.Response, *, check_request: bool = False) -> bool:
    """Validate one exchange; returns False when the route is not in the specs (sandbox)."""
    request = response.request
    path = urlsplit(str(request.url)).path
    if not path.startswith("/api/v2/"):
        return False
    api = spec_for(path)
    mock_request = _mock_request(request)
    content_type = response.headers.get("content-type", "application/json").split(";")[0]
    mock_response = MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=content_type,
    )
    try:
        api.validate_response(mock_request, mock_response)
    except PathNotFound:
        return False
    if check_request:
        api.validate_request(mock_request)
    return True


class ContractClient:
    """Calls the simulator with a token and validates every documented exchange."""

    def __init__(self, client: Any, token: str | None = None) -> None:
        self.client = client
        self.token = token
        self.validated = 0

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"360-api-version": "v2.0", "accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        headers.update(extra or {})
        return headers

    def call(
        self,
        method: str,
        url: str,
        *,
        contract: bool = True,
        check_request: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        response = self.client.request(method, url, headers=self.headers(headers), **kwargs)
        if contract and validate(response, check_request=check_request):
            self.validated += 1
        return response

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.call("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.call("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.call("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> httpx.Response:
        return self.call("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> httpx.Response:
        return self.call("DELETE", url, **kw)


# --------------------------------------------------------------------------- simulator test kit
def course_item(external_id: str = "course~c1", **overrides: Any) -> dict[str, Any]:
    """A valid ``ExternalCourseDTO`` (overrides replace fields; ``None`` removes one)."""
    item: dict[str, Any] = {
        "externalId": external_id,
        "defaultLang": "en",
        "name": f"Course {external_id}",
        "launchUrl": f"https://www.coursera.org/learn/{external_id}",
        "sources": [{"name": "Stanford", "logoUrl": "https://example.com/logo.png"}],
        "subjects": ["Machine Learning"],
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def stat_item(
    external_id: str, mail: str, first: str, last: str, progress: float = 50, **extra: Any
) -> dict[str, Any]:
    """A valid ``ImportExternalStatisticsDTO``."""
    item: dict[str, Any] = {
        "courseIdentifier": {"type": "externalId", "value": external_id},
        "userIdentifier": {"type": "mail", "value": mail},
        "progress": progress,
        "timeSpent": 60_000,
        "firstActivityAt": first,
        "lastActivityAt": last,
    }
    item.update(extra)
    return {k: v for k, v in item.items() if v is not None}


def token_for(client: Any, client_id: str, client_secret: str) -> str:
    response = client.post(
        "/api/v2/oauth2/token",
        json={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    assert response.status_code == 200, response.text
    validate(response, check_request=True)
    return str(response.json()["access_token"])


def wait_operation(api: ContractClient, location: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll a bulk operation until it is terminal; returns its last state."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        state = api.get(location).json()
        if state["status"] in ("completed", "error"):
            return dict(state)
        assert time.monotonic() < deadline, state
        time.sleep(0.01)


def run_bulk(api: ContractClient, method: str, url: str, items: list[Any]) -> list[dict[str, Any]]:
    """Submit, poll to completion, return the results."""
    response = api.call(method, url, json={"input": items}, check_request=False)
    assert response.status_code == 202, response.text
    state = wait_operation(api, response.headers["location"])
    assert state["status"] == "completed", state
    results = api.get(response.headers["location"] + "/results").json()
    return list(results)

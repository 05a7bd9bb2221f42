"""/api/docs, without a browser: a signed-in page that loads only learnsync's own files (the
vendored Swagger UI, its initializer), under the pages' strict Content-Security-Policy; the
vendored files are the ones its README records (tests/test_browser_pages.py drives it)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app
from learnsync.web.security import CONTENT_SECURITY_POLICY, login_url

PASSWORD = "admin-password-1"
VENDOR = Path(__file__).parents[1] / "src" / "learnsync" / "web" / "static" / "vendor"


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, TestClient]]:
    path = tmp_path_factory.mktemp("apidocs")
    service = Service(f"sqlite:///{path / 'docs.db'}", SecretBox.generate())
    service.auth.create_user("admin", PASSWORD)
    app = create_app(service)
    signed_in = TestClient(app, follow_redirects=False)
    admin_login(signed_in, PASSWORD)
    yield signed_in, TestClient(app, follow_redirects=False)
    service.close()


def test_the_api_page_loads_only_learnsyncs_files(clients: tuple[TestClient, TestClient]) -> None:
    signed_in, _ = clients
    answer = signed_in.get("/api/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    html = answer.text
    assert 'id="swagger-ui"' in html and 'data-spec="/api/openapi.json"' in html
    loaded = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in loaded
    assert "/static/vendor/swagger-ui/swagger-ui.css" in loaded
    assert "/static/api_docs.js" in loaded and "/static/api_docs.css" in loaded
    for url in loaded:
        if url == "data:,":
            continue  # base.html's empty favicon: no request at all
        assert url.startswith("/"), f"{url} is not learnsync's"
        served = signed_in.get(url)
        assert served.status_code == 200, url
    assert "<script>" not in html and " style=" not in html  # nothing inline (the CSP)
    assert signed_in.get("/api/openapi.json").json()["paths"]["/api/integrations"]["get"]


def test_the_api_page_is_for_signed_in_administrators(
    clients: tuple[TestClient, TestClient],
) -> None:
    _, anonymous = clients
    # a page: signed out, the browser goes to sign in, then back to it
    refused = anonymous.get("/api/docs", follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == login_url("/api/docs")
    assert anonymous.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code in (
        303,
        401,
    )


def test_the_vendored_files_are_the_ones_recorded() -> None:
    readme = (VENDOR / "swagger-ui" / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", readme, re.M))
    files = {p.name for p in (VENDOR / "swagger-ui").iterdir() if p.name != "README.md"}
    assert set(recorded) == files
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / "swagger-ui" / name).read_bytes()).hexdigest() == digest
    assert "swagger-ui-dist` **5.35.0**" in readme

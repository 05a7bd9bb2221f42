"""A refused request a browser navigated to gets an HTML page with a way back; the JSON API
and every other caller keep FastAPI's JSON answer (learnsync.web.errors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.web import create_app

PASSWORD = "admin-password-1"
BROWSER = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("errors")
    service = Service(f"sqlite:///{path / 'errors.db'}", SecretBox.generate())
    service.auth.create_user("admin", PASSWORD)
    signed_in = TestClient(create_app(service), follow_redirects=False)
    admin_login(signed_in, PASSWORD)
    yield signed_in
    service.close()


@pytest.mark.parametrize(
    ("method", "path", "status", "heading"),
    [
        ("GET", "/integrations/999", 404, "Page not found"),
        ("GET", "/no/such/page", 404, "Page not found"),
        ("GET", "/integrations/999/runs/abc", 404, "Page not found"),
        ("DELETE", "/integrations", 405, "Not possible here"),
    ],
)
def test_a_browser_gets_an_html_page_with_a_way_back(
    client: TestClient, method: str, path: str, status: int, heading: str
) -> None:
    answer = client.request(method, path, headers=BROWSER)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert f"<h1>{heading}</h1>" in answer.text
    assert f"HTTP {status}" in answer.text
    assert '<a href="/integrations">Back to the integrations</a>' in answer.text
    assert '{"detail"' not in answer.text


def test_the_detail_is_in_small_print(client: TestClient) -> None:
    answer = client.get("/integrations/999", headers=BROWSER)
    assert "Details: no such integration (HTTP 404)" in answer.text


def test_a_405_keeps_its_allow_header(client: TestClient) -> None:
    answer = client.request("DELETE", "/integrations", headers=BROWSER)
    assert "GET" in answer.headers.get("allow", "")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/integrations/999", BROWSER),  # the JSON API answers JSON even to a browser
        ("/integrations/999", {"accept": "application/json"}),
        ("/integrations/999", {"accept": "*/*"}),  # scripts, curl
    ],
)
def test_other_callers_keep_the_json_answer(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"detail": "no such integration"}


def test_an_error_page_marks_no_section_current(client: TestClient) -> None:
    """A 404 under /integrations is not the Integrations list: no main-nav link is current."""
    page = client.get("/integrations/99", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Page not found" in page.text
    assert 'aria-current="page"' not in page.text
    listed = client.get("/integrations", headers={"Accept": "text/html"}).text
    assert 'href="/integrations" aria-current="page"' in listed

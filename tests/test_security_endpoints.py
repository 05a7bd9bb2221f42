"""Secrets bound to their endpoints (issue 10, finding 1): an admin session cannot send the
stored secrets to a host of its choosing, nor use the settings form as an SSRF probe."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.config import parse_config
from learnsync.errors import ConfigError
from learnsync.sandbox.stack import Stack
from learnsync.service.core import Service
from learnsync.service.endpoints import EndpointPolicy, secrets_needed
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.service.setup import short_reason
from learnsync.web import create_app
from service_support import sample_input, settings_form

STRICT = EndpointPolicy()


@pytest.mark.parametrize(
    ("setting", "url", "refusal"),
    [
        ("coursera_token_url", "https://accounts.coursera.org/oauth2/v1/token", None),
        ("coursera_api_base", "https://api.coursera.com/ent/api", None),
        ("threesixty_base_url", "https://app.us.360learning.com", None),
        ("threesixty_base_url", "http://app.360learning.com", "give an https:// URL"),
        ("coursera_token_url", "ftp://accounts.coursera.org/x", "give an https:// URL"),
        ("coursera_token_url", "https://u:p@accounts.coursera.org/t", "user name or password"),
        ("coursera_token_url", "https://evil.example/token", "not a Coursera host"),
        ("threesixty_base_url", "https://app.360learning.com.evil.example", "not a 360Learning"),
        ("threesixty_base_url", "https://api.coursera.org", "not a 360Learning host"),
        ("coursera_api_base", "https://10.0.0.7/api", "is an address"),
        ("coursera_api_base", "https://169.254.169.254/latest", "is an address"),
        ("coursera_api_base", "https://[::1]/api", "is an address"),
        ("coursera_api_base", "https://localhost/api", "is an address"),
        ("coursera_api_base", "https://db.internal/api", "is an address"),
        ("coursera_api_base", "https://accounts.coursera.org:99999/", "port is not a number"),
    ],
)
def test_the_endpoint_policy(setting: str, url: str, refusal: str | None) -> None:
    if refusal is None:
        STRICT.check(setting, url)
        return
    with pytest.raises(ConfigError, match=refusal) as info:
        STRICT.check(setting, url)
    assert "\n" not in info.value.message


def test_what_an_operator_allows_and_sandbox_mode() -> None:
    policy = EndpointPolicy.from_env({"LEARNSYNC_ALLOWED_HOSTS": "proxy.corp:8443, 10.0.0.7"})
    policy.check("coursera_api_base", "http://10.0.0.7/api")  # the operator's choice
    policy.check("coursera_api_base", "https://proxy.corp:8443/api")
    with pytest.raises(ConfigError, match="not a Coursera host"):
        policy.check("coursera_api_base", "https://proxy.corp/api")  # another port
    with pytest.raises(ConfigError, match="give an https:// URL"):
        policy.check("coursera_api_base", "http://127.0.0.1:8401/api")
    with pytest.raises(ConfigError, match="is an address"):
        policy.check("coursera_api_base", "https://127.0.0.1:8401/api")
    EndpointPolicy(sandbox=True).check("coursera_api_base", "http://127.0.0.1:8401/api")
    with pytest.raises(ConfigError, match="LEARNSYNC_ALLOWED_HOSTS"):
        EndpointPolicy.from_env({"LEARNSYNC_ALLOWED_HOSTS": "https://x.example/"})


def test_secrets_needed_when_an_endpoint_changes() -> None:
    old = {
        "coursera_token_url": "https://accounts.coursera.org/oauth2/v1/token",
        "coursera_api_base": "https://api.coursera.org/api",
        "threesixty_base_url": "https://app.360learning.com",
    }
    assert (
        secrets_needed(old, {**old, "threesixty_base_url": "https://app.360learning.com/"}, [])
        == []
    )
    assert secrets_needed(
        old, {**old, "threesixty_base_url": "https://app.us.360learning.com"}, []
    ) == ["threesixty_client_secret"]
    moved = {**old, "coursera_api_base": "https://api.coursera.com/ent/api"}
    assert secrets_needed(old, moved, ["coursera_client_secret"]) == ["coursera_refresh_token"]
    assert (
        secrets_needed(
            old, {**moved, "coursera_auth": "client_credentials"}, ["coursera_client_secret"]
        )
        == []
    )


class Hostile(BaseHTTPRequestHandler):
    """A server that records every request it gets (what a stolen secret would look like)."""

    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Hostile.seen.append(("POST", self.path, body))
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"internal admin console: redis 6.2 at 10.0.0.5:6379 " * 50)

    do_GET = do_POST

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    Hostile.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(stack: Stack, tmp_path: Path) -> Iterator[tuple[Service, TestClient, str]]:
    service = Service(f"sqlite:///{tmp_path / 'endpoints.db'}", SecretBox.generate())
    service.auth.create_user("admin", "admin-password-1")
    raw = tomllib.loads(stack.config_toml(service.store_url))
    service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
    client = TestClient(create_app(service), follow_redirects=False)
    csrf = admin_login(client)
    yield service, client, csrf
    service.close()


@pytest.mark.parametrize(
    ("field", "secrets"),
    [
        ("coursera_token_url", ("Client secret", "Refresh token")),
        ("coursera_api_base", ("Client secret", "Refresh token")),
        ("threesixty_base_url", ("API Client secret",)),
    ],
)
def test_an_endpoint_change_without_the_secrets_sends_nothing(
    site: tuple[Service, TestClient, str], hostile: str, field: str, secrets: tuple[str, ...]
) -> None:
    """The attack: point an endpoint at a host of one's own, leave the secrets blank, click
    Setup integration. Refused before any request: the stored secrets never leave."""
    service, client, csrf = site
    before = service.integrations.get(1)
    answer = client.post("/integrations/1", data=settings_form(service, csrf, **{field: hostile}))
    assert answer.status_code == 400
    for secret in secrets:  # each on its field, in the form's words
        assert f"enter the {secret} again" in answer.text
    assert Hostile.seen == []
    assert getattr(service.integrations.get(1), field) == getattr(before, field)


def test_the_json_api_and_a_strict_service_refuse_other_hosts(
    stack: Stack, tmp_path: Path, hostile: str
) -> None:
    """Without the tests' allowance of loopback (LEARNSYNC_ALLOWED_HOSTS), a simulator's or any
    private address is refused, with the secrets entered or not: no SSRF probe either."""
    service = Service(f"sqlite:///{tmp_path / 'strict.db'}", SecretBox.generate(), endpoints=STRICT)
    try:
        raw = tomllib.loads(stack.config_toml(service.store_url))
        data = input_from_config(parse_config(raw), "Coursera")
        with pytest.raises(ConfigError, match="Coursera token URL: give an https:// URL"):
            service.integrations.save(data)  # the simulators: http on loopback
        service.auth.create_user("admin", "admin-password-1")
        client = TestClient(create_app(service), follow_redirects=False)
        client.headers["X-CSRF-Token"] = admin_login(client)
        body = data.model_dump()
        for url in (hostile, "https://169.254.169.254", "https://evil.example"):
            answer = client.post("/api/integrations", json={**body, "coursera_token_url": url})
            assert answer.status_code == 400, answer.text
        assert Hostile.seen == []
        # the operator's own file on the command line is not judged (a --config run neither)
        assert service.integrations.save(data, trusted=True) == 1
    finally:
        service.close()


def test_a_failed_check_shows_a_short_reason_not_the_servers_answer() -> None:
    answer = "Coursera answered 500: " + "internal admin console \x1b[31m at 10.0.0.5 " * 40
    reason = short_reason(answer)
    assert len(reason) <= 240 and "\x1b" not in reason and reason.endswith("…")
    assert short_reason("line one\nline two") == "line one line two"


def test_a_blank_endpoint_means_the_default_and_needs_no_secret(tmp_path: Path) -> None:
    """A blank URL is the default one: judged and compared as the runs would use it, so leaving a
    field blank neither trips the policy nor asks for the secrets again."""
    service = Service(f"sqlite:///{tmp_path / 'blank.db'}", SecretBox.generate(), endpoints=STRICT)
    try:
        data = sample_input()
        assert service.integrations.save(data) == 1  # the real APIs' defaults
        blank = data.model_copy(
            update={
                "coursera_api_base": "",
                "coursera_token_url": "",
                "threesixty_base_url": "",
                "coursera_client_secret": "",
                "coursera_refresh_token": "",
                "threesixty_client_secret": "",
            }
        )
        assert service.integrations.save(blank, 1) == 1
        assert service.integrations.get(1).threesixty_base_url == "https://app.360learning.com"
        moved = blank.model_copy(update={"threesixty_base_url": "https://app.us.360learning.com"})
        with pytest.raises(ConfigError, match="enter the 360Learning client secret again"):
            service.integrations.save(moved, 1)
    finally:
        service.close()

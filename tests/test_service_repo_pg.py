"""The service repository, sessions, CLI user creation and run log context — on SQLite and on
PostgreSQL (each PostgreSQL run in its own schema; CI fails when PostgreSQL is unreachable)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from learnsync.service.auth import SESSION_LIFETIME
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput
from learnsync.service.logs import json_handler
from learnsync.service.secrets import KEY_ENV, SecretBox


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


INPUT = IntegrationInput(
    label="Coursera",
    coursera_org_id="org",
    coursera_client_id="c",
    coursera_client_secret="client-secret-value",
    coursera_refresh_token="refresh-token-value",
    threesixty_client_id="t",
    threesixty_client_secret="tsl-secret-value",
    group_id="a" * 24,
    author_id="b" * 24,
)


@pytest.fixture
def service(url: str) -> Iterator[tuple[Service, Clock]]:
    clock = Clock()
    svc = Service(url, SecretBox.generate(), clock=clock, pipelines={})
    yield svc, clock
    svc.close()


def test_integration_roundtrip_and_no_clear_secret(service) -> None:  # type: ignore[no-untyped-def]
    svc, clock = service
    new_id = svc.integrations.save(INPUT)
    item = svc.integrations.get(new_id)
    assert item.coursera_token_used_at == clock.now  # a stored token starts its 14 days
    assert svc.integrations.config(new_id).coursera.refresh_token == "refresh-token-value"
    stored = svc.repo.get_encrypted_secrets(new_id)
    assert all(v and "value" not in v for v in stored.values())
    with pytest.raises(ValueError):
        svc.integrations.save(INPUT)  # the label is taken
    clock.now += timedelta(days=3)
    svc.repo.mark_token_used(new_id)
    assert svc.integrations.get(new_id).coursera_token_used_at == clock.now


def test_slots_and_schedules(service) -> None:  # type: ignore[no-untyped-def]
    svc, clock = service
    new_id = svc.integrations.save(INPUT)
    repo = svc.repo
    slot = clock.now + timedelta(hours=1)
    assert repo.claim_slot(new_id, "content", slot)
    assert not repo.claim_slot(new_id, "content", slot)
    repo.set_schedule(new_id, "content", time_of_day="07:00", timezone="UTC", enabled=False)
    content = next(s for s in repo.list_schedules(new_id) if s.kind == "content")
    assert (content.time_of_day, content.enabled, content.last_slot_at) == ("07:00", False, slot)


def test_sessions_expire(service) -> None:  # type: ignore[no-untyped-def]
    svc, clock = service
    svc.auth.create_user("admin", "admin-password-1")
    assert svc.auth.login("admin", "wrong-password") is None
    assert svc.auth.login("nobody", "admin-password-1") is None
    token = svc.auth.login("admin", "admin-password-1")
    assert svc.auth.session(token) is not None
    # used every 20 min (within the idle timeout) until the absolute lifetime ends
    end = clock.now + SESSION_LIFETIME
    while clock.now + timedelta(minutes=20) < end:
        clock.now += timedelta(minutes=20)
        assert svc.auth.session(token) is not None
    clock.now = end - timedelta(seconds=1)
    assert svc.auth.session(token) is not None
    clock.now += timedelta(seconds=2)
    assert svc.auth.session(token) is None
    assert svc.auth.login("admin", "admin-password-1") is not None  # a new one works


def test_every_log_line_of_a_run_names_integration_and_run(url: str) -> None:
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)

    def pipeline(config, progress, ticket, params):  # type: ignore[no-untyped-def]
        logging.getLogger("learnsync.sync.content").info("reading the catalog")
        helper = threading.Thread(
            target=lambda: logging.getLogger("learnsync.http").info("a request")
        )
        helper.start()
        helper.join()

    svc = Service(url, SecretBox.generate(), pipelines={"content": pipeline})
    try:
        new_id = svc.integrations.save(INPUT)
        run_id = svc.runs.start(new_id, "content")
        svc.runs.wait()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        svc.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [e for e in lines if e["logger"].startswith("learnsync.")]
    assert {e["message"] for e in mine} >= {"run started", "reading the catalog", "a request"}
    for entry in mine:
        assert (entry["integration"], entry["run"], entry["kind"]) == (
            new_id,
            run_id,
            "content",
        ), entry
    assert "client-secret-value" not in stream.getvalue()


RUN = "from learnsync.cli import sandbox, service; from learnsync.cli.main import app; app()"


def create_user(name: str, password: str, store: str, key: str) -> subprocess.CompletedProcess[str]:
    """``learnsync admin create-user NAME --store URL --password-stdin``, in a subprocess."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            RUN,
            "admin",
            "create-user",
            name,
            "--store",
            store,
            "--password-stdin",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        env={**os.environ, KEY_ENV: key},
    )


@pytest.mark.parametrize(
    ("name", "password", "code", "words"),
    [
        ("admin", "a-good-password", 0, "created"),
        ("admin", "short", 2, "at least 8"),
        ("", "a-good-password", 2, "must not be empty"),
    ],
)
def test_admin_create_user_cli(
    tmp_path: Path, name: str, password: str, code: int, words: str
) -> None:
    store = f"sqlite:///{tmp_path / 'cli.db'}"
    key = Fernet.generate_key().decode()
    run = create_user(name, password, store, key)
    assert run.returncode == code, run.stderr
    assert words in (run.stdout + run.stderr)
    assert password not in run.stdout + run.stderr
    if code == 0:
        svc = Service(store, SecretBox(key))
        try:
            assert svc.auth.login(name, password) is not None
        finally:
            svc.close()
        again = create_user(name, password, store, key)
        assert again.returncode == 2 and "already exists" in again.stderr

"""``learnsync serve`` on a port in use and ``learnsync admin create-user`` without a terminal:
one stderr line saying what to do, no uvicorn or getpass output, no hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

LEARNSYNC = Path(sys.executable).with_name("learnsync")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_")}
    env["LEARNSYNC_SECRET_KEY"] = Fernet.generate_key().decode()
    env["LEARNSYNC_STORE_URL"] = f"sqlite:///{tmp_path / 'service.db'}"
    return env


def _learnsync(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # no terminal: stdin is empty and the process has no controlling terminal (new session)
    return subprocess.run(
        [str(LEARNSYNC), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=_env(tmp_path),
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A free loopback port, then bound and listened on by the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path, busy_port: int) -> None:
    result = _learnsync(tmp_path, "serve", "--port", str(busy_port), "--no-scheduler")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"learnsync: error: port {busy_port} on 127.0.0.1 is already in use: "
    )
    assert lines[0].endswith("choose another with --port")


def test_create_user_without_a_terminal_asks_for_password_stdin(tmp_path: Path) -> None:
    result = _learnsync(tmp_path, "admin", "create-user", "ann")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("learnsync: error: ") and "--password-stdin" in lines[0]
    assert "administrator" not in result.stdout


def test_create_user_with_password_stdin_still_works(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(LEARNSYNC), "admin", "create-user", "ann", "--password-stdin"],
        input="a long enough password 123\n",
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "administrator 'ann' created" in result.stdout

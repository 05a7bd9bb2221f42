"""``learnsync coursera authorize`` end to end against the Coursera simulator: a real callback
server, a real redirect, a real code exchange; the token lands in the file or the service store
and is never printed (unless asked)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from learnsync.cli.coursera import write_token_to_file
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.secrets import KEY_ENV, SecretBox

RUN = (
    "from learnsync.cli import coursera, sandbox, service; "
    "from learnsync.cli.main import app; app(prog_name='learnsync')"
)


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack(World(seed=3, catalog_size=5, learners=5, enrollments=5)) as s:
        yield s


def _config(stack: Stack, tmp_path: Path, store: str) -> Path:
    text = stack.config_toml(store)
    path = tmp_path / "learnsync.toml"
    # an app that has no refresh token yet
    path.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("refresh_token"))
        + "\n",
        encoding="utf-8",
    )
    return path


def _authorize(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the command; play the administrator's browser when it prints the URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, "coursera", "authorize", "--no-browser", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("http"):
            # the simulator's /oauth2/v1/auth redirects at once to the local callback
            answer = httpx.get(line.strip(), follow_redirects=True, timeout=10)
            assert answer.status_code == 200 and "authorized" in answer.text
            break
    out, err = proc.communicate(timeout=30)
    return proc.returncode, "".join(lines) + out, err


def test_authorize_writes_the_token_into_the_config_file(stack: Stack, tmp_path: Path) -> None:
    path = _config(stack, tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    before = path.read_text(encoding="utf-8")
    code, out, err = _authorize(["--config", str(path)])
    assert code == 0, err
    token = tomllib.loads(path.read_text(encoding="utf-8"))["coursera"]["refresh_token"]
    assert token.startswith("rt-")
    assert token in stack.coursera.refresh_tokens  # the simulator issued it
    assert token not in out and token not in err
    assert "response_type=code" in out and "access_type=offline" in out
    # every other line kept
    after = path.read_text(encoding="utf-8").splitlines()
    assert [ln for ln in after if not ln.startswith("refresh_token")] == before.splitlines()


def test_authorize_stores_the_token_in_a_service_integration(stack: Stack, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'service.db'}"
    env_key = Fernet.generate_key().decode()
    path = _config(stack, tmp_path, store)
    # the integration exists with the world's (old) token
    full = tmp_path / "full.toml"
    full.write_text(stack.config_toml(store), encoding="utf-8")
    imported = subprocess.run(
        [sys.executable, "-c", RUN, "integrations", "import", "--config", str(full)],
        capture_output=True,
        text=True,
        env={**os.environ, KEY_ENV: env_key},
    )
    assert imported.returncode == 0, imported.stderr
    code, out, err = _authorize(
        ["--config", str(path), "--integration", "Coursera"], env={KEY_ENV: env_key}
    )
    assert code == 0, err
    assert "saved (encrypted)" in out
    service = Service(store, SecretBox(env_key))
    try:
        token = service.integrations.config(1).coursera.refresh_token
        assert token != stack.world.coursera_refresh_token and token.startswith("rt-")
        assert token not in out and token not in err
        item = service.integrations.get(1)
        assert item.coursera_token_used_at is not None  # a new token starts its 14 days
    finally:
        service.close()


def test_print_only_when_asked(stack: Stack, tmp_path: Path) -> None:
    path = _config(stack, tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    code, out, err = _authorize(["--config", str(path), "--print"])
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("rt-")
    assert "refresh_token" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[coursera]\nclient_id = "a"\n', '[coursera]\nrefresh_token = "T"\nclient_id = "a"\n'),
        (
            '[coursera]\nrefresh_token = "old"\n[threesixty]\nrefresh_token = "x"\n',
            '[coursera]\nrefresh_token = "T"\n[threesixty]\nrefresh_token = "x"\n',
        ),
        ('[store]\nurl = "s"\n', '[store]\nurl = "s"\n\n[coursera]\nrefresh_token = "T"\n'),
    ],
)
def test_write_token_to_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    write_token_to_file(path, "T")
    assert path.read_text(encoding="utf-8") == expected

"""Secrets at rest (docs/security.md#secrets-at-rest): the key file and the SQLite store private,
key rotation in one transaction (SQLite and PostgreSQL), ``coursera authorize``'s TOML escaped
and written through a private temporary file, and no repr or log line showing a secret."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from learnsync.cli.coursera import toml_string, write_token_to_file
from learnsync.errors import ConfigError
from learnsync.service.audit import AuditAction
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput
from learnsync.service.secrets import (
    KEY_ENV,
    KEY_FILE_ENV,
    SecretBox,
    key_file_warning,
    private_store,
    rotate_key,
    secret_box_from_env,
    write_key_file,
)

SECRETS = {
    "coursera_client_secret": "cs-SECRET-coursera-1234",
    "coursera_refresh_token": "rt-SECRET-refresh-5678",
    "threesixty_client_secret": "ts-SECRET-360-9012",
}
RUN = (
    "from learnsync.cli import coursera, sandbox, service; "
    "from learnsync.cli.main import app; app(prog_name='learnsync')"
)
ROOT = os.getuid() == 0


def sample_input(label: str, **secrets: str) -> IntegrationInput:
    return IntegrationInput(
        label=label,
        coursera_org_id="org-1",
        coursera_client_id="client-1",
        threesixty_client_id="tsl-client",
        group_id="a" * 24,
        author_id="b" * 24,
        **{**SECRETS, **secrets},
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_SECRET")}
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=120,
    )


# ---------------------------------------------------------------------- the key file


@pytest.mark.parametrize(
    ("file_mode", "accepted"),
    [
        (0o600, True),
        (0o400, True),
        (0o640, ROOT),  # group read only of a file root owns (a root:service 0640 key)
        (0o660, False),
        (0o644, False),
        (0o604, False),
        (0o606, False),
    ],
)
def test_a_key_file_other_users_may_access_is_warned_about(
    tmp_path: Path, file_mode: int, accepted: bool
) -> None:
    """Said loudly, not refused: a deployment whose key file is readable keeps working."""
    key = Fernet.generate_key()
    file = tmp_path / "key"
    file.write_bytes(key + b"\n")
    file.chmod(file_mode)
    env = {KEY_FILE_ENV: str(file)}
    box = secret_box_from_env(env)
    assert SecretBox(key).decrypt(box.encrypt("v")) == "v"
    message = key_file_warning(env)
    if accepted:
        assert message is None
        return
    assert message is not None
    assert f"mode {file_mode:04o}" in message and f"chmod 600 {file}" in message
    assert key.decode() not in message and "\n" not in message
    assert key_file_warning({**env, "LEARNSYNC_SECRET_KEY": key.decode()}) is None


def test_a_new_key_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key = write_key_file(tmp_path / "new.key")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.key") == 0o600
    assert (tmp_path / "new.key").read_bytes() == key + b"\n"
    with pytest.raises(ConfigError, match="cannot create the key file"):
        write_key_file(tmp_path / "new.key")  # never over an existing file
    assert (tmp_path / "new.key").read_bytes() == key + b"\n"


def test_the_command_line_warns_about_a_readable_key_file_in_one_line(tmp_path: Path) -> None:
    file = tmp_path / "key"
    file.write_bytes(Fernet.generate_key())
    file.chmod(0o644)
    store = f"sqlite:///{tmp_path / 's.db'}"
    done = cli(
        "admin", "create-user", "admin", "--store", store, "--password-stdin",
        env={KEY_FILE_ENV: str(file)}, stdin="a-long-password\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "accessible to other users" in done.stderr
    assert done.stderr.startswith("learnsync: warning: the secret key file")
    assert file.read_text(encoding="ascii") not in done.stderr


# ---------------------------------------------------------------------- the SQLite store


def test_a_new_sqlite_store_is_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'svc.db'}"
        assert private_store(url) is None
        service = Service(url, SecretBox.generate())
        try:
            service.integrations.save(sample_input("Coursera"))
        finally:
            service.close()
    finally:
        os.umask(old)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("svc.db")]
    assert files and all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}
    assert private_store(url) is None  # private: no warning


def test_a_readable_sqlite_store_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    path.write_bytes(b"")
    path.chmod(0o644)
    warning = private_store(f"sqlite:///{path}")
    assert warning is not None and f"chmod 600 {path}" in warning and "mode 0644" in warning
    assert mode(path) == 0o644  # said, not changed behind the operator's back
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://u@h/db"):
        assert private_store(url) is None


def test_the_command_line_warns_about_a_readable_store(tmp_path: Path) -> None:
    path = tmp_path / "svc.db"
    store = f"sqlite:///{path}"
    first = cli("admin", "sessions", "revoke", "--all", "--store", store)
    assert first.returncode == 0, first.stderr
    assert first.stderr == "" and mode(path) == 0o600  # created private: nothing to say
    path.chmod(0o644)
    again = cli("admin", "sessions", "revoke", "--all", "--store", store)
    assert again.returncode == 0
    assert again.stderr.startswith("learnsync: warning: the store ")
    assert again.stderr.count("\n") == 1 and "chmod 600" in again.stderr


# ---------------------------------------------------------------------- key rotation


@pytest.fixture
def service(url: str) -> Iterator[Service]:
    svc = Service(url, SecretBox.generate(), pipelines={})
    yield svc
    svc.close()


def test_rotate_key_round_trip(service: Service, url: str) -> None:
    old_box = service.integrations.box
    first = service.integrations.save(sample_input("First"))
    second = service.integrations.save(sample_input("Second", coursera_client_secret="other"))
    service.store.get_or_create_integration("https://cli.example|" + "c" * 24 + "|Cli")
    before = {i: service.repo.get_encrypted_secrets(i) for i in (first, second)}
    new_box = SecretBox.generate()
    assert rotate_key(service.repo, old_box, new_box) == (2, 6)
    rotated = Service(url, new_box, pipelines={})
    try:
        assert (
            rotated.integrations.config(first).coursera.client_secret
            == SECRETS["coursera_client_secret"]
        )
        assert rotated.integrations.clear_secrets(second) == {
            **SECRETS,
            "coursera_client_secret": "other",
        }
        after = {i: rotated.repo.get_encrypted_secrets(i) for i in (first, second)}
        assert all(
            after[i][k] != before[i][k] for i in (first, second) for k in before[i] if before[i][k]
        )
        with pytest.raises(ConfigError, match="cannot be decrypted"):
            service.integrations.clear_secrets(first)  # the old key no longer opens them
        # again (an interrupted rotation run once more): still the new key's, nothing lost
        assert rotate_key(rotated.repo, old_box, new_box) == (2, 6)
        assert rotated.integrations.clear_secrets(first) == SECRETS
    finally:
        rotated.close()


def test_rotate_key_is_one_transaction(service: Service) -> None:
    old_box = service.integrations.box
    first = service.integrations.save(sample_input("First"))
    second = service.integrations.save(sample_input("Second"))
    # the second integration's secrets are under a third key: neither key opens them
    stranger = SecretBox.generate()
    service.repo.update_integration(
        second, {}, {"coursera_client_secret_enc": stranger.encrypt("x")}
    )
    before = [service.repo.get_encrypted_secrets(i) for i in (first, second)]
    with pytest.raises(ConfigError, match="nothing was changed"):
        rotate_key(service.repo, old_box, SecretBox.generate())
    assert [service.repo.get_encrypted_secrets(i) for i in (first, second)] == before
    assert service.integrations.clear_secrets(first) == SECRETS


def test_rotate_key_command(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'svc.db'}"
    old_key = Fernet.generate_key().decode()
    assert private_store(store) is None  # created 0600, as the commands do
    service = Service(store, SecretBox(old_key))
    try:
        new_id = service.integrations.save(sample_input("Coursera"))
    finally:
        service.close()
    new_file = tmp_path / "keys" / "new.key"
    new_file.parent.mkdir()
    done = cli(
        "admin", "rotate-key", "--new-key-file", str(new_file), "--store", store,
        env={KEY_ENV: old_key},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert mode(new_file) == 0o600
    new_key = new_file.read_text(encoding="ascii").strip()
    assert new_key not in done.stdout + done.stderr and old_key not in done.stdout + done.stderr
    assert "3 secret(s) of 1 integration(s) re-encrypted under a new key written to" in done.stdout
    assert f"{KEY_FILE_ENV}={new_file}" in done.stdout
    rotated = Service(store, SecretBox(new_key))
    try:
        assert rotated.integrations.clear_secrets(new_id) == SECRETS
        entry = rotated.auth.audit.recent(1, actions=(AuditAction.KEY_ROTATED,))[0]
        assert entry.actor.startswith("cli:") and entry.detail.startswith("3 secret(s)")
    finally:
        rotated.close()
    # the new key as the current one and as the new one: refused, nothing done
    same = cli(
        "admin", "rotate-key", "--new-key-file", str(new_file), "--store", store,
        env={KEY_FILE_ENV: str(new_file)},
    )  # fmt: skip
    assert same.returncode == 2 and "holds the current key" in same.stderr
    assert same.stderr.count("\n") == 1
    # no current key at all
    none = cli("admin", "rotate-key", "--new-key-file", str(tmp_path / "k2"), "--store", store)
    assert none.returncode == 2 and "no current secret key" in none.stderr
    assert not (tmp_path / "k2").exists()
    # a current key that opens nothing: one line, nothing changed
    wrong = cli(
        "admin", "rotate-key", "--new-key-file", str(tmp_path / "k3"), "--store", store,
        env={KEY_ENV: Fernet.generate_key().decode()},
    )  # fmt: skip
    assert wrong.returncode == 2 and "nothing was changed" in wrong.stderr
    assert wrong.stderr.count("\n") == 1
    check = Service(store, SecretBox(new_key))
    try:
        assert check.integrations.clear_secrets(new_id) == SECRETS
    finally:
        check.close()


# ---------------------------------------------------------------------- coursera authorize


NASTY = 'rt-"quoted" \\back\\slash\\ \'single\' new\nline\ttab\r\x01\x7f é ☃ """ \\u0041'


def test_the_token_is_written_escaped(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    before = '[coursera]\nclient_id = "a"\nrefresh_token = "old"\n\n[store]\nurl = "s"\n'
    path.write_text(before, encoding="utf-8")
    write_token_to_file(path, NASTY)
    after = path.read_text(encoding="utf-8")
    parsed = tomllib.loads(after)
    assert parsed["coursera"] == {"client_id": "a", "refresh_token": NASTY}
    assert parsed["store"] == {"url": "s"}
    assert len(after.splitlines()) == len(before.splitlines())  # one line, escaped
    write_token_to_file(path, "T")
    assert path.read_text(encoding="utf-8") == before.replace('"old"', '"T"')


@given(st.text())
def test_toml_string_round_trips(value: str) -> None:
    assert tomllib.loads(f"k = {toml_string(value)}") == {"k": value}
    assert "\n" not in toml_string(value)


def test_the_file_is_written_through_a_private_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[coursera]\nclient_id = "a"\n', encoding="utf-8")
    path.chmod(0o644)
    seen: list[tuple[str, int, str]] = []
    real = os.replace

    def spying(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        temp = Path(src)
        seen.append((temp.name, mode(temp), temp.read_text(encoding="utf-8")))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spying)
    old = os.umask(0)
    try:
        write_token_to_file(path, "rt-secret")
    finally:
        os.umask(old)
    [(name, temp_mode, content)] = seen
    assert name.startswith(".c.toml.") and name.endswith(".tmp")
    assert temp_mode & 0o007 == 0 and "rt-secret" in content
    assert mode(path) == 0o640  # the group kept, other users dropped
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]  # no temporary file left


def test_a_private_config_stays_private(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[coursera]\nclient_id = "a"\n', encoding="utf-8")
    path.chmod(0o600)
    write_token_to_file(path, "rt-1")
    assert mode(path) == 0o600


def test_a_token_line_that_is_not_one_line_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    before = '[coursera]\nrefresh_token = """old\nvalue"""\nclient_id = "a"\n'
    path.write_text(before, encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot update"):
        write_token_to_file(path, "rt-new")
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


# ---------------------------------------------------------------------- reprs and logs


def test_no_repr_shows_a_secret(service: Service) -> None:
    data = sample_input("Coursera")
    shown = repr(data) + str(data) + repr(service.integrations.box) + repr(service)
    assert not any(value in shown for value in SECRETS.values())
    assert data.coursera_client_secret == SECRETS["coursera_client_secret"]  # still a str
    assert data.model_dump()["coursera_refresh_token"] == SECRETS["coursera_refresh_token"]
    new_id = service.integrations.save(data)
    config = service.integrations.config(new_id)
    assert not any(value in repr(config) for value in SECRETS.values())


def test_no_log_line_shows_a_secret(
    service: Service, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new_id = service.integrations.save(sample_input("Coursera"))
    service.auth.create_user("admin", "a-long-password")
    service.auth.login("admin", "wrong-password-xyz", "192.0.2.1")
    token = service.auth.login("admin", "a-long-password", "192.0.2.1")
    service.auth.logout(token)
    rotate_key(service.repo, service.integrations.box, SecretBox.generate())
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    for value in [*SECRETS.values(), "a-long-password", "wrong-password-xyz", str(token)]:
        assert value not in logged
    assert "audit: login by admin from 192.0.2.1" in caplog.text
    with service.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_log")).all()
    assert not any(v in str(rows) for v in [*SECRETS.values(), "a-long-password"])
    assert new_id

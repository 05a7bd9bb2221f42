"""Secrets at rest, admin passwords, and the 0002 schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import text

import learnsync.store.service_models  # noqa: F401 - registers the service tables
from e2e_support import store_record
from learnsync.errors import ConfigError
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput
from learnsync.service.passwords import hash_password, verify_password
from learnsync.service.secrets import KEY_ENV, KEY_FILE_ENV, SecretBox, secret_box_from_env
from learnsync.store import Store
from learnsync.store.models import Base

SECRETS = {
    "coursera_client_secret": "cs-SECRET-coursera-1234",
    "coursera_refresh_token": "rt-SECRET-refresh-5678",
    "threesixty_client_secret": "ts-SECRET-360-9012",
}


def sample_input(label: str = "Coursera") -> IntegrationInput:
    return IntegrationInput(
        label=label,
        coursera_org_id="org-1",
        coursera_client_id="client-1",
        threesixty_client_id="tsl-client",
        group_id="a" * 24,
        author_id="b" * 24,
        **SECRETS,
    )


@pytest.fixture
def service(tmp_path: Path) -> Service:
    svc = Service(f"sqlite:///{tmp_path / 'svc.db'}", SecretBox.generate())
    yield svc
    svc.close()


def test_box_round_trip_and_wrong_key() -> None:
    box = SecretBox.generate()
    token = box.encrypt("hello")
    assert "hello" not in token
    assert box.decrypt(token) == "hello"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox.generate().decrypt(token)
    assert "key" in repr(box) and Fernet.generate_key().decode() not in repr(box)


@pytest.mark.parametrize(
    ("env", "sandbox", "outcome"),
    [
        ({}, False, "refused"),
        ({}, True, "generated"),
        ({KEY_ENV: Fernet.generate_key().decode()}, False, "env"),
        ({KEY_ENV: "not-a-key"}, False, "invalid"),
        ({KEY_ENV: "é" * 44}, False, "invalid"),  # not ASCII: refused, no codec traceback
        ({KEY_FILE_ENV: "/nonexistent/key"}, False, "unreadable"),
    ],
)
def test_key_sources(env: dict[str, str], sandbox: bool, outcome: str) -> None:
    if outcome in ("refused", "invalid", "unreadable"):
        with pytest.raises(ConfigError):
            secret_box_from_env(env, sandbox=sandbox)
    else:
        box = secret_box_from_env(env, sandbox=sandbox)
        assert box.decrypt(box.encrypt("x")) == "x"


def test_key_file(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    file = tmp_path / "key"
    file.write_bytes(key + b"\n")
    file.chmod(0o600)  # a key file other users may read is refused (test_security_secrets.py)
    box = secret_box_from_env({KEY_FILE_ENV: str(file)})
    assert SecretBox(key).decrypt(box.encrypt("v")) == "v"


def test_key_file_that_is_not_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    file = tmp_path / "key"
    file.write_bytes(b"\xffsecret-ish\xfe" * 3)
    file.chmod(0o600)
    with pytest.raises(ConfigError, match="not a valid Fernet key") as caught:
        secret_box_from_env({KEY_FILE_ENV: str(file)})
    assert "secret-ish" not in caught.value.message and "xff" not in caught.value.message


def test_importing_auth_hashes_no_password() -> None:
    # scrypt is slow on purpose: the dummy hash for unknown users is made on first use
    code = "import hashlib; hashlib.scrypt = None; import learnsync.service.auth"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_passwords() -> None:
    stored = hash_password("correct horse")
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not verify_password("correct horse", "garbage")
    assert hash_password("correct horse") != stored  # salted


def test_migration_matches_models(service: Service) -> None:
    with service.store.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_no_secret_in_clear_in_the_database(service: Service, tmp_path: Path) -> None:
    new_id = service.integrations.save(sample_input())
    service.auth.create_user("admin", "a-long-password")
    raw = (tmp_path / "svc.db").read_bytes()
    for name in ("svc.db-wal",):
        if (tmp_path / name).exists():
            raw += (tmp_path / name).read_bytes()
    for value in [*SECRETS.values(), "a-long-password"]:
        assert value.encode() not in raw
    with service.store.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM integrations")).one()
    assert not any(isinstance(v, str) and v in SECRETS.values() for v in row)
    # ...and they come back for the pipelines
    config = service.integrations.config(new_id)
    assert config.coursera.client_secret == SECRETS["coursera_client_secret"]
    assert config.coursera.refresh_token == SECRETS["coursera_refresh_token"]
    assert config.threesixty.client_secret == SECRETS["threesixty_client_secret"]
    assert config.store_url == service.store_url


def test_blank_secret_keeps_the_stored_one(service: Service) -> None:
    new_id = service.integrations.save(sample_input())
    edit = sample_input()
    edit.coursera_client_secret = ""
    edit.coursera_org_id = "org-2"
    service.integrations.save(edit, new_id)
    config = service.integrations.config(new_id)
    assert config.coursera.org_id == "org-2"
    assert config.coursera.client_secret == SECRETS["coursera_client_secret"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("integration_name", ""),  # blank: the default name the runs use
        ("integration_name", "  Coursera  "),
        ("threesixty_base_url", ""),
        ("threesixty_base_url", "https://app.us.360learning.com/"),
    ],
)
def test_pages_find_the_store_record_the_runs_write(
    service: Service, field: str, value: str
) -> None:
    data = sample_input()
    setattr(data, field, value)
    new_id = service.integrations.save(data)
    config = service.integrations.config(new_id)
    # the pages look the record up without decrypting, by id: the row the runs use
    assert config.integration_id == new_id
    record = store_record(service, new_id)
    assert record is not None
    # ...and the row a --config run of the same settings finds by key (one integration)
    with Store.open(service.store_url) as store:
        assert store.get_or_create_integration(config.integration_key).id == new_id


def test_store_record_needs_no_secret(service: Service, tmp_path: Path) -> None:
    new_id = service.integrations.save(sample_input())
    other = Service(service.store_url, SecretBox.generate())  # cannot decrypt the secrets
    try:
        assert store_record(other, new_id) is not None
    finally:
        other.close()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("group_id", "not-an-id", "group_id"),
        ("author_id", "", "author_id"),
        ("threesixty_base_url", "ftp://x", "base_url"),
        ("label", " ", "name"),
    ],
)
def test_invalid_settings_are_refused(
    service: Service, field: str, value: str, message: str
) -> None:
    data = sample_input()
    setattr(data, field, value)
    with pytest.raises(ConfigError, match=message):
        service.integrations.save(data)
    assert service.repo.list_integrations() == []


def test_duplicate_user_refused(service: Service) -> None:
    service.auth.create_user("admin", "a-long-password")
    with pytest.raises(ValueError, match="already exists"):
        service.auth.create_user("admin", "another-password")
    with pytest.raises(ValueError, match="at least"):
        service.auth.create_user("other", "short")

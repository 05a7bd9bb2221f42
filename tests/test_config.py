"""The --config TOML contract (docs/contract.md#configuration-file): every key, env fallbacks,
one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from learnsync.config import (
    COURSERA_API_BASE,
    COURSERA_CC_API_BASE,
    COURSERA_CC_TOKEN_URL,
    COURSERA_TOKEN_URL,
    load_config,
)
from learnsync.errors import ConfigError

GROUP = "5f0c8e0b9d3e2a0011a1b2c3"
AUTHOR = "5f0c8e0b9d3e2a0011a1b2c4"

FULL = f"""
[store]
url = "sqlite:///x.db"

[coursera]
org_id = "org-1"
client_id = "cid"
client_secret = "csecret"
refresh_token = "rtoken"
api_base = "https://api.coursera.org/api"
token_url = "https://accounts.coursera.org/oauth2/v1/token"
program_id = "prog-1"

[threesixty]
base_url = "https://app.us.360learning.com"
client_id = "tid"
client_secret = "tsecret"
group_id = "{GROUP}"
author_id = "{AUTHOR}"
integration_name = "Coursera (learnsync)"

[sync]
archive_removed = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "learnsync.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    assert config.store_url == "sqlite:///x.db"
    assert config.coursera.org_id == "org-1"
    assert config.coursera.client_secret == "csecret"
    assert config.coursera.refresh_token == "rtoken"
    assert config.coursera.program_id == "prog-1"
    assert config.threesixty.base_url == "https://app.us.360learning.com"
    assert config.threesixty.group_id == GROUP
    assert config.threesixty.integration_name == "Coursera (learnsync)"
    assert config.sync.archive_removed is True


def minimal(**drop: str) -> str:
    keys = {
        "coursera": {"org_id": "o", "client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "threesixty": {
            "client_id": "t",
            "client_secret": "u",
            "group_id": GROUP,
            "author_id": AUTHOR,
        },
    }
    for section, key in drop.items():
        del keys[section][key]
    out = []
    for section, values in keys.items():
        out.append(f"[{section}]")
        out += [f'{k} = "{v}"' for k, v in values.items()]
    return "\n".join(out) + "\n"


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, minimal()), env={})
    assert config.store_url == "sqlite:///learnsync.db"
    assert config.coursera.api_base == COURSERA_API_BASE
    assert config.coursera.token_url == COURSERA_TOKEN_URL
    assert config.coursera.program_id == ""
    assert config.threesixty.base_url == "https://app.360learning.com"
    assert config.threesixty.integration_name == "Coursera"
    assert config.sync.archive_removed is False


@pytest.mark.parametrize(
    ("section", "key", "env_name"),
    [
        ("coursera", "client_secret", "LEARNSYNC_COURSERA_CLIENT_SECRET"),
        ("coursera", "refresh_token", "LEARNSYNC_COURSERA_REFRESH_TOKEN"),
        ("coursera", "client_id", "LEARNSYNC_COURSERA_CLIENT_ID"),
        ("threesixty", "client_secret", "LEARNSYNC_THREESIXTY_CLIENT_SECRET"),
    ],
)
def test_secret_from_environment(tmp_path: Path, section: str, key: str, env_name: str) -> None:
    config = load_config(write(tmp_path, minimal(**{section: key})), env={env_name: "from-env"})
    assert getattr(getattr(config, section), key) == "from-env"


def test_file_value_wins_over_environment(tmp_path: Path) -> None:
    env = {"LEARNSYNC_COURSERA_REFRESH_TOKEN": "from-env"}
    config = load_config(write(tmp_path, minimal()), env=env)
    assert config.coursera.refresh_token == "r"


def test_client_credentials_flow_needs_no_refresh_token(tmp_path: Path) -> None:
    text = minimal(coursera="refresh_token").replace(
        "[coursera]", '[coursera]\nauth = "client_credentials"'
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.coursera.auth == "client_credentials"
    assert config.coursera.token_url == COURSERA_CC_TOKEN_URL
    assert config.coursera.api_base == COURSERA_CC_API_BASE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (minimal(coursera="org_id"), "missing key 'org_id' in [coursera]"),
        (minimal(coursera="refresh_token"), "LEARNSYNC_COURSERA_REFRESH_TOKEN"),
        (minimal(threesixty="group_id"), "missing key 'group_id' in [threesixty]"),
        (minimal().replace(GROUP, "not-an-id"), "group_id must be a 360Learning id"),
        (minimal() + "[sync]\narchive_removed = 'yes'\n", "archive_removed must be true or false"),
        (minimal() + "[store]\nurl = 5\n", "url must be a string"),
        (minimal() + "[colors]\nx = 1\n", "unknown section [colors]"),
        (minimal() + "[sync]\narchive_remove = true\n", "unknown key 'archive_remove' in [sync]"),
        (minimal().replace('org_id = "o"', 'org_id = "o"\napi_base = "ftp://x"'), "http(s) URL"),
        ("[coursera\n", "not valid TOML"),
        (minimal().replace("[coursera]", 'coursera = "x"\n[c]'), "[coursera] must be a table"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert message in caught.value.message
    assert caught.value.exit_code == 2
    assert "\n" not in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_errors_never_contain_secret_values(tmp_path: Path) -> None:
    text = minimal().replace('client_secret = "s"', "client_secret = 12345")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env={})
    assert "12345" not in caught.value.message


def test_integration_key_identifies_group_and_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={})
    assert config.integration_key == f"https://app.us.360learning.com|{GROUP}|Coursera (learnsync)"


def test_content_type_override_must_be_a_360_type(tmp_path: Path) -> None:
    text = minimal() + '[sync]\n[sync.content_types]\nGuidedProject = "labz"\n'
    with pytest.raises(
        ConfigError, match="GuidedProject = 'labz' is not a 360Learning content type"
    ):
        load_config(write(tmp_path, text), env={})


def test_content_type_override_is_read(tmp_path: Path) -> None:
    text = minimal() + '[sync]\n[sync.content_types]\nGuidedProject = "course"\n'
    assert load_config(write(tmp_path, text), env={}).sync.content_types == {
        "GuidedProject": "course"
    }

"""The ``--config`` TOML file (docs/contract.md#configuration-file): one integration, validated.

Secrets may come from environment variables instead of the file (``LEARNSYNC_<SECTION>_<KEY>``,
e.g. ``LEARNSYNC_COURSERA_REFRESH_TOKEN``); the file's own values win when both are set. Every
problem is a :class:`~learnsync.errors.ConfigError` whose message names the file, the key and what
to do — never a traceback, never a secret's value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from learnsync.errors import ConfigError
from learnsync.mapping.content_types import validate_content_type_overrides

COURSERA_API_BASE = "https://api.coursera.org/api"
COURSERA_TOKEN_URL = "https://accounts.coursera.org/oauth2/v1/token"
COURSERA_CC_API_BASE = "https://api.coursera.com/ent/api"
COURSERA_CC_TOKEN_URL = "https://api.coursera.com/oauth2/client_credentials/token"
THREESIXTY_BASE_URL = "https://app.360learning.com"
DEFAULT_STORE_URL = "sqlite:///learnsync.db"
DEFAULT_INTEGRATION_NAME = "Coursera"

COURSERA_AUTH_FLOWS = ("refresh_token", "client_credentials")


@dataclass(frozen=True)
class CourseraSettings:
    org_id: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    api_base: str = COURSERA_API_BASE
    token_url: str = COURSERA_TOKEN_URL
    program_id: str = ""
    auth: str = "refresh_token"  # or "client_credentials" (the newer developer-portal flow)


@dataclass(frozen=True)
class ThreeSixtySettings:
    client_id: str
    client_secret: str = field(repr=False)
    group_id: str = ""
    author_id: str = ""
    base_url: str = THREESIXTY_BASE_URL
    integration_name: str = DEFAULT_INTEGRATION_NAME


@dataclass(frozen=True)
class SyncSettings:
    archive_removed: bool = False
    # per-integration override of the contentType table (docs/mapping.md#content-mapping):
    # {CourseraType: 360Type}
    content_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    coursera: CourseraSettings
    threesixty: ThreeSixtySettings
    sync: SyncSettings = field(default_factory=SyncSettings)
    store_url: str = DEFAULT_STORE_URL
    path: Path | None = None
    # not from the file: the store id of a service integration (learnsync.service.integrations).
    # When set, runs use that store row, whatever the settings say (a rename keeps its state).
    integration_id: int | None = None

    @property
    def integration_key(self) -> str:
        """What identifies a ``--config`` run's integration in the store (found or created by
        it): one platform, 360Learning group and integration name. A service integration keeps
        the key it was created with (:attr:`integration_id` finds it)."""
        t = self.threesixty
        return integration_key(t.base_url, t.group_id, t.integration_name)


def integration_key(base_url: str, group_id: str, integration_name: str) -> str:
    """The store key of the integration ``integration_name`` in ``group_id`` at ``base_url``."""
    return f"{base_url.rstrip('/')}|{group_id}|{integration_name}"


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at ``path`` (environment: ``env``, default os.environ)."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(
            f"config file {file} not found: pass --config with the path of a TOML file"
        )
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {file} cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    return parse_config(raw, source=str(file), env=os.environ if env is None else env, path=file)


def parse_config(
    raw: Mapping[str, Any],
    *,
    source: str = "config",
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    reader = _Reader(raw, source, env or {})
    reader.only_sections({"store", "coursera", "threesixty", "sync"})

    auth = reader.choice("coursera", "auth", COURSERA_AUTH_FLOWS, default="refresh_token")
    cc = auth == "client_credentials"
    coursera = CourseraSettings(
        org_id=reader.text("coursera", "org_id"),
        client_id=reader.text("coursera", "client_id"),
        client_secret=reader.text("coursera", "client_secret"),
        refresh_token=reader.text("coursera", "refresh_token", required=not cc, default=""),
        api_base=reader.url(
            "coursera", "api_base", default=COURSERA_CC_API_BASE if cc else COURSERA_API_BASE
        ),
        token_url=reader.url(
            "coursera", "token_url", default=COURSERA_CC_TOKEN_URL if cc else COURSERA_TOKEN_URL
        ),
        program_id=reader.text("coursera", "program_id", required=False, default=""),
        auth=auth,
    )
    threesixty = ThreeSixtySettings(
        base_url=reader.url("threesixty", "base_url", default=THREESIXTY_BASE_URL),
        client_id=reader.text("threesixty", "client_id"),
        client_secret=reader.text("threesixty", "client_secret"),
        group_id=reader.object_id("threesixty", "group_id"),
        author_id=reader.object_id("threesixty", "author_id"),
        integration_name=reader.text(
            "threesixty", "integration_name", required=False, default=DEFAULT_INTEGRATION_NAME
        ),
    )
    sync = SyncSettings(
        archive_removed=reader.boolean("sync", "archive_removed", default=False),
        content_types=reader.string_table("sync", "content_types"),
    )
    problems = validate_content_type_overrides(sync.content_types)
    if problems:
        raise ConfigError(f"{source}: {problems[0]}")
    store_url = reader.text("store", "url", required=False, default=DEFAULT_STORE_URL)
    reader.only_keys("store", {"url"})
    reader.only_keys(
        "coursera",
        {"org_id", "client_id", "client_secret", "refresh_token", "api_base", "token_url"}
        | {"program_id", "auth"},
    )
    reader.only_keys(
        "threesixty",
        {"base_url", "client_id", "client_secret", "group_id", "author_id", "integration_name"},
    )
    reader.only_keys("sync", {"archive_removed", "content_types"})
    return Config(coursera, threesixty, sync, store_url, path)


class _Reader:
    """Typed access to the TOML tables with one clear message per mistake."""

    def __init__(self, raw: Mapping[str, Any], source: str, env: Mapping[str, str]) -> None:
        self.raw = raw
        self.source = source
        self.env = env

    def _fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def only_sections(self, allowed: set[str]) -> None:
        for name, value in self.raw.items():
            if name not in allowed:
                known = ", ".join(f"[{s}]" for s in sorted(allowed))
                raise self._fail(f"unknown section [{name}] (known sections: {known})")
            if not isinstance(value, Mapping):
                raise self._fail(f"[{name}] must be a table, e.g. a '[{name}]' header")

    def only_keys(self, section: str, allowed: set[str]) -> None:
        for key in self.section(section):
            if key not in allowed:
                raise self._fail(
                    f"unknown key '{key}' in [{section}] (known keys: {', '.join(sorted(allowed))})"
                )

    def section(self, section: str) -> Mapping[str, Any]:
        value = self.raw.get(section, {})
        return value if isinstance(value, Mapping) else {}

    def _value(self, section: str, key: str) -> Any:
        table = self.section(section)
        if key in table and table[key] != "":
            return table[key]
        env_name = f"LEARNSYNC_{section.upper()}_{key.upper()}"
        value = self.env.get(env_name)
        return value if value not in (None, "") else None

    def text(self, section: str, key: str, *, required: bool = True, default: str = "") -> str:
        value = self._value(section, key)
        if value is None:
            if required:
                env_name = f"LEARNSYNC_{section.upper()}_{key.upper()}"
                raise self._fail(
                    f"missing key '{key}' in [{section}]: set it in the file "
                    f"or in the environment variable {env_name}"
                )
            return default
        if not isinstance(value, str):
            raise self._fail(f"[{section}] {key} must be a string in quotes")
        value = value.strip()
        if required and not value:
            raise self._fail(f"[{section}] {key} is empty")
        return value

    def choice(self, section: str, key: str, choices: tuple[str, ...], *, default: str) -> str:
        value = self.text(section, key, required=False, default=default)
        if value not in choices:
            raise self._fail(f"[{section}] {key} must be one of {', '.join(choices)}")
        return value

    def url(self, section: str, key: str, *, default: str) -> str:
        value = self.text(section, key, required=False, default=default)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self._fail(f"[{section}] {key} must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def object_id(self, section: str, key: str) -> str:
        value = self.text(section, key)
        if len(value) != 24 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise self._fail(
                f"[{section}] {key} must be a 360Learning id (24 hexadecimal characters)"
            )
        return value

    def boolean(self, section: str, key: str, *, default: bool) -> bool:
        value = self.section(section).get(key, default)
        if not isinstance(value, bool):
            raise self._fail(f"[{section}] {key} must be true or false")
        return value

    def string_table(self, section: str, key: str) -> dict[str, str]:
        value = self.section(section).get(key, {})
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self._fail(
                f'[{section}] {key} must be a table of strings, e.g. Course = "course"'
            )
        return dict(value)

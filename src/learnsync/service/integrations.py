"""Integrations as the service stores them ↔ the pipelines' :class:`~learnsync.config.Config`.

A record plus its decrypted secrets becomes the same raw shape as a config file and goes
through :func:`~learnsync.config.parse_config`, so the UI, the API and a config file are
validated by one set of rules with one set of messages. The settings' one schema is
:class:`~learnsync.model.integration.IntegrationSchema`; :class:`IntegrationInput` adds the
write-only secrets. An integration is addressed by its id (``integrations.id``): a settings
edit never changes which store row, filters, runs and item states it has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import Field

from learnsync.config import (
    COURSERA_API_BASE,
    COURSERA_TOKEN_URL,
    DEFAULT_INTEGRATION_NAME,
    THREESIXTY_BASE_URL,
    Config,
    parse_config,
)
from learnsync.errors import ConfigError
from learnsync.model.integration import IntegrationSchema
from learnsync.service.endpoints import EndpointPolicy, secrets_message, secrets_needed
from learnsync.service.secrets import SecretBox
from learnsync.store.service_repository import (
    SETTING_COLUMNS,
    IntegrationSettings,
    ServiceRepository,
)

# form field → (record column, secret?)
SECRET_FIELDS = {
    "coursera_client_secret": "coursera_client_secret_enc",
    "coursera_refresh_token": "coursera_refresh_token_enc",
    "threesixty_client_secret": "threesixty_client_secret_enc",
}


class CredentialsRefused(ConfigError):
    """A save refused because an API refused the changed credentials (nothing was stored)."""


class IntegrationInput(IntegrationSchema):
    """What an administrator enters (UI form, API body or config file): the settings' schema
    plus the secrets. Empty secrets mean "keep the stored one" — secret fields are write-only."""

    coursera_client_secret: str = Field(default="", repr=False)
    coursera_refresh_token: str = Field(default="", repr=False)
    coursera_api_base: str = COURSERA_API_BASE
    coursera_token_url: str = COURSERA_TOKEN_URL
    threesixty_base_url: str = THREESIXTY_BASE_URL
    threesixty_client_secret: str = Field(default="", repr=False)
    integration_name: str = DEFAULT_INTEGRATION_NAME

    def settings(self) -> dict[str, Any]:
        """The settings, as :data:`~learnsync.model.integration.SETTING_FIELDS` name them."""
        values = self.model_dump(exclude=set(SECRET_FIELDS))
        return {
            k: (v.strip() if isinstance(v, str) else v)
            for k, v in values.items()
            if k in SETTING_COLUMNS
        }

    def secrets(self) -> dict[str, str]:
        return {k: getattr(self, k).strip() for k in SECRET_FIELDS if getattr(self, k).strip()}

    def overrides_text(self) -> str:
        """``content_type_overrides`` as the form's textarea shows them."""
        return "\n".join(f"{k} = {v}" for k, v in self.content_type_overrides.items())


def parse_overrides(text: str) -> dict[str, str]:
    """The form's textarea: one ``Coursera type = 360Learning type`` per line (blank lines and
    ``#`` comments ignored). A line without ``=`` keeps an empty target, which the config
    rules then refuse with their message."""
    overrides: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        source, _, target = line.partition("=")
        overrides[source.strip()] = target.strip()
    return overrides


def input_from_config(config: Config, label: str) -> IntegrationInput:
    c, t = config.coursera, config.threesixty
    return IntegrationInput(
        label=label,
        coursera_org_id=c.org_id,
        coursera_client_id=c.client_id,
        coursera_client_secret=c.client_secret,
        coursera_refresh_token=c.refresh_token,
        coursera_api_base=c.api_base,
        coursera_token_url=c.token_url,
        coursera_program_id=c.program_id,
        coursera_auth=c.auth,
        threesixty_base_url=t.base_url,
        threesixty_client_id=t.client_id,
        threesixty_client_secret=t.client_secret,
        group_id=t.group_id,
        author_id=t.author_id,
        integration_name=t.integration_name,
        archive_removed=config.sync.archive_removed,
        content_type_overrides=dict(config.sync.content_types),
    )


def raw_config(
    settings: Mapping[str, Any], secrets: Mapping[str, str], store_url: str
) -> dict[str, Any]:
    """The config-file shape of an integration (``settings``: record columns; ``secrets``:
    clear)."""
    return {
        "store": {"url": store_url},
        "coursera": {
            "org_id": settings["coursera_org_id"],
            "client_id": settings["coursera_client_id"],
            "client_secret": secrets.get("coursera_client_secret", ""),
            "refresh_token": secrets.get("coursera_refresh_token", ""),
            "api_base": settings["coursera_api_base"],
            "token_url": settings["coursera_token_url"],
            "program_id": settings["coursera_program_id"],
            "auth": settings["coursera_auth"],
        },
        "threesixty": {
            "base_url": settings["threesixty_base_url"],
            "client_id": settings["threesixty_client_id"],
            "client_secret": secrets.get("threesixty_client_secret", ""),
            "group_id": settings["group_id"],
            "author_id": settings["author_id"],
            "integration_name": settings["integration_name"],
        },
        "sync": {
            "archive_removed": bool(settings["archive_removed"]),
            "content_types": dict(settings.get("content_type_overrides") or {}),
        },
    }


def validate_input(data: IntegrationInput, stored: Mapping[str, str], store_url: str) -> Config:
    """Check ``data`` (stored secrets fill the blank secret fields) with the config-file rules;
    raises :class:`~learnsync.errors.ConfigError` naming the field."""
    secrets = {**stored, **data.secrets()}
    return parse_config(
        raw_config(data.settings(), secrets, store_url), source=f"integration {data.label!r}"
    )


# the settings that, with the secrets, make an integration's credentials
CREDENTIAL_SETTINGS = (
    "coursera_client_id",
    "coursera_auth",
    "coursera_token_url",
    "coursera_api_base",
    "threesixty_client_id",
    "threesixty_base_url",
)


def _credentials_edited(
    before: Mapping[str, Any], after: Mapping[str, Any], data: IntegrationInput
) -> frozenset[str]:
    """The APIs (``coursera``, ``threesixty``) whose credentials this edit changes."""
    changed = set(data.secrets()) | {
        k
        for k in CREDENTIAL_SETTINGS
        if str(before.get(k) or "").strip().rstrip("/")
        != str(after.get(k) or "").strip().rstrip("/")
    }
    return frozenset(field.partition("_")[0] for field in changed)


class Integrations:
    """Create, update, read integrations; the only place that decrypts their secrets."""

    def __init__(
        self,
        repo: ServiceRepository,
        box: SecretBox,
        store_url: str,
        policy: EndpointPolicy | None = None,
    ) -> None:
        self.repo = repo
        self.box = box
        self.store_url = store_url
        self.policy = policy if policy is not None else EndpointPolicy.from_env()

    def clear_secrets(self, integration_id: int) -> dict[str, str]:
        encrypted = self.repo.get_encrypted_secrets(integration_id)
        return {
            field: self.box.decrypt(token)
            for field, column in SECRET_FIELDS.items()
            if (token := encrypted.get(column))
        }

    def save(
        self,
        data: IntegrationInput,
        integration_id: int | None = None,
        *,
        trusted: bool = False,
        verify: Callable[[Config, frozenset[str]], str | None] | None = None,
    ) -> int:
        """Validate and store; returns the integration id. Raises ConfigError / ValueError.

        The endpoints must pass the service's :class:`EndpointPolicy` (``trusted``: the
        operator's own config file, ``learnsync integrations import``), and an endpoint that
        changed needs the secrets that go there entered again. ``verify(config, apis)`` (the
        web form, the API) checks changed credentials before they replace the stored ones: its
        reason refuses the save and the old secrets stay. A credential edit marks the
        integration not verified (setup ``new``) until *Setup integration* passes again."""
        if not data.label.strip():
            raise ConfigError("the integration needs a name")
        stored: dict[str, str] = {}
        before: dict[str, Any] = {}
        if integration_id is not None:
            old = self.get(integration_id)
            before = {k: getattr(old, k) for k in SETTING_COLUMNS}
            stored = self.clear_secrets(integration_id)
        # parsed only (nothing is sent): the settings as the runs would use them, defaults for
        # blanks, URLs without a trailing "/" — what the policy and the comparison judge
        config = validate_input(data, stored, self.store_url)
        settings = input_from_config(config, data.label.strip()).settings()
        if not trusted:
            self.policy.check_all(settings)
        edited: frozenset[str] = frozenset()
        if integration_id is not None:
            missing = secrets_needed(before, settings, data.secrets())
            if missing:
                raise ConfigError(secrets_message(settings, before, missing))
            edited = _credentials_edited(before, settings, data)
        if edited and verify is not None:
            refused = verify(config, edited)
            if refused:
                raise CredentialsRefused(
                    f"the changed credentials were not saved — {refused} (the stored ones are kept)"
                )
        # what was validated is stored, so what the pages read without decrypting is what the
        # runs use
        encrypted = {SECRET_FIELDS[k]: self.box.encrypt(v) for k, v in data.secrets().items()}
        if integration_id is None:
            # the key is set once, here: a later rename keeps it (and the id)
            return self.repo.create_integration(settings, encrypted, key=config.integration_key)
        self.repo.update_integration(integration_id, settings, encrypted)
        if edited:
            self.repo.set_setup_result(
                integration_id, "new", "credentials changed: run Setup integration to check them"
            )
        return integration_id

    def get(self, integration_id: int) -> IntegrationSettings:
        found = self.repo.get_integration(integration_id)
        if found is None:
            raise LookupError(f"no integration with id {integration_id}")
        return found

    def config(self, integration_id: int) -> Config:
        """The pipelines' Config for this integration (secrets decrypted in memory only); its
        ``integration_id`` makes the runs use this integration's store row, whatever its
        settings say."""
        record = self.get(integration_id)
        settings = {k: getattr(record, k) for k in SETTING_COLUMNS}
        config = parse_config(
            raw_config(settings, self.clear_secrets(integration_id), self.store_url),
            source=f"integration {record.label!r}",
        )
        return replace(config, integration_id=record.id)

"""The one schema of an integration's settings (pydantic): what the settings form, the JSON API
and ``integrations import`` read and write, and what the service stores on the integration's
``integrations`` row (:data:`SETTING_FIELDS`).

It only types the fields; the rules and their messages are the config file's
(:func:`learnsync.config.parse_config`), which every save goes through. Secrets are not part of
it (write-only, :class:`learnsync.service.integrations.IntegrationInput` adds them).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntegrationSchema(BaseModel):
    """An integration's settings, secrets aside. Blank strings mean "the default"."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(description="the integration's name in learnsync (unique)")
    coursera_org_id: str = ""
    coursera_client_id: str = ""
    coursera_api_base: str = ""
    coursera_token_url: str = ""
    coursera_program_id: str = ""
    coursera_auth: str = "refresh_token"
    threesixty_base_url: str = ""
    threesixty_client_id: str = ""
    group_id: str = ""
    author_id: str = ""
    integration_name: str = ""
    archive_removed: bool = False
    content_type_overrides: dict[str, str] = Field(
        default_factory=dict,
        description="[sync.content_types]: Coursera contentType → 360Learning contentType",
    )


SETTING_FIELDS: tuple[str, ...] = tuple(IntegrationSchema.model_fields)

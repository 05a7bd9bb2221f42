"""Shared support for the service and web tests: an integration's settings as an administrator
enters them, and the settings form as the page posts it."""

from __future__ import annotations

from typing import Any

from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput

# the settings page's fields, as the form posts them (secrets are write-only: not rendered)
FORM_FIELDS = (
    "label",
    "coursera_org_id",
    "coursera_client_id",
    "coursera_api_base",
    "coursera_token_url",
    "threesixty_base_url",
    "threesixty_client_id",
    "group_id",
    "author_id",
    "integration_name",
)


def sample_input(**changes: Any) -> IntegrationInput:
    """An integration on the real APIs' default endpoints, with placeholder credentials (no
    request is made with them unless a test runs a real pipeline)."""
    values: dict[str, Any] = {
        "label": "Coursera",
        "coursera_org_id": "org",
        "coursera_client_id": "c",
        "coursera_client_secret": "s",
        "coursera_refresh_token": "r",
        "threesixty_client_id": "t",
        "threesixty_client_secret": "s",
        "group_id": "a" * 24,
        "author_id": "b" * 24,
    }
    return IntegrationInput(**{**values, **changes})


def settings_form(
    service: Service, csrf: str, integration_id: int = 1, **changes: str
) -> dict[str, str]:
    """The settings form of a stored integration as the page posts it (``action`` "setup"
    unless changed), with ``changes`` applied."""
    item = service.integrations.get(integration_id)
    form = {"csrf_token": csrf, "action": "setup", **{f: getattr(item, f) for f in FORM_FIELDS}}
    return {**form, **changes}


class FakeReport:
    """What a fake pipeline returns: one created course, nothing failed (the web tests run no
    real pipeline unless they say so)."""

    failed = ()

    def to_record(self) -> dict[str, object]:
        return {"kind": "content", "created": 1, "skipped": [], "failed": []}

    def to_json(self) -> dict[str, object]:
        return self.to_record()

    def summary(self) -> str:
        return "1 created"


FAKE_PIPELINES = {kind: (lambda *_args: FakeReport()) for kind in ("content", "stats", "filters")}


def fake_service(
    url: str, password: str, users: tuple[str, ...] = ("admin",), **secrets: str
) -> Service:
    """A service on the store ``url`` whose pipelines are fakes, with ``users`` (all with
    ``password``) and one integration "Coursera" (``secrets`` replace its placeholder ones)."""
    from learnsync.service.secrets import SecretBox

    service = Service(url, SecretBox.generate(), pipelines=FAKE_PIPELINES)
    for user in users:
        service.auth.create_user(user, password)
    values: dict[str, Any] = {
        "coursera_client_secret": "cs",
        "coursera_refresh_token": "rt",
        "threesixty_client_secret": "ts",
        **secrets,
    }
    service.integrations.save(
        IntegrationInput(
            label="Coursera",
            coursera_org_id="org-1",
            coursera_client_id="client-1",
            threesixty_client_id="tsl-client",
            group_id="a" * 24,
            author_id="b" * 24,
            **values,
        )
    )
    return service

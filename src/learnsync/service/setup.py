"""**Setup integration** (docs/service.md#decisions): check both APIs, one step at a time, and say
what to do.

Each check runs only when the ones it depends on passed; a failure carries the client's own
actionable message (the clients' errors already name what to check), reworded where the
web form uses other words than the config file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from learnsync.config import Config
from learnsync.errors import ApiError, LearnsyncError
from learnsync.sync.context import Clients, open_clients
from learnsync.sync.runner import one_line

# config-file words → the settings page's labels (longest first: a phrase is replaced before
# the shorter ones it contains). The clients' own messages stay in config-file words for the
# command line; the web shows them in these.
_FORM_WORDS = {
    "`learnsync coursera authorize` and put it in [coursera] refresh_token": (
        "learnsync coursera authorize and enter it as the Refresh token"
    ),
    "check [coursera] client_id and client_secret (and [coursera] auth: 'refresh_token' for an "
    "App Console app, 'client_credentials' for a developer-portal app)": (
        "check the Client ID and Client secret (and, under Advanced, the Authorization flow: "
        "refresh token for an App Console app, client credentials for a developer-portal app)"
    ),
    "check the [coursera] credentials and token_url": (
        "check the Client ID, the Client secret and, under Advanced, the Token URL"
    ),
    "check [coursera] client_id, or run `learnsync coursera authorize` again": (
        "check the Client ID, or create a new Refresh token (learnsync coursera authorize)"
    ),
    "check [coursera] org_id and program_id": "check the Organization ID and the Program ID",
    "[coursera] program_id must be": "the Program ID must be",
    "[threesixty] client_id and client_secret, and base_url": (
        "the API Client ID and API Client secret, and the Platform URL"
    ),
    "[threesixty] client_id is still active": "the API Client ID is still active",
    "the origin of [threesixty] base_url": "the origin of the Platform URL",
    "choose another integration_name in [threesixty]": "choose another Integration name",
    "[coursera] client_id and client_secret": "the Coursera Client ID and Client secret",
    "[coursera] client_id": "the Coursera Client ID",
    "[coursera] org_id": "the Organization ID",
    "[coursera] refresh_token": "the Refresh token",
    "[threesixty] client_id and client_secret": "the 360Learning Client ID and Client secret",
    "[threesixty] client_id": "the 360Learning Client ID",
    "[threesixty] group_id": "the Synchronized group ID",
    "[threesixty] author_id": "the Author ID",
    "integration_name in [threesixty]": "the 360Learning integration name",
    "[threesixty]": "the 360Learning settings",
}


def form_words(message: str) -> str:
    """A client's or the config rules' message in the settings page's words (its labels, not
    config keys)."""
    for old, new in _FORM_WORDS.items():
        message = message.replace(old, new)
    return message


# an API's code in parentheses: "(invalid_grant)", "(404 on organization)", "(HTTP 401)",
# "(groupNotFound)", "(401 invalid_client)" — shown in small print, not in the sentence
_CODE = re.compile(
    r" \((?P<code>HTTP \d{3}|\d{3}(?: [^()]*)?|[a-z]+(?:_[a-z]+)+|[a-z]+[A-Z][A-Za-z]*)\)"
)


def split_code(message: str) -> tuple[str, str]:
    """``(sentence, codes)``: the message without its API codes in parentheses, and those codes
    ("" when none) for the small print."""
    codes = [m.group("code").strip() for m in _CODE.finditer(message)]
    return _CODE.sub("", message), ", ".join(codes)


REASON_LIMIT = 240  # characters of a check's reason on the page


def short_reason(message: str, limit: int = REASON_LIMIT) -> str:
    """What the settings page shows of a failed check: one line of printable text, at most
    ``limit`` characters — an upstream's answer is never echoed beyond a short reason (the
    page must not be a window on what a server said)."""
    return one_line(message, limit)


@dataclass
class Check:
    name: str
    status: str  # "ok", "failed", "skipped"
    message: str = ""  # in the settings page's words
    code: str = ""  # the API's code(s), for the small print


@dataclass
class SetupResult:
    checks: list[Check] = field(default_factory=list)
    remote_integration_id: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status == "ok" for c in self.checks)

    def summary(self) -> str:
        failed = [c for c in self.checks if c.status == "failed"]
        if not failed:
            return (
                "Integration set up: both APIs answered and the 360Learning integration is ready."
            )
        return "; ".join(f"{c.name}: {c.message}" for c in failed)


def _run(result: SetupResult, name: str, step: Callable[[], Any], *, blocked: bool) -> bool:
    if blocked:
        result.checks.append(Check(name, "skipped", "not checked: an earlier check failed"))
        return False
    try:
        step()
    except LearnsyncError as exc:
        text, code = split_code(short_reason(form_words(exc.message)))
        result.checks.append(Check(name, "failed", text, code))
        return False
    result.checks.append(Check(name, "ok"))
    return True


def _not_found(kind: str, value: str, what: str) -> Callable[[ApiError], str]:
    def message(exc: ApiError) -> str:
        if exc.status == 404:
            return f"360Learning does not know {kind} {value}: check {what}"
        return exc.message

    return message


def _lookup(call: Callable[[], Any], describe: Callable[[ApiError], str]) -> Callable[[], None]:
    def step() -> None:
        try:
            call()
        except ApiError as exc:
            raise LearnsyncError(describe(exc)) from None

    return step


def setup_integration(
    config: Config,
    *,
    clients: Clients | None = None,
    create: bool = True,
    known_id: str | None = None,
) -> SetupResult:
    """Validate credentials, organization, group, author; find or create the 360Learning
    integration (``create=False``: only look it up). ``known_id``: the 360Learning integration
    the store remembers, renamed rather than another created when the settings were renamed."""
    result = SetupResult()
    own = clients is None
    clients = clients or open_clients(config)
    t = config.threesixty
    try:
        coursera_ok = _run(
            result, "Coursera credentials", clients.coursera.auth.token, blocked=False
        )
        _run(
            result,
            "Coursera organization",
            clients.coursera.get_organization,
            blocked=not coursera_ok,
        )
        tsl_ok = _run(
            result, "360Learning credentials", clients.threesixty.auth.token, blocked=False
        )
        group_ok = _run(
            result,
            "360Learning group",
            _lookup(
                lambda: clients.threesixty.get_group(t.group_id),
                _not_found("group", t.group_id, "the Synchronized group ID"),
            ),
            blocked=not tsl_ok,
        )
        author_ok = _run(
            result,
            "360Learning author",
            _lookup(
                lambda: clients.threesixty.get_user(t.author_id),
                _not_found("user", t.author_id, "the Author ID (an editor or admin of the group)"),
            ),
            blocked=not tsl_ok,
        )
        # the scope courses:read: a run reads the group's archived courses to reconcile what an
        # interrupted run did (docs/api-notes.md#scopes), so it is checked now, not after a kill
        _run(
            result,
            "360Learning course access",
            lambda: clients.threesixty.archived_course_ids(t.group_id),
            blocked=not group_ok,
        )

        def ensure() -> None:
            if create:
                found, warnings = clients.threesixty.ensure_integration(
                    name=t.integration_name,
                    group_id=t.group_id,
                    author_id=t.author_id,
                    known_id=known_id,
                )
                result.warnings.extend(warnings)
                result.remote_integration_id = str(found.get("_id", ""))

        blocked = not (group_ok and author_ok and all(c.status == "ok" for c in result.checks))
        _run(result, "360Learning integration", ensure, blocked=blocked)
    finally:
        if own:
            clients.close()
    return result


def verify_credentials(
    config: Config, apis: frozenset[str], *, clients: Clients | None = None
) -> str | None:
    """Whether the APIs ``apis`` (``coursera``, ``threesixty``) accept the credentials of
    ``config`` (an access token minted from each): ``None``, or the short reason of the first
    refusal. Used before changed credentials replace the stored ones."""
    own = clients is None
    clients = clients or open_clients(config)
    try:
        for api, name, mint in (
            ("coursera", "Coursera", clients.coursera.auth.token),
            ("threesixty", "360Learning", clients.threesixty.auth.token),
        ):
            if api not in apis:
                continue
            try:
                mint()
            except LearnsyncError as exc:
                return f"{name} refused them: {short_reason(form_words(exc.message))}"
        return None
    finally:
        if own:
            clients.close()


def check_unsaved(
    integrations: Any, integration_id: int, data: Any, *, known_id: str | None = None
) -> SetupResult:
    """*Setup integration* on settings that were not saved (changed credentials an API refused):
    the checks run with the entered values over the stored secrets, nothing is created or
    stored — what failed is shown on its field, the stored settings stay as they were."""
    from learnsync.service.integrations import validate_input

    config = validate_input(
        data, integrations.clear_secrets(integration_id), integrations.store_url
    )
    return setup_integration(config, create=False, known_id=known_id)

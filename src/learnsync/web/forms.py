"""The forms' problems in the form's words: every problem at once, each on its field.

The settings form (Save, *Setup integration*), Import and Schedules are checked here before the
service is called, field by field with the same rules as the config file
(:func:`learnsync.config.parse_config`, the endpoint policy), so an empty form marks every empty
field instead of the first missing config key. What the service still refuses (a credential the
API refused, a name already used) and a failed setup check are put on their fields too
(:func:`save_problems`, :func:`setup_problems`). A message names the form's labels, never a
config key or an environment variable; an API's code goes to the small print.

:class:`Drafts` keeps the non-secret fields of a form posted after its session expired, for the
same administrator, for a few minutes (:mod:`learnsync.web.security`).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from learnsync.errors import ConfigError
from learnsync.mapping.content_types import validate_content_type_overrides
from learnsync.service.endpoints import ENDPOINTS, EndpointPolicy, secrets_needed
from learnsync.service.integrations import SECRET_FIELDS
from learnsync.service.scheduler import parse_time_of_day, zone
from learnsync.service.setup import SetupResult, form_words, split_code

#: The settings form's fields in the page's order, with their labels (the article's words).
SETTINGS_LABELS: dict[str, str] = {
    "label": "Name in learnsync",
    "coursera_client_id": "Client ID",
    "coursera_client_secret": "Client secret",
    "coursera_org_id": "Organization ID",
    "coursera_refresh_token": "Refresh token",
    "coursera_api_base": "API base URL",
    "coursera_token_url": "Token URL",
    "coursera_program_id": "Program ID",
    "coursera_auth": "Authorization flow",
    "threesixty_base_url": "Platform URL",
    "threesixty_client_id": "API Client ID",
    "threesixty_client_secret": "API Client secret",
    "group_id": "Synchronized group ID",
    "author_id": "Author ID",
    "integration_name": "Integration name",
    "content_type_overrides": "Content type overrides",
}
#: The fields under the settings form's "Advanced" (opened when one of them is marked).
ADVANCED = frozenset(
    {"coursera_api_base", "coursera_token_url", "coursera_program_id", "coursera_auth"}
)

# a config file's (section, key) → the settings form's field
CONFIG_FIELDS: dict[tuple[str, str], str] = {
    ("coursera", "org_id"): "coursera_org_id",
    ("coursera", "client_id"): "coursera_client_id",
    ("coursera", "client_secret"): "coursera_client_secret",
    ("coursera", "refresh_token"): "coursera_refresh_token",
    ("coursera", "api_base"): "coursera_api_base",
    ("coursera", "token_url"): "coursera_token_url",
    ("coursera", "program_id"): "coursera_program_id",
    ("coursera", "auth"): "coursera_auth",
    ("threesixty", "base_url"): "threesixty_base_url",
    ("threesixty", "client_id"): "threesixty_client_id",
    ("threesixty", "client_secret"): "threesixty_client_secret",
    ("threesixty", "group_id"): "group_id",
    ("threesixty", "author_id"): "author_id",
    ("threesixty", "integration_name"): "integration_name",
    ("sync", "content_types"): "content_type_overrides",
}
# what a config key is called in a sentence about a file (the API named: a file has both)
_FILE_NAMES = {
    "coursera_client_id": "Coursera Client ID",
    "coursera_client_secret": "Coursera Client secret",
    "coursera_api_base": "Coursera API base URL",
    "coursera_token_url": "Coursera Token URL",
    "threesixty_base_url": "360Learning Platform URL",
    "threesixty_client_id": "360Learning API Client ID",
    "threesixty_client_secret": "360Learning API Client secret",
}

_HEX = re.compile(r"[0-9a-fA-F]{24}")


@dataclass(frozen=True)
class Problem:
    """One problem: its sentence, the field it is on ("" for the form as a whole), the codes
    for the small print."""

    message: str
    field: str = ""
    code: str = ""


@dataclass
class Problems:
    """A form's problems, in the form's order; ``errors`` is what the ``field`` macro reads."""

    labels: Mapping[str, str] = field(default_factory=dict)
    items: list[Problem] = field(default_factory=list)

    def add(self, message: str, field_name: str = "", code: str = "") -> None:
        self.items.append(Problem(message, field_name, code))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def errors(self) -> dict[str, str]:
        """Field → its first problem's sentence."""
        found: dict[str, str] = {}
        for p in self.items:
            if p.field and p.field not in found:
                found[p.field] = p.message
        return found

    @property
    def first(self) -> str:
        """The first marked field in the form's order ("" when none): it gets the focus."""
        marked = self.errors
        order = [f for f in self.labels if f in marked] + [
            f for f in marked if f not in self.labels
        ]
        return order[0] if order else ""

    def summary(self) -> list[dict[str, Any]]:
        """The summary banner's lines: each problem once, with links to the fields it is on."""
        lines: dict[str, dict[str, Any]] = {}
        for p in self.items:
            line = lines.setdefault(p.message, {"message": p.message, "code": p.code, "fields": []})
            if p.field and p.field not in [f["field"] for f in line["fields"]]:
                line["fields"].append(
                    {"field": p.field, "label": self.labels.get(p.field, p.field)}
                )
        return list(lines.values())

    @property
    def advanced_open(self) -> bool:
        return any(p.field in ADVANCED for p in self.items)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    first_word = text.split(" ", 1)[0]
    if "." not in first_word and "/" not in first_word:  # a host or an address stays as it is
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", ")", "?", "!")) else text + "."


# ---------------------------------------------------------------------- the settings form


def settings_problems(
    form: Any,
    *,
    stored_secrets: Iterable[str] = (),
    before: Mapping[str, Any] | None = None,
    policy: EndpointPolicy | None = None,
) -> Problems:
    """Every problem of the settings form at once (``form``: an
    :class:`~learnsync.service.integrations.IntegrationInput`; ``stored_secrets``: the secret
    fields the integration already has, kept when left blank; ``before``: its stored settings,
    for the endpoint changes that need their secrets again)."""
    problems = Problems(SETTINGS_LABELS)
    stored = set(stored_secrets)

    def value(name: str) -> str:
        return str(getattr(form, name, "") or "").strip()

    refresh_flow = value("coursera_auth") in ("", "refresh_token")

    if not value("label"):
        problems.add("Enter a name: it tells this integration apart in learnsync.", "label")
    required = {
        "coursera_client_id": "Enter the Client ID of your Coursera app.",
        "coursera_client_secret": "Enter the Client secret of your Coursera app.",
        "coursera_org_id": "Enter the Organization ID of your Coursera for Business organization.",
        "coursera_refresh_token": (
            "Enter a Refresh token for your Coursera app (create one with learnsync coursera "
            "authorize)."
        ),
        "threesixty_client_id": "Enter the API Client ID of your 360Learning API credential.",
        "threesixty_client_secret": (
            "Enter the API Client secret of your 360Learning API credential."
        ),
    }
    for name in SETTINGS_LABELS:
        if name in ("coursera_api_base", "coursera_token_url", "threesixty_base_url"):
            problems.extend(_url_problems(name, value(name), policy))
        elif name == "coursera_auth" and value(name) not in (
            "",
            "refresh_token",
            "client_credentials",
        ):
            problems.add("Choose refresh token or client credentials.", name)
        elif name in ("group_id", "author_id"):
            problems.extend(_id_problems(name, value(name)))
        elif name == "content_type_overrides":
            for line in validate_content_type_overrides(form.content_type_overrides):
                text = line.removeprefix("[sync.content_types]: ")
                problems.add(_sentence(text), name)
        elif name in required:
            if name == "coursera_refresh_token" and not refresh_flow:
                continue
            if not value(name) and not (name in SECRET_FIELDS and name in stored):
                problems.add(required[name], name)
    if before is not None:
        settings = {k: value(k) or before.get(k) for k in ENDPOINTS}
        settings["coursera_auth"] = value("coursera_auth") or "refresh_token"
        missing = secrets_needed(before, settings, form.secrets())
        for name in missing:
            changed = [
                SETTINGS_LABELS[s]
                for s, (_api, _label, goes) in ENDPOINTS.items()
                if name in goes and _normal(before.get(s)) != _normal(settings.get(s))
            ]
            problems.add(
                f"The {' and '.join(changed)} changed: enter the {SETTINGS_LABELS[name]} again "
                "(a stored secret is never sent to a new address).",
                name,
            )
    return problems


def _normal(value: object) -> str:
    return str(value or "").strip().rstrip("/").lower()


def _url_problems(name: str, url: str, policy: EndpointPolicy | None) -> list[Problem]:
    if not url:
        return []  # the default
    if policy is None:
        return []
    try:
        policy.check(name, url)
    except ConfigError as exc:  # its message starts with the endpoint's label
        _label, _, reason = exc.message.partition(": ")
        return [Problem(_sentence(_policy_words(reason or exc.message)), name)]
    return []


def _policy_words(reason: str) -> str:
    """The endpoint policy's reason without the environment variable an operator sets."""
    return re.sub(
        r"; an operator can allow it in [A-Z_]+",
        ": ask the operator of learnsync to allow this host",
        reason,
    )


def _id_problems(name: str, value: str) -> list[Problem]:
    label = SETTINGS_LABELS[name]
    if not value:
        return [Problem(f"Enter the {label}.", name)]
    if not _HEX.fullmatch(value):
        return [
            Problem(
                f"The {label} is 24 characters, digits 0–9 and letters a–f: copy it from "
                "360Learning (see the help under the field).",
                name,
            )
        ]
    return []


def save_problems(message: str) -> Problems:
    """What the service refused on a save that passed :func:`settings_problems`, on its fields:
    a credential an API refused (the stored one kept), a name already used, or a config rule."""
    problems = Problems(SETTINGS_LABELS)
    text, code = split_code(form_words(message))
    fields: list[str] = []
    if "refused them" in text:
        api = text.split(" refused them", 1)[0].rsplit(" ", 1)[-1]
        fields = check_fields(f"{api} credentials", text)
    elif text.startswith("an integration named"):
        fields = ["label"]
        text = "Another integration already has this name: choose another one."
    else:
        problem = config_problem(text)
        if problem.field:
            problems.items.append(problem)
            return problems
    for name in fields or [""]:
        problems.add(_sentence(text), name, code)
    return problems


def unsaved_setup_problems(message: str, result: SetupResult) -> Problems:
    """*Setup integration* with changed credentials an API refused (``message``: the save's
    refusal): that nothing was saved, then the failed checks on their fields."""
    problems = Problems(SETTINGS_LABELS)
    text, _code = split_code(form_words(message))
    head = text.split(":", 1)[0].removesuffix(" (the stored ones are kept)")
    problems.add(_sentence(f"{head} (the stored ones are kept)"))
    problems.extend(setup_problems(result).items)
    return problems


def config_problem(message: str) -> Problem:
    """A config rule's message (:func:`~learnsync.config.parse_config`) in the form's words, on
    the field it names; the config key goes to the small print."""
    text = re.sub(r"^(?:integration '.*?'|the uploaded file): ", "", message.strip())
    match = re.match(r"missing key '(\w+)' in \[(\w+)\]", text)
    if match:
        key, section = match.group(1), match.group(2)
        name = CONFIG_FIELDS.get((section, key), "")
        what = _FILE_NAMES.get(name) or SETTINGS_LABELS.get(name) or key
        return Problem(f"The {what} is missing: enter it.", name, f"[{section}] {key}")
    match = re.match(r"\[(\w+)\] (\w+) (.*)$", text)
    if match:
        section, key, rest = match.groups()
        name = CONFIG_FIELDS.get((section, key), "")
        what = _FILE_NAMES.get(name) or SETTINGS_LABELS.get(name) or key
        rest = re.sub(r", got .*$", "", rest)
        rest = rest.replace("must be an http(s) URL", "must be a web address (https://…)")
        rest = rest.replace("must be a string in quotes", "must be text in quotes")
        return Problem(f"The {what} {rest}.", name, f"[{section}] {key}")
    if text.startswith("[sync.content_types]: "):
        return Problem(
            _sentence(text.removeprefix("[sync.content_types]: ")), "content_type_overrides"
        )
    return Problem(_sentence(form_words(text)))


def setup_problems(result: SetupResult) -> Problems:
    """A failed setup's checks on the settings form's fields (skipped checks mark nothing)."""
    problems = Problems(SETTINGS_LABELS)
    for check in result.checks:
        if check.status != "failed":
            continue
        for name in check_fields(check.name, check.message):
            problems.add(f"{check.name}: {_sentence(check.message)}", name, check.code)
    return problems


def check_fields(check: str, message: str) -> list[str]:
    """The settings fields a failed setup check points at."""
    words = message.lower()
    match check:
        case "Coursera credentials":
            if "refresh token was refused" in words:
                return ["coursera_refresh_token"]
            return ["coursera_client_id", "coursera_client_secret"]
        case "Coursera organization":
            return ["coursera_org_id"] + (["coursera_program_id"] if "program" in words else [])
        case "360Learning credentials" | "360Learning course access":
            return ["threesixty_client_id", "threesixty_client_secret"]
        case "360Learning group":
            return ["group_id"]
        case "360Learning author":
            return ["author_id"]
        case "360Learning integration":
            if "group" in words:
                return ["group_id"]
            if "author" in words or "user" in words:
                return ["author_id"]
            return ["integration_name"]
    return []


# ---------------------------------------------------------------------- import


IMPORT_LABELS = {"label": "Name in learnsync", "config": "Config file"}


def import_problems(message: str, label: str) -> Problems:
    """Import's refusal in words, on the file field (the name field when it is the name)."""
    problems = Problems(IMPORT_LABELS)
    if not label.strip():
        problems.add("Enter a name: it tells this integration apart in learnsync.", "label")
    text = message.strip()
    match = re.match(
        r"the file is not valid TOML: (.*?)(?: \(at line (\d+), column (\d+)\))?$", text
    )
    if match:
        where = f": check line {match.group(2)}, column {match.group(3)}" if match.group(2) else ""
        problems.add(
            f"The file is not a valid config file (TOML){where}.", "config", match.group(1)
        )
        return problems
    if text.startswith("the uploaded file: "):
        if re.search(r"unknown (key|section)", text):
            problems.add(
                "The file has a setting learnsync does not know: check its spelling, or remove it.",
                "config",
                text.removeprefix("the uploaded file: "),
            )
            return problems
        problem = config_problem(text)
        sentence = problem.message
        missing = re.fullmatch(r"The (.*) is missing: enter it\.", sentence)
        if missing:
            sentence = f"The file has no {missing.group(1)}: add it, then import again."
        elif problem.field:
            sentence = "In the file, t" + sentence[1:]
        problems.add(sentence, "config", problem.code)
        return problems
    if text.startswith("an integration named"):
        problems.add("Another integration already has this name: choose another one.", "label")
        return problems
    saved = save_problems(text)
    for p in saved.items:
        problems.add(p.message, "config", p.code)
    return problems


# ---------------------------------------------------------------------- schedules

SCHEDULE_KINDS = {"content": "Content", "stats": "Statistics"}


def schedule_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for kind, name in SCHEDULE_KINDS.items():
        labels[f"{kind}_time"] = f"{name}: time of day"
        labels[f"{kind}_timezone"] = f"{name}: time zone"
    return labels


def schedule_problems(values: Mapping[str, str]) -> Problems:
    """Both schedules' problems at once (``values``: the posted fields)."""
    problems = Problems(schedule_labels())
    for kind in SCHEDULE_KINDS:
        at = values.get(f"{kind}_time", "").strip()
        tz = values.get(f"{kind}_timezone", "").strip()
        if not at:
            problems.add("Enter a time of day, e.g. 08:45.", f"{kind}_time")
        else:
            try:
                parse_time_of_day(at)
            except ConfigError:
                problems.add(
                    f"“{at}” is not a time of day: use hours and minutes, e.g. 08:45.",
                    f"{kind}_time",
                )
        if not tz:
            problems.add("Enter a time zone, e.g. Europe/Paris.", f"{kind}_timezone")
        else:
            try:
                zone(tz)
            except ConfigError:
                problems.add(
                    f"“{tz}” is not a time zone: use a name such as Europe/Paris or "
                    "America/New_York.",
                    f"{kind}_timezone",
                )
    return problems


# ---------------------------------------------------------------------- drafts

#: The fields a draft keeps: the settings form's and the schedules', never a secret.
DRAFT_FIELDS = frozenset(
    [f for f in SETTINGS_LABELS if f not in SECRET_FIELDS]
    + ["archive_removed", "action"]
    + [f"{k}_{part}" for k in SCHEDULE_KINDS for part in ("time", "timezone", "enabled")]
)
DRAFT_LIFETIME = 15 * 60.0  # seconds
DRAFT_MAX = 500  # drafts kept at most (the oldest go first)
DRAFT_VALUE_MAX = 4000  # characters of one field kept


@dataclass
class _Draft:
    user_id: int
    path: str
    values: dict[str, str]
    at: float


class Drafts:
    """The non-secret fields of a form posted after its session ended, kept in this process
    for :data:`DRAFT_LIFETIME`: given back once, to the same administrator, on the same page.
    Nothing is saved from a draft: the page shows the values and the administrator saves."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._drafts: dict[str, _Draft] = {}
        self._lock = threading.Lock()

    def put(self, user_id: int, path: str, form: Mapping[str, Any]) -> str:
        values = {
            k: str(v)[:DRAFT_VALUE_MAX]
            for k, v in form.items()
            if k in DRAFT_FIELDS and isinstance(v, str)
        }
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._forget_old()
            while len(self._drafts) >= DRAFT_MAX:
                self._drafts.pop(next(iter(self._drafts)))
            self._drafts[key] = _Draft(user_id, path, values, self._clock())
        return key

    def take(self, key: str, user_id: int, path: str) -> dict[str, str] | None:
        """The draft ``key`` of ``user_id`` for ``path`` (then forgotten), else None."""
        with self._lock:
            self._forget_old()
            draft = self._drafts.get(key)
            if draft is None or draft.user_id != user_id or draft.path != path:
                return None
            del self._drafts[key]
            return dict(draft.values)

    def _forget_old(self) -> None:
        limit = self._clock() - DRAFT_LIFETIME
        for key in [k for k, d in self._drafts.items() if d.at < limit]:
            del self._drafts[key]

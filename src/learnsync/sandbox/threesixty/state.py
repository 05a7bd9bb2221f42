"""The state of the simulated 360Learning platform, shared by every route (thread-safe).

One company, from the :class:`~learnsync.sandbox.world.World`: its synchronized group and a public
subgroup, the author, the learners (resolved lazily from their e-mail, so a world of 100,000
learners costs nothing until used), one API credential with every scope. On top of that the
simulator keeps what the API creates: integrations, external courses, tags, bulk operations,
attempts, and the sandbox-only paths. Every public method takes the lock; routes in ``app.py``
only translate HTTP to these methods.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.counters import CompanyCounters
from learnsync.sandbox.enrollments import pair_digest
from learnsync.sandbox.faults import FaultPlan
from learnsync.sandbox.threesixty import bulk
from learnsync.sandbox.threesixty.attempts import (
    NO_TIME,
    Attempt,
    AttemptRules,
    AttemptStore,
    CompletedConflict,
    StatInput,
)
from learnsync.sandbox.threesixty.bulk import results_json
from learnsync.sandbox.threesixty.errors import ApiFailure, failure, invalid_token
from learnsync.sandbox.threesixty.validation import (
    LANG_INDEX,
    LANGS,
    OBJECT_ID,
    format_ms,
    parse_date_time,
    validate_archive,
    validate_course,
    validate_stat,
)
from learnsync.sandbox.world import World

ALL_SCOPES: tuple[str, ...] = (
    "integrations:read",
    "integrations:write",
    "integrations:bulk",
    "bulkOperations:read",
    "groups:read",
    "groups:bulk",
    "courses:read",
    "courses:write",
    "courseStats:read",
    "users:read",
    "tags:read",
    "tags:write",
)
TOKEN_LIFETIME = 3600
AUTHOR_KEY = -1
BULK_LIMITS = {
    "importExternalCourses": 10_000,
    "archiveExternalCourses": 1_000,
    "importExternalStatistics": 10_000,
}


@dataclass
class Credential:
    client_id: str
    client_secret: str
    scopes: frozenset[str]


@dataclass
class Integration:
    id: str
    fields: dict[str, Any]
    active: bool = True

    @property
    def name(self) -> str:
        return str(self.fields["externalPlatform"])


@dataclass
class Course:
    """An external course. ``writes``/``archives``/``restores`` count what syncs did to it."""

    index: int
    id: str
    integration_id: str
    external_id: str
    data: dict[str, Any]
    group_id: str
    created_ms: int
    modified_ms: int
    status: str = "published"
    tags: list[str] = field(default_factory=list)
    writes: int = 1
    archives: int = 0
    restores: int = 0


@dataclass
class Path:
    """A sandbox-only learning path: ordered course steps (``optional`` flag), linear or not."""

    id: str
    name: str
    steps: list[tuple[str, bool]]
    linear: bool


_U64 = 2**64 - 1
# the ASGI scope key under which a fleet's routing puts the company a request is for
SIM_SCOPE_KEY = "learnsync.sandbox.threesixty.sim"
APPLY_CHUNK = 500  # bulk items applied per hold of the state lock


class ThreeSixtySim:
    """State and rules of the simulated platform. See the module docstring and the docs part."""

    def __init__(
        self,
        world: World,
        clock: SimClock | None = None,
        *,
        phase_seconds: float = 0.05,
        max_concurrent_operations: int = 3,
        restore_on_upsert: bool = False,
        bulk_api_disabled: bool = False,
        reject_unknown_properties: bool = False,
        reserved_platform_names: list[str] | None = None,
        integrations_limit: int | None = None,
        rate_limits: bool = False,
        get_rate_per_second: int = 50,
        write_rate_per_second: int = 10,
        retry_after: int | None = 1,
        completed_conflict: CompletedConflict = "ignore",
        allow_progress_decrease: bool = True,
        reject_reversed_dates: bool = True,
        member_groups: Sequence[tuple[str, str]] = (),
        member_credentials: Sequence[tuple[str, str]] = (),
        token_prefix: str = "",
    ) -> None:
        """``member_groups`` (id, name) and ``member_credentials`` (client id, secret): the
        groups and API credentials of the fleet tenants sharing this company, besides the
        world's own; ``token_prefix`` starts every token issued (a fleet routes by it)."""
        self.world = world
        self.clock = clock or SimClock()
        self.faults = FaultPlan()
        self.lock = threading.RLock()
        # switches (public: tests and the admin routes change them)
        self.phase_seconds = phase_seconds
        self.max_concurrent_operations = max_concurrent_operations
        self.restore_on_upsert = restore_on_upsert
        self.bulk_api_disabled = bulk_api_disabled
        self.reject_unknown_properties = reject_unknown_properties
        self.reserved_platform_names = list(reserved_platform_names or [])
        self.integrations_limit = integrations_limit
        self.rate_limits = rate_limits
        self.get_rate_per_second = get_rate_per_second
        self.write_rate_per_second = write_rate_per_second
        self.retry_after = retry_after
        self.rules = AttemptRules(
            completed_conflict, allow_progress_decrease, reject_reversed_dates
        )
        self.fail_next_operations = 0
        # state
        self._ids = itertools.count(1)
        self._prefix = world.company_id[:8]
        self.credentials: dict[str, Credential] = {
            client_id: Credential(client_id, secret, frozenset(ALL_SCOPES))
            for client_id, secret in (
                (world.threesixty_client_id, world.threesixty_client_secret),
                *member_credentials,
            )
        }
        self.token_prefix = token_prefix
        self.member_groups = list(member_groups)
        self._tokens: dict[str, tuple[str, float]] = {}
        self.integrations: dict[str, Integration] = {}
        self.courses: list[Course] = []
        self._course_by_id: dict[str, Course] = {}
        self._course_by_key: dict[tuple[str, str], Course] = {}
        group_ids = [world.group_id, world.subgroup_id, *(g for g, _ in self.member_groups)]
        self.catalog: dict[str, list[str]] = {g: [] for g in group_ids}
        self.library: dict[str, list[str]] = {g: [] for g in group_ids}
        self.tags: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, bulk.Operation] = {}
        self._open_ops: list[bulk.Operation] = []
        self._apply_lock = threading.Lock()  # one applier at a time: creation order
        self._worker: threading.Thread | None = None
        self.attempts = AttemptStore()
        self.paths: dict[str, Path] = {}
        self._path_success: dict[tuple[str, int], int] = {}
        self._user_ids: dict[str, int] | None = None
        self.request_counts: Counter[str] = Counter()
        # statistics applied with success: how many, and the sum of their pair digests
        # (``learnsync.sandbox.enrollments.pairs_digest``), for benchmarks to check what arrived
        self.stats_applied = 0
        self.stats_digest = 0
        self._recent: dict[str, deque[float]] = {"get": deque(), "write": deque()}
        self.counters = CompanyCounters()

    # ------------------------------------------------------------------ ids and time
    def new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):016x}"

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def attempt_id(self, attempt: Attempt) -> str:
        return f"{self._prefix}a{attempt.id:015x}"

    # ------------------------------------------------------------------ auth
    def issue_token(self, body: Any) -> dict[str, Any]:
        """``POST /api/v2/oauth2/token``; errors in the flat OAuth shape."""
        allowed = {"grant_type", "client_id", "client_secret", "user_id", "company_id"}
        if not isinstance(body, dict) or set(body) - allowed:
            raise ApiFailure(400, {"error": "invalid_request"})
        for key in ("grant_type", "client_id", "client_secret"):
            if not isinstance(body.get(key), str):
                raise ApiFailure(400, {"error": "invalid_request"})
        for key in ("user_id", "company_id"):
            if key in body and (not isinstance(body[key], str) or not OBJECT_ID.match(body[key])):
                raise ApiFailure(400, {"error": "invalid_request"})
        if body["grant_type"] != "client_credentials":
            raise ApiFailure(400, {"error": "unsupported_grant_type"})
        with self.lock:
            cred = self.credentials.get(body["client_id"])
            if cred is None or not secrets.compare_digest(
                cred.client_secret, body["client_secret"]
            ):
                raise ApiFailure(401, {"error": "invalid_client"})
            if "user_id" in body and self._user_key_by_id(body["user_id"]) is None:
                raise ApiFailure(400, {"error": "non_existing_user"})
            token = self.token_prefix + secrets.token_urlsafe(32)
            self._tokens[token] = (cred.client_id, self.clock.time() + TOKEN_LIFETIME)
        return {"token_type": "Bearer", "access_token": token, "expires_in": TOKEN_LIFETIME}

    def authorize(self, authorization: str | None, scope: str | None) -> Credential:
        """401 for a missing/unknown/expired token, 403 when the credential lacks ``scope``."""
        scheme, _, token = (authorization or "").partition(" ")
        with self.lock:
            entry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if entry is None or entry[1] <= self.clock.time():
                raise invalid_token()
            cred = self.credentials.get(entry[0])
            if cred is None:
                raise invalid_token()
            if scope is not None and scope not in cred.scopes:
                raise failure(403, "invalid_scope", f"this endpoint requires the scope {scope}")
            return cred

    def add_credential(self, scopes: list[str]) -> Credential:
        unknown = set(scopes) - set(ALL_SCOPES)
        if unknown:
            raise failure(400, "invalidInput", f"unknown scopes {sorted(unknown)}")
        with self.lock:
            cred = Credential(self.new_id(), secrets.token_urlsafe(24), frozenset(scopes))
            self.credentials[cred.client_id] = cred
            return cred

    def expire_tokens(self, token: str | None = None) -> int:
        with self.lock:
            chosen = [token] if token else list(self._tokens)
            now = self.clock.time()
            for t in chosen:
                if t in self._tokens:
                    self._tokens[t] = (self._tokens[t][0], now)
            return len(chosen)

    def revoke_tokens(self, token: str | None = None) -> int:
        with self.lock:
            chosen = [token] if token else list(self._tokens)
            for t in chosen:
                self._tokens.pop(t, None)
            return len(chosen)

    def check_rate(self, method: str) -> None:
        """The optional per-company rate limits (sliding one-second window)."""
        if not self.rate_limits:
            return
        kind = "get" if method.upper() in ("GET", "HEAD") else "write"
        limit = self.get_rate_per_second if kind == "get" else self.write_rate_per_second
        with self.lock:
            now = self.clock.time()
            window = self._recent[kind]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                headers = {"Retry-After": str(self.retry_after)} if self.retry_after else {}
                raise ApiFailure(429, {"error": "tooManyRequests"}, headers)
            window.append(now)

    # ------------------------------------------------------------------ users and groups
    @property
    def author_mail(self) -> str:
        return f"course.author@{self.world.email_domain}"

    def user_key_by_mail(self, mail: str) -> int | None:
        """Case-insensitive (a GAP decision): e-mail addresses are matched lower-cased."""
        if mail.strip().lower() == self.author_mail:
            return AUTHOR_KEY
        n = self.world.learner_index(mail)
        if n is None or not self.world.learner_known_to_360(n):
            return None
        return n

    def _user_key_by_id(self, user_id: str) -> int | None:
        if user_id == self.world.author_id:
            return AUTHOR_KEY
        if self._user_ids is None:
            self._user_ids = {
                self.world.learner_user_id(n): n
                for n in range(self.world.learners)
                if self.world.learner_known_to_360(n)
            }
        return self._user_ids.get(user_id.lower())

    def user_id(self, key: int) -> str:
        return self.world.author_id if key == AUTHOR_KEY else self.world.learner_user_id(key)

    def user_dto(self, key: int) -> dict[str, Any]:
        if key == AUTHOR_KEY:
            first, last, mail = "Course", "Author", self.author_mail
        else:
            first, _, last = self.world.learner_name(key).partition(" ")
            mail = self.world.learner_email(key)
        return {
            "_id": self.user_id(key),
            "mail": mail,
            "status": "active",
            "lang": "en",
            "firstName": first,
            "lastName": last,
            "primaryGroupId": self.world.group_id,
        }

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self.lock:
            key = self._user_key_by_id(user_id)
        if key is None:
            raise failure(404, "userNotFound", f"no user with id {user_id}")
        return self.user_dto(key)

    def iter_user_keys(self, start: int) -> Iterator[tuple[int, int]]:
        """User keys from position ``start`` (0 = the author, n+1 = learner n)."""
        if start == 0:
            yield 0, AUTHOR_KEY
            start = 1
        for n in range(start - 1, self.world.learners):
            if self.world.learner_known_to_360(n):
                yield n + 1, n

    def groups(self) -> list[dict[str, Any]]:
        w = self.world
        return [
            {"_id": w.group_id, "name": "Learning (synchronized)", "public": False},
            {
                "_id": w.subgroup_id,
                "name": "Learning – public subgroup",
                "public": True,
                "parentId": w.group_id,
            },
            *(
                {"_id": group_id, "name": name, "public": False}
                for group_id, name in self.member_groups
            ),
        ]

    def get_group(self, group_id: str) -> dict[str, Any]:
        for group in self.groups():
            if group["_id"] == group_id:
                return group
        raise failure(404, "groupNotFound", f"no group with id {group_id}")

    # ------------------------------------------------------------------ integrations
    def list_integrations(self, platform: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self.integration_dto(i)
                for i in self.integrations.values()
                if i.active and (platform is None or i.name == platform)
            ]

    @staticmethod
    def integration_dto(integration: Integration) -> dict[str, Any]:
        return {**integration.fields, "_id": integration.id}

    def _check_integration_fields(self, body: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise failure(400, "invalidInput", "the body must be a JSON object")
        known = {
            "externalPlatform",
            "authorId",
            "groupId",
            "defaultCompletion",
            "defaultProgress",
            "noGroupPropagation",
            "externalPlatformLogoUrl",
            "externalPlatformUnicolorLogoUrl",
        }
        if extra := sorted(set(body) - known):
            raise failure(400, "invalidInput", f"unknown property {extra[0]}")
        if not partial:
            for key in ("externalPlatform", "authorId", "groupId"):
                if key not in body:
                    raise failure(400, "invalidInput", f"{key} is required")
        if "externalPlatform" in body and (
            not isinstance(body["externalPlatform"], str) or not body["externalPlatform"]
        ):
            raise failure(400, "invalidInput", "externalPlatform must be a non-empty string")
        for key in ("authorId", "groupId"):
            if key in body and (not isinstance(body[key], str) or not OBJECT_ID.match(body[key])):
                raise failure(400, "invalidInput", f"{key} must be an ObjectId")
        for key in ("defaultCompletion", "noGroupPropagation"):
            if key in body and not isinstance(body[key], bool):
                raise failure(400, "invalidInput", f"{key} must be a boolean")
        if "defaultProgress" in body:
            value = body["defaultProgress"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise failure(400, "invalidInput", "defaultProgress must be an integer 0..100")
        for key in ("externalPlatformLogoUrl", "externalPlatformUnicolorLogoUrl"):
            if key in body and (
                not isinstance(body[key], str) or not body[key].startswith("https://")
            ):
                raise failure(400, "invalidInput", f"{key} must be an HTTPS URL")
        return body

    def _check_references(self, fields: dict[str, Any], exclude: str | None) -> None:
        name = fields["externalPlatform"]
        if name.casefold() in {n.casefold() for n in self.reserved_platform_names}:
            raise failure(400, "reservedPlatformName", f"{name!r} is a reserved platform name")
        for other in self.integrations.values():
            if (
                other.active
                and other.id != exclude
                and other.fields["groupId"] == fields["groupId"]
                and other.name.casefold() == name.casefold()
            ):
                raise failure(
                    400,
                    "duplicateExternalPlatform",
                    f"an integration named {name!r} already exists in this group",
                )
        if fields["groupId"] not in self.catalog:
            raise failure(404, "groupNotFound", f"no group with id {fields['groupId']}")
        if self._user_key_by_id(fields["authorId"]) is None:
            raise failure(404, "userNotFound", f"no user with id {fields['authorId']}")

    def create_integration(self, body: Any) -> dict[str, Any]:
        fields = dict(self._check_integration_fields(body, partial=False))
        with self.lock:
            self._check_references(fields, None)
            active = sum(1 for i in self.integrations.values() if i.active)
            if self.integrations_limit is not None and active >= self.integrations_limit:
                raise failure(
                    400,
                    "integrationsLimitReached",
                    f"the company has {active} integrations (limit {self.integrations_limit})",
                )
            integration = Integration(self.new_id(), fields)
            self.integrations[integration.id] = integration
            return self.integration_dto(integration)

    def _integration(self, integration_id: str) -> Integration:
        integration = self.integrations.get(integration_id)
        if integration is None or not integration.active:
            raise failure(404, "integrationNotFound", f"no integration with id {integration_id}")
        return integration

    def patch_integration(self, integration_id: str, body: Any) -> dict[str, Any]:
        patch = self._check_integration_fields(body, partial=True)
        with self.lock:
            integration = self._integration(integration_id)
            fields = {**integration.fields, **patch}
            self._check_references(fields, integration.id)
            integration.fields = fields
            return dict(fields)

    def delete_integration(self, integration_id: str) -> None:
        with self.lock:
            integration = self._integration(integration_id)
            if integration.name.casefold() in {n.casefold() for n in self.reserved_platform_names}:
                raise failure(
                    400, "reservedPlatformName", "a reserved integration is not deletable"
                )
            integration.active = False
            for course in self.courses:
                if course.integration_id == integration.id and course.status == "published":
                    course.status = "archived"
                    course.archives += 1

    # ------------------------------------------------------------------ courses
    def course_dto(self, course: Course) -> dict[str, Any]:
        data = course.data
        integration = self.integrations[course.integration_id]
        dto: dict[str, Any] = {
            "_id": course.id,
            "name": data["name"],
            "sourceLang": data["defaultLang"],
            "defaultLang": data["defaultLang"],
            "authorId": data.get("authorId", integration.fields["authorId"]),
            "groupId": course.group_id,
            "coAuthorIds": [],
            "createdAt": format_ms(course.created_ms),
            "modifiedAt": format_ms(course.modified_ms),
            "status": course.status,
            "type": "external",
            "externalPlatform": integration.name,
            "translations": [
                {
                    "lang": tr["lang"],
                    "published": True,
                    "translatorIds": [],
                    "translatedFields": {
                        k: v
                        for k, v in tr["translatedFields"].items()
                        if k in ("name", "description")
                    },
                }
                for tr in data.get("translations", [])
            ],
        }
        for key in ("description", "duration"):
            if key in data:
                dto[key] = data[key]
        return dto

    def external_course_dto(self, course: Course) -> dict[str, Any]:
        integration = self.integrations[course.integration_id]
        return {
            **course.data,
            "authorId": course.data.get("authorId", integration.fields["authorId"]),
            "translations": course.data.get("translations", []),
            "courseId": course.id,
        }

    def course(self, course_id: str) -> Course:
        course = self._course_by_id.get(course_id)
        if course is None:
            raise failure(404, "courseNotFound", f"no course with id {course_id}")
        return course

    def course_or_none(self, course_id: str) -> Course | None:
        return self._course_by_id.get(course_id)

    def course_by_external_id(self, integration_id: str, external_id: str) -> Course | None:
        return self._course_by_key.get((integration_id, external_id))

    def retrieve_external_course(self, integration_id: str, external_id: str) -> dict[str, Any]:
        with self.lock:
            self._integration(integration_id)
            course = self._course_by_key.get((integration_id, external_id))
            if course is None:
                raise failure(
                    400,
                    "courseNotBelongToIntegration",
                    f"no course with externalId {external_id!r} belongs to this integration",
                )
            return self.external_course_dto(course)

    def set_archived(self, course_id: str, body: Any) -> dict[str, Any]:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("archived"), bool)
            or len(body) > 1
        ):
            raise failure(400, "invalidInput", 'the body must be {"archived": <boolean>}')
        with self.lock:
            course = self.course(course_id)
            if not self.integrations[course.integration_id].active:
                raise failure(
                    400, "integrationInactive", "the course's integration was deleted (inactive)"
                )
            target = "archived" if body["archived"] else "published"
            if course.status != target:
                course.status = target
                if body["archived"]:
                    course.archives += 1
                else:
                    course.restores += 1
            return self.course_dto(course)

    # ------------------------------------------------------------------ tags
    def create_tag(self, body: Any) -> dict[str, Any]:
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("name"), str)
            or not body["name"]
            or not isinstance(body.get("isMain"), bool)
            or ("externalId" in body and not isinstance(body["externalId"], str))
            or set(body) - {"name", "isMain", "externalId"}
        ):
            raise failure(400, "invalidInput", "expected {name, isMain, externalId?}")
        with self.lock:
            if any(t["name"].casefold() == body["name"].casefold() for t in self.tags.values()):
                raise failure(400, "tagNameNotAvailable", f"a tag named {body['name']!r} exists")
            tag = {"_id": self.new_id(), **body}
            self.tags[tag["_id"]] = tag
            return dict(tag)

    def list_tags(self, is_main: bool | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**t, "source": "native"}
                for t in self.tags.values()
                if is_main is None or t["isMain"] is is_main
            ]

    def set_course_tags(self, course_id: str, body: Any) -> list[str]:
        ids = body.get("tagIds") if isinstance(body, dict) else None
        if (
            not isinstance(ids, list)
            or len(ids) > 100
            or not all(isinstance(t, str) and OBJECT_ID.match(t) for t in ids)
        ):
            raise failure(400, "invalidInput", "tagIds must be an array of at most 100 ObjectIds")
        with self.lock:
            course = self.course(course_id)
            for tag_id in ids:
                if tag_id not in self.tags:
                    raise failure(404, "tagNotFound", f"no tag with id {tag_id}")
            course.tags = list(dict.fromkeys(ids))
            return list(course.tags)

    # ------------------------------------------------------------------ bulk operations
    def advance(self) -> None:
        """Apply every operation whose running phase is over (in creation order).

        A worker thread (:meth:`_work`) does this as soon as an operation's running phase ends,
        so a real client's polls find it done and the simulator works while the client does; a
        request calls it too (and waits for an apply in progress), so tests that move the clock
        see the same states as before. Items are applied in chunks, each under :attr:`lock`.
        """
        with self._apply_lock:
            with self.lock:
                now = self.clock.time()
                ended = [op for op in self._open_ops if op.phase_at(now) == "ended"]
            for op in ended:
                self._finish(op)
            if ended:
                with self.lock:
                    self._open_ops = [op for op in self._open_ops if op.is_open]

    def _wake_worker(self) -> None:
        """Start the bulk worker if it is not running (it stops after a second without work)."""
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="bulk-worker", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        idle = 0.0
        while idle < 1.0:
            with self.lock:
                pending = [op for op in self._open_ops if op.is_open]
                due = min((op.created + 3 * op.phase for op in pending), default=None)
                now = self.clock.time()
            if due is None:
                time.sleep(0.02)
                idle += 0.02
                continue
            idle = 0.0
            if due > now:
                time.sleep(min(due - now, 0.01))
                continue
            self.advance()
            with self.lock:
                done = [op for op in self.operations.values() if op.results_body is None]
            for op in done:  # encode the results once, outside the lock, ahead of the GET
                if op.results is not None and not op.is_open:
                    op.results_body = results_json(op.results)

    def submit(self, op_type: bulk.OperationType, integration_id: str, body: Any) -> str:
        """Validate a bulk submission and create its operation; returns its id."""
        if self.bulk_api_disabled:
            raise failure(503, "bulkAPIDisabled", "the bulk API is temporarily disabled")
        items = body.get("input") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise failure(400, "invalidInput", "The input of a bulk operation must be an array.")
        limit = BULK_LIMITS[op_type]
        if len(items) > limit:
            raise failure(400, "inputTooLong", f"The input array exceeds {limit:,} objects.")
        with self.lock:
            integration = self._integration(integration_id)
            if integration.name.casefold() in {n.casefold() for n in self.reserved_platform_names}:
                raise failure(400, "reservedPlatformName", f"{integration.name!r} is reserved")
            now = self.clock.time()
            # an operation past its running phase no longer holds a slot (being applied by the
            # worker is the simulator's bookkeeping, not 360Learning's queue)
            holding = [op for op in self._open_ops if op.phase_at(now) != "ended"]
            if len(holding) >= self.max_concurrent_operations:
                self.counters.concurrency_refused()
                raise failure(
                    429,
                    "bulkOperationsConcurrencyLimitReached",
                    f"at most {self.max_concurrent_operations} bulk operations may run at once",
                )
            fail = self.fail_next_operations > 0
            if fail:
                self.fail_next_operations -= 1
            op = bulk.Operation(
                self.new_id(),
                op_type,
                integration_id,
                items,
                self.clock.time(),
                self.phase_seconds,
                fail=fail,
            )
            self.operations[op.id] = op
            self._open_ops.append(op)
            self.counters.operation_created(self.unfinished_operations())
            self._wake_worker()
            return op.id

    def unfinished_operations(self) -> int:
        """Operations neither ``completed`` nor ``error`` (being applied counts: unfinished)."""
        with self.lock:
            return sum(1 for op in self._open_ops if op.is_open)

    def reset_counters(self) -> None:
        self.counters.reset(self.unfinished_operations())

    def operation(self, op_id: str) -> dict[str, Any]:
        self.advance()
        with self.lock:
            op = self.operations.get(op_id)
            if op is None:
                raise failure(404, "bulkOperationNotFound", f"no bulk operation with id {op_id}")
            return op.describe(self.clock.time())

    def operation_results(self, op_id: str) -> list[dict[str, Any]]:
        self.advance()
        with self.lock:
            op = self.operations.get(op_id)
            if op is None:
                raise failure(404, "bulkOperationNotFound", f"no bulk operation with id {op_id}")
            if op.results is None:
                raise failure(400, "bulkOperationNotRun", "the bulk operation has not run yet")
            return op.results

    def operation_results_body(self, op_id: str) -> bytes:
        """:meth:`operation_results` as the JSON body (encoded once, usually by the worker)."""
        results = self.operation_results(op_id)
        op = self.operations[op_id]
        if op.results_body is None:
            op.results_body = results_json(results)
        return op.results_body

    def list_operations(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        self.advance()
        with self.lock:
            now = self.clock.time()
            out = []
            lt = parse_date_time(filters["createdAt[lt]"]) if "createdAt[lt]" in filters else None
            gte = (
                parse_date_time(filters["createdAt[gte]"]) if "createdAt[gte]" in filters else None
            )
            for op in self.operations.values():
                dto = op.describe(now)
                if "status[eq]" in filters and dto["status"] != filters["status[eq]"]:
                    continue
                if "type[eq]" in filters and dto["type"] != filters["type[eq]"]:
                    continue
                created = op.created
                if lt is not None and not created < lt.timestamp():
                    continue
                if gte is not None and not created >= gte.timestamp():
                    continue
                out.append(dto)
            return out

    def _finish(self, op: bulk.Operation) -> None:
        if op.fail:
            with self.lock:
                op.status = "error"
                op.error_message = "The bulk operation failed (simulated failure)."
                op.results = [bulk.error(item, op.error_message) for item in op.items]
            return
        apply = {
            "importExternalCourses": self._apply_upsert,
            "archiveExternalCourses": self._apply_archive,
            "importExternalStatistics": self._apply_stat,
        }[op.type]
        integration = self.integrations[op.integration_id]
        results = []
        for start in range(0, len(op.items), APPLY_CHUNK):
            with self.lock:  # requests get the lock between chunks
                for item in op.items[start : start + APPLY_CHUNK]:
                    try:
                        results.append(apply(integration, item))
                    except Exception as exc:  # an item never crashes the operation
                        results.append(bulk.error(item, f"internalError: {exc}"))
        with self.lock:
            op.results = results
            op.status = "completed"

    def _apply_upsert(self, integration: Integration, item: Any) -> dict[str, Any]:
        if msg := validate_course(item, reject_unknown=self.reject_unknown_properties):
            return bulk.error(item, f"invalidInput: {msg}")
        if "authorId" in item and self._user_key_by_id(item["authorId"]) is None:
            return bulk.error(item, f"userNotFound: no user with id {item['authorId']}")
        data = {k: v for k, v in item.items()}
        data.setdefault("contentType", "course")
        now = self.now_ms()
        course = self._course_by_key.get((integration.id, item["externalId"]))
        if course is None:
            group_id = integration.fields["groupId"]
            course = Course(
                len(self.courses),
                self.new_id(),
                integration.id,
                item["externalId"],
                data,
                group_id,
                now,
                now,
            )
            self.courses.append(course)
            self._course_by_id[course.id] = course
            self._course_by_key[(integration.id, course.external_id)] = course
            self.catalog.setdefault(group_id, []).append(course.id)
            self.library.setdefault(group_id, []).append(course.id)
        else:
            course.data = data
            course.modified_ms = now
            course.writes += 1
            if course.status == "archived" and self.restore_on_upsert:
                course.status = "published"
                course.restores += 1
        return bulk.success(item, course.id)

    def _apply_archive(self, integration: Integration, item: Any) -> dict[str, Any]:
        if msg := validate_archive(item, reject_unknown=self.reject_unknown_properties):
            return bulk.error(item, f"invalidInput: {msg}")
        course = self._course_by_key.get((integration.id, item["externalId"]))
        if course is None:
            return bulk.error(
                item, f"courseNotFound: no course with externalId {item['externalId']!r}"
            )
        if course.status != "archived":
            course.status = "archived"
            course.archives += 1
        return bulk.success(item, course.id)

    def _apply_stat(self, integration: Integration, item: Any) -> dict[str, Any]:
        msg = validate_stat(
            item,
            reject_unknown=self.reject_unknown_properties,
            reject_reversed_dates=self.rules.reject_reversed_dates,
        )
        if msg:
            return bulk.error(item, f"invalidInput: {msg}")
        cid, uid = item["courseIdentifier"], item["userIdentifier"]
        if cid["type"] == "externalId":
            course = self._course_by_key.get((integration.id, cid["value"]))
        else:
            found = self._course_by_id.get(cid["value"])
            course = found if found is not None and found.integration_id == integration.id else None
        if course is None:
            return bulk.error(item, f"courseNotFound: no course with {cid['type']} {cid['value']}")
        if uid["type"] == "mail":
            user = self.user_key_by_mail(uid["value"])
        else:
            user = self._user_key_by_id(uid["value"])
        if user is None:
            what = "mail" if uid["type"] == "mail" else "id"
            return bulk.error(item, f"userNotFound: no user with {what} {uid['value']}")
        first = parse_date_time(item["firstActivityAt"])
        last = parse_date_time(item["lastActivityAt"])
        assert first is not None and last is not None  # validated above
        lang = item.get("lang", course.data["defaultLang"])
        stat = StatInput(
            first=int(first.timestamp() * 1000),
            last=int(last.timestamp() * 1000),
            progress=round(item["progress"]),
            spent=round(item["timeSpent"]),
            force_new=bool(item.get("forceNew", False)),
            score=item.get("score"),
            lang=LANG_INDEX[lang],
        )
        outcome = self.attempts.apply(course.index, user, stat, self.rules)
        if isinstance(outcome, str):
            return bulk.error(item, outcome)
        self._note_paths(course.id, user)
        mail = uid["value"] if uid["type"] == "mail" else self.user_dto(user).get("mail", "")
        self.stats_applied += 1
        self.stats_digest = (self.stats_digest + pair_digest(course.external_id, mail)) & _U64
        return bulk.success(item, self.attempt_id(outcome))

    # ------------------------------------------------------------------ statistics read-back
    def stat_dto(self, attempt: Attempt) -> dict[str, Any]:
        dto: dict[str, Any] = {
            "_id": self.attempt_id(attempt),
            "lang": LANGS[attempt.lang],
            "firstActivityAt": format_ms(attempt.first),
            "lastActivityAt": format_ms(attempt.last),
            "timeSpent": attempt.spent,
            "progress": attempt.progress,
            "courseId": self.courses[attempt.course].id,
            "userId": self.user_id(attempt.user),
        }
        if attempt.completed != NO_TIME:
            dto["completedAt"] = format_ms(attempt.completed)
        if attempt.score is not None:
            dto["score"] = round(attempt.score)
        if attempt.path is not None:
            dto["pathId"] = attempt.path
        return dto

    def attempts_of(self, course_id: str, user_id: str) -> list[Attempt]:
        with self.lock:
            course = self._course_by_id.get(course_id)
            user = self._user_key_by_id(user_id)
            if course is None or user is None:
                return []
            return list(self.attempts.of(course.index, user))

    def user_key_for_filter(self, user_id: str) -> int | None:
        with self.lock:
            return self._user_key_by_id(user_id)

    # ------------------------------------------------------------------ learner side (sandbox)
    def create_path(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("steps"), list):
            raise failure(400, "invalidInput", "expected {name, steps: [...], linearProgression}")
        with self.lock:
            steps = []
            for step in body["steps"]:
                course_id = step.get("courseId") if isinstance(step, dict) else None
                if not isinstance(course_id, str):
                    raise failure(400, "invalidInput", "each step needs a courseId")
                course = self.course(course_id)
                if course.status != "published":
                    raise failure(400, "courseArchived", "an archived course cannot join a path")
                steps.append((course_id, bool(step.get("optional", False))))
            path = Path(
                self.new_id(),
                str(body.get("name", "Path")),
                steps,
                bool(body.get("linearProgression", False)),
            )
            self.paths[path.id] = path
            return self.path_dto(path)

    @staticmethod
    def path_dto(path: Path) -> dict[str, Any]:
        return {
            "_id": path.id,
            "name": path.name,
            "linearProgression": path.linear,
            "steps": [{"courseId": c, "optional": o} for c, o in path.steps],
        }

    def _completed(self, course_id: str, user: int) -> bool:
        course = self._course_by_id[course_id]
        return any(a.is_completed for a in self.attempts.of(course.index, user))

    def _started(self, course_id: str, user: int) -> bool:
        return bool(self.attempts.of(self._course_by_id[course_id].index, user))

    def _note_paths(self, course_id: str, user: int) -> None:
        """Record path success the moment it is reached: success is sticky."""
        if not self.paths:
            return
        for path in self.paths.values():
            if any(c == course_id for c, _ in path.steps) and (path.id, user) not in (
                self._path_success
            ):
                mandatory = [c for c, optional in path.steps if not optional]
                if all(self._completed(c, user) for c in mandatory) and (
                    mandatory or self._completed(course_id, user)
                ):
                    self._path_success[(path.id, user)] = self.now_ms()

    def _locked_step(self, path: Path, course_id: str, user: int) -> bool:
        """In a linear path a step is locked until every earlier mandatory step is completed."""
        if not path.linear:
            return False
        for step_course, optional in path.steps:
            if step_course == course_id:
                return False
            if not optional and not self._completed(step_course, user):
                return True
        return False

    def path_status(self, path_id: str, mail: str) -> dict[str, Any]:
        with self.lock:
            path = self.paths.get(path_id)
            if path is None:
                raise failure(404, "pathNotFound", f"no path with id {path_id}")
            user = self.user_key_by_mail(mail)
            if user is None:
                raise failure(404, "userNotFound", f"no user with mail {mail}")
            steps = [
                {
                    "courseId": c,
                    "optional": optional,
                    "completed": self._completed(c, user),
                    "locked": self._locked_step(path, c, user),
                }
                for c, optional in path.steps
            ]
            mandatory = [c for c, optional in path.steps if not optional]
            reached = all(self._completed(c, user) for c in mandatory) and (
                bool(mandatory) or any(s["completed"] for s in steps)
            )
            if reached and (path.id, user) not in self._path_success:
                self._path_success[(path.id, user)] = self.now_ms()
            success_ms = self._path_success.get((path.id, user))
            if success_ms is not None:
                status = "successful"
            elif any(self._started(c, user) for c, _ in path.steps):
                status = "onTime"
            else:
                status = "notYetStarted"
            out: dict[str, Any] = {
                "pathId": path.id,
                "userId": self.user_id(user),
                "status": {"type": status},
                "steps": steps,
            }
            if success_ms is not None:
                out["completedAt"] = format_ms(success_ms)
            return out

    def launch(self, course_id: str, mail: str, path_id: str | None) -> str:
        """A learner clicks Start: an attempt from the integration defaults; returns launchUrl."""
        with self.lock:
            course = self._course_by_id.get(course_id)
            if course is None:
                raise failure(404, "courseNotFound", f"no course with id {course_id}")
            user = self.user_key_by_mail(mail)
            if user is None:
                raise failure(404, "userNotFound", f"no user with mail {mail}")
            path = None
            if path_id is not None:
                path = self.paths.get(path_id)
                if path is None:
                    raise failure(404, "pathNotFound", f"no path with id {path_id}")
                if all(c != course_id for c, _ in path.steps):
                    raise failure(400, "courseNotInPath", "the course is not a step of this path")
                if self._locked_step(path, course_id, user):
                    raise failure(
                        409, "stepLocked", "complete the previous steps of this linear path first"
                    )
            elif course.status != "published":
                # archived courses stay playable only inside the paths that already hold them
                raise failure(409, "courseArchived", "this course is archived")
            fields = self.integrations[course.integration_id].fields
            now = self.now_ms()
            attempt = self.attempts.create(course.index, user, now, now)
            attempt.progress = int(fields.get("defaultProgress", 0))
            attempt.lang = LANG_INDEX[course.data["defaultLang"]]
            attempt.path = path.id if path is not None else None
            if fields.get("defaultCompletion", False):
                attempt.completed = now
            self._note_paths(course.id, user)
            return str(course.data["launchUrl"])


def sim_in_scope(scope: Mapping[str, Any], default: ThreeSixtySim) -> ThreeSixtySim:
    """The company an ASGI request is for: the one a fleet routed it to, else ``default``."""
    found = scope.get(SIM_SCOPE_KEY)
    return found if isinstance(found, ThreeSixtySim) else default

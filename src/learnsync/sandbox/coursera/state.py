"""State of the Coursera for Business simulator: catalog, report, clients, tokens, knobs.

Every operation the HTTP routes perform is a method here, so tests can drive the simulator in
process (``sim.revoke_access_tokens()``) and an acceptance suite can do the same over
``/_sandbox/`` routes. All methods are thread-safe (uvicorn runs sync routes on a thread pool).
"""

from __future__ import annotations

import copy
import functools
import secrets
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from learnsync.sandbox.catalog import generate_catalog, program_name, program_slug
from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.counters import OrganizationCounters
from learnsync.sandbox.enrollments import DAY_MS, EnrollmentReport
from learnsync.sandbox.faults import FaultPlan
from learnsync.sandbox.tenants import Fleet
from learnsync.sandbox.world import World

ACCESS_TOKEN_SECONDS = 1800  # legacy flow (docs/api-notes.md#coursera-legacy-oauth2-flow)
CLIENT_CREDENTIALS_SECONDS = 1799  # new flow (docs/api-notes.md#coursera-client-credentials-flow)
REFRESH_TOKEN_SECONDS = 14 * 86_400  # sliding: from the token's last use
AUTH_CODE_SECONDS = 600
ROUTES = ("programs", "contents", "enrollmentReports", "memberships")
TENANT_CACHE_SIZE = 64  # fleet organizations whose catalog and report stay generated


@dataclass
class Client:
    client_id: str
    client_secret: str
    org_id: str


@dataclass
class RefreshToken:
    client_id: str
    org_id: str
    expires_at: float
    revoked: bool = False


@dataclass
class AccessToken:
    client_id: str
    org_id: str
    expires_at: float
    flow: str  # "legacy" | "client_credentials"


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    expires_at: float


@dataclass
class Knobs:
    """Behaviour switches for the plausible other answers to GAP points."""

    next_as_int: bool = False  # paging.next as a JSON number instead of a decimal string
    # route name -> start from which paging.next stops advancing (next == current start)
    stuck_cursor: dict[str, int] = field(default_factory=dict)
    # a client-credentials token is refused (403) under /api and a legacy one under /ent/api
    strict_hosts: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "next_as_int": self.next_as_int,
            "stuck_cursor": dict(self.stuck_cursor),
            "strict_hosts": self.strict_hosts,
        }


class AuthFailure(Exception):
    """A token-endpoint refusal: RFC 6749 ``error`` code and HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@functools.lru_cache(maxsize=4)
def _generated_catalog(world: World) -> list[dict[str, Any]]:
    """The world's catalog, generated once per process (tests build many simulators)."""
    return generate_catalog(world)


@dataclass
class _TenantData:
    """A fleet organization's generated catalog and report (regenerated after eviction)."""

    world: World
    catalog: list[dict[str, Any]]
    report: EnrollmentReport


class CourseraSim:
    """One simulated Coursera for Business tenant (plus any organisations registered later).

    With a ``fleet``, every tenant of it is an organization too, with its own client, refresh
    token, programs, catalog and report, generated from its world when first read; the
    ``tenant_cache_size`` most recently read stay in memory, except that an organization whose
    report was changed (``/_sandbox/enrollments/…`` with an ``org_id``) stays for good.
    """

    def __init__(
        self,
        world: World,
        clock: SimClock | None = None,
        *,
        fleet: Fleet | None = None,
        tenant_cache_size: int = TENANT_CACHE_SIZE,
    ) -> None:
        self.world = world
        self.clock = clock or SimClock()
        self.faults = FaultPlan()
        self.knobs = Knobs()
        self._lock = threading.RLock()
        self._generated_catalog = _generated_catalog(world)  # shared, read-only
        self._catalog: dict[str, dict[str, Any]] = {}
        self.reset_catalog()
        # report timestamps are drawn before the start of the current UTC day: deterministic
        # for a day, and always in the past of the clock
        anchor_ms = (self.clock.now_ms() // DAY_MS) * DAY_MS
        self.report = EnrollmentReport(world, self._generated_catalog, anchor_ms)
        self.orgs: dict[str, str] = {world.coursera_org_id: "Example Corp"}
        self.clients: dict[str, Client] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.stats: Counter[str] = Counter()
        self.org_counters = OrganizationCounters()
        self.register_client(
            world.coursera_client_id,
            world.coursera_client_secret,
            org_id=world.coursera_org_id,
            refresh_token=world.coursera_refresh_token,
        )
        self.fleet = fleet
        self._tenant_lock = threading.Lock()  # generation, outside the request lock
        self._tenant_data: OrderedDict[str, _TenantData] = OrderedDict()
        self._tenant_pinned: dict[str, _TenantData] = {}
        self.tenant_cache_size = tenant_cache_size
        for tenant in fleet.tenants if fleet is not None else ():
            w = tenant.world
            self.register_client(
                w.coursera_client_id,
                w.coursera_client_secret,
                org_id=w.coursera_org_id,
                org_name=tenant.coursera_org_name,
                refresh_token=w.coursera_refresh_token,
            )

    # --- clients and tokens ------------------------------------------------------------------
    def register_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        org_id: str | None = None,
        org_name: str | None = None,
        refresh_token: str | None = None,
    ) -> str:
        """Register an app entitled to ``org_id`` (created if new); returns its refresh token."""
        org_id = org_id or self.world.coursera_org_id
        with self._lock:
            self.orgs.setdefault(org_id, org_name or f"Organisation {org_id[:6]}")
            self.clients[client_id] = Client(client_id, client_secret, org_id)
            token = refresh_token or "rt-" + secrets.token_urlsafe(32)
            self.refresh_tokens[token] = RefreshToken(
                client_id, org_id, self.clock.time() + REFRESH_TOKEN_SECONDS
            )
            return token

    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> Client:
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(
            client.client_secret.encode(), (client_secret or "").encode()
        ):
            raise AuthFailure(401, "invalid_client", "Client authentication failed.")
        return client

    def _mint(self, client: Client, flow: str, seconds: int) -> str:
        token = "at-" + secrets.token_urlsafe(32)
        self.access_tokens[token] = AccessToken(
            client.client_id, client.org_id, self.clock.time() + seconds, flow
        )
        return token

    def grant_refresh_token(self, client: Client, refresh_token: str | None) -> dict[str, Any]:
        if not refresh_token:
            raise AuthFailure(400, "invalid_request", "Missing parameter: refresh_token.")
        now = self.clock.time()
        with self._lock:
            record = self.refresh_tokens.get(refresh_token)
            if (
                record is None
                or record.revoked
                or record.client_id != client.client_id
                or record.expires_at <= now
            ):
                raise AuthFailure(400, "invalid_grant", "The refresh token is invalid or expired.")
            record.expires_at = now + REFRESH_TOKEN_SECONDS  # sliding two weeks
            token = self._mint(client, "legacy", ACCESS_TOKEN_SECONDS)
        self.org_counters.count(client.org_id, "token")
        return {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS}

    def issue_auth_code(self, client_id: str, redirect_uri: str) -> str:
        with self._lock:
            if client_id not in self.clients:
                raise AuthFailure(400, "invalid_client", "Unknown client_id.")
            code = secrets.token_urlsafe(24)
            self.auth_codes[code] = AuthCode(
                client_id, redirect_uri, self.clock.time() + AUTH_CODE_SECONDS
            )
            return code

    def grant_authorization_code(
        self, client: Client, code: str | None, redirect_uri: str | None
    ) -> dict[str, Any]:
        if not code or not redirect_uri:
            raise AuthFailure(400, "invalid_request", "Missing parameter: code or redirect_uri.")
        with self._lock:
            record = self.auth_codes.pop(code, None)  # single use
            if (
                record is None
                or record.client_id != client.client_id
                or record.redirect_uri != redirect_uri
                or record.expires_at <= self.clock.time()
            ):
                raise AuthFailure(400, "invalid_grant", "The authorization code is invalid.")
            refresh = "rt-" + secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = RefreshToken(
                client.client_id, client.org_id, self.clock.time() + REFRESH_TOKEN_SECONDS
            )
            token = self._mint(client, "legacy", ACCESS_TOKEN_SECONDS)
        self.org_counters.count(client.org_id, "token")
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh,
        }

    def grant_client_credentials(self, client: Client) -> dict[str, Any]:
        with self._lock:
            token = self._mint(client, "client_credentials", CLIENT_CREDENTIALS_SECONDS)
        self.org_counters.count(client.org_id, "token")
        return {
            "token_type": "Bearer",
            "access_token": token,
            "grant_type": "client_credentials",
            "issued_at": int(self.clock.time()),
            "expires_in": CLIENT_CREDENTIALS_SECONDS,
        }

    def issue_access_token(self, client_id: str | None = None, flow: str = "legacy") -> str:
        """A valid access token without the token endpoint (in-process tests)."""
        client = self.clients[client_id or self.world.coursera_client_id]
        seconds = ACCESS_TOKEN_SECONDS if flow == "legacy" else CLIENT_CREDENTIALS_SECONDS
        with self._lock:
            return self._mint(client, flow, seconds)

    def check_access_token(self, token: str | None) -> AccessToken | None:
        """The live token record, or ``None`` when missing, unknown, expired or revoked."""
        if not token:
            return None
        with self._lock:
            record = self.access_tokens.get(token)
        if record is None or record.expires_at <= self.clock.time():
            return None
        return record

    def revoke_access_tokens(self) -> int:
        with self._lock:
            count = len(self.access_tokens)
            self.access_tokens.clear()
            return count

    def _refresh_records(self, token: str | None) -> list[RefreshToken]:
        if token is None:
            return list(self.refresh_tokens.values())
        record = self.refresh_tokens.get(token)
        return [record] if record else []

    def expire_refresh_tokens(self, token: str | None = None) -> int:
        """Let one refresh token (default: all) lapse now, as after 14 idle days."""
        with self._lock:
            records = self._refresh_records(token)
            for record in records:
                record.expires_at = self.clock.time()
            return len(records)

    def revoke_refresh_tokens(self, token: str | None = None) -> int:
        with self._lock:
            records = self._refresh_records(token)
            for record in records:
                record.revoked = True
            return len(records)

    # --- catalog -----------------------------------------------------------------------------
    def reset_catalog(self) -> None:
        with self._lock:
            self._catalog = {item["id"]: copy.deepcopy(item) for item in self._generated_catalog}

    def catalog_items(self) -> list[dict[str, Any]]:
        """The served items, in order; treat them as read-only (changes replace items)."""
        with self._lock:
            return list(self._catalog.values())

    def catalog_item(self, item_id: str) -> dict[str, Any]:
        with self._lock:
            return self._catalog[item_id]

    def put_content(self, item: dict[str, Any]) -> dict[str, Any]:
        """Add an item, or replace the one with the same ``id`` (derived when missing)."""
        item = copy.deepcopy(item)
        if "id" not in item:
            item["id"] = f"{item.get('contentType')}~{item.get('contentId')}"
        with self._lock:
            self._catalog[item["id"]] = item
        return item

    def patch_content(
        self, item_id: str, fields: dict[str, Any], remove: list[str] | None = None
    ) -> dict[str, Any]:
        """Set fields (dotted paths reach nested keys) and drop ``remove`` paths.

        ``lastUpdatedAt`` becomes now (epoch seconds) unless it is one of the fields set. The
        item is replaced, not changed in place (copy-on-write), so items already handed out
        (a page being encoded, a test's copy) never change under their holder.
        """
        with self._lock:
            item = copy.deepcopy(self._catalog[item_id])
            for path, value in fields.items():
                *parents, leaf = path.split(".")
                target = item
                for key in parents:
                    target = target.setdefault(key, {})
                target[leaf] = copy.deepcopy(value)
            for path in remove or []:
                *parents, leaf = path.split(".")
                target = item
                for key in parents:
                    target = target.get(key) or {}
                target.pop(leaf, None)
            if "lastUpdatedAt" not in fields:
                item["lastUpdatedAt"] = int(self.clock.time())
            self._catalog[item_id] = item
            return item

    def remove_content(self, item_id: str) -> dict[str, Any]:
        with self._lock:
            return self._catalog.pop(item_id)

    # --- fleet organizations ------------------------------------------------------------------
    def tenant_world(self, org_id: str) -> World | None:
        """The world of a fleet organization, else ``None`` (the default one included)."""
        if self.fleet is None or org_id == self.world.coursera_org_id:
            return None
        tenant = self.fleet.tenant_by_org(org_id)
        return None if tenant is None else tenant.world

    def _tenant(self, org_id: str, *, pin: bool = False) -> _TenantData | None:
        world = self.tenant_world(org_id)
        if world is None:
            return None
        with self._tenant_lock:
            data = self._tenant_pinned.get(org_id)
            if data is None:
                data = self._tenant_data.get(org_id)
                if data is None:
                    catalog = generate_catalog(world)
                    data = _TenantData(
                        world, catalog, EnrollmentReport(world, catalog, self.anchor_ms)
                    )
                    self._tenant_data[org_id] = data
                    while len(self._tenant_data) > self.tenant_cache_size:
                        self._tenant_data.popitem(last=False)
                else:
                    self._tenant_data.move_to_end(org_id)
                if pin:
                    self._tenant_pinned[org_id] = self._tenant_data.pop(org_id)
            return data

    def org_world(self, org_id: str) -> World | None:
        """The world behind an organization's programs, catalog and report (``None``: none)."""
        if org_id == self.world.coursera_org_id:
            return self.world
        return self.tenant_world(org_id)

    def org_catalog_items(self, org_id: str) -> list[dict[str, Any]]:
        """The catalog an organization serves (empty for one registered with a client only)."""
        if org_id == self.world.coursera_org_id:
            return self.catalog_items()
        data = self._tenant(org_id)
        return [] if data is None else data.catalog

    def org_report(self, org_id: str, *, pin: bool = False) -> EnrollmentReport | None:
        """An organization's enrollment report; ``pin`` keeps it (it is about to change)."""
        if org_id == self.world.coursera_org_id:
            return self.report
        data = self._tenant(org_id, pin=pin)
        return None if data is None else data.report

    @property
    def anchor_ms(self) -> int:
        return self.report.anchor_ms

    # --- programs ----------------------------------------------------------------------------
    def program_ids(self, org_id: str) -> list[str]:
        world = self.org_world(org_id)
        return world.coursera_program_ids if world is not None else []

    def programs(self, org_id: str) -> list[dict[str, Any]]:
        world = self.org_world(org_id) or self.world
        items = self.org_catalog_items(org_id)
        programs = []
        for n, pid in enumerate(self.program_ids(org_id)):
            slug = program_slug(world, n)
            programs.append(
                {
                    "id": pid,
                    "name": program_name(world, n),
                    "tagline": f"Everyone at {self.orgs[org_id]} can learn!",
                    "url": f"https://www.coursera.org/programs/{slug}",
                    "slug": slug,
                    "contentIds": [
                        {"contentId": it.get("contentId"), "contentType": it.get("contentType")}
                        for it in items
                        if any(p.get("programId") == pid for p in it.get("programs") or [])
                    ],
                }
            )
        return programs

    # --- knobs and statistics ----------------------------------------------------------------
    def set_knobs(
        self,
        *,
        next_as_int: bool | None = None,
        stuck_cursor: dict[str, int] | None = None,
        strict_hosts: bool | None = None,
    ) -> Knobs:
        with self._lock:
            if next_as_int is not None:
                self.knobs.next_as_int = next_as_int
            if stuck_cursor is not None:
                unknown = set(stuck_cursor) - set(ROUTES)
                if unknown:
                    raise ValueError(f"unknown route(s) {sorted(unknown)}; choose from {ROUTES}")
                self.knobs.stuck_cursor.update(stuck_cursor)
            if strict_hosts is not None:
                self.knobs.strict_hosts = strict_hosts
            return self.knobs

    def reset_knobs(self) -> None:
        with self._lock:
            self.knobs = Knobs()

    def count(self, route: str, org_id: str | None = None) -> None:
        with self._lock:
            self.stats[route] += 1
        if org_id is not None:
            self.org_counters.count(org_id, route)

    def counters_snapshot(self) -> dict[str, dict[str, int]]:
        """Per organization (every registered one): requests by route and token grants."""
        with self._lock:
            org_ids = list(self.orgs)
        return self.org_counters.snapshot(org_ids)

    def stats_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.stats)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()

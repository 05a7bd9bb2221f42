"""Many 360Learning companies behind one simulator: a fleet's companies, routed per request.

:class:`Companies` holds one :class:`ThreeSixtySim` per company of a
:class:`~learnsync.sandbox.tenants.Fleet`, each created on its first request (a fleet of 500
tenants costs nothing until used). :class:`CompanyRouting`, the app's outermost middleware, finds
the company a request is for and puts it in the ASGI scope (``SIM_SCOPE_KEY``), where every
route looks for it:

- the token request, by its ``client_id`` (every tenant has its own API credential);
- an API request, by its Bearer token: a company's tokens start with its key (``c0007.…``);
- an admin route (``/_sandbox/…``), by its ``company`` query parameter (company id or key).

A request for no fleet company (an unknown client or token, no ``company`` parameter) goes to
the app's own simulator — the default world's company — which refuses unknown credentials as
it always does. So a token of one company never reaches another's data: an integration id of
another company is simply unknown to it (404 ``integrationNotFound``).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.counters import TOKEN_PATH, CompanyCounters
from learnsync.sandbox.faults import FaultPlan
from learnsync.sandbox.tenants import Company, Fleet
from learnsync.sandbox.threesixty.state import SIM_SCOPE_KEY, ThreeSixtySim


class Companies:
    """The fleet's companies, each simulated on first use; thread-safe.

    Every company shares the simulator's clock and fault plan; ``switches`` (the
    :class:`ThreeSixtySim` keywords, e.g. ``rate_limits=True``) apply to each company created.
    """

    def __init__(
        self,
        fleet: Fleet,
        clock: SimClock,
        faults: FaultPlan | None = None,
        **switches: Any,
    ) -> None:
        self.fleet = fleet
        self.clock = clock
        self.faults = faults or FaultPlan()
        self.switches = switches
        self._lock = threading.Lock()
        self._sims: dict[int, ThreeSixtySim] = {}
        self._companies = {c.index: c for c in fleet.companies}
        self._by_client = {t.threesixty_client_id: t.company.index for t in fleet.tenants}
        self._by_ref = {c.company_id: c.index for c in self._companies.values()}
        self._by_ref.update({c.key: c.index for c in self._companies.values()})

    def sim(self, index: int) -> ThreeSixtySim:
        """Company ``index``'s simulator (created now if it is the first use)."""
        with self._lock:
            sim = self._sims.get(index)
            if sim is None:
                sim = self._sims[index] = self._create(self._companies[index])
            return sim

    def _create(self, company: Company) -> ThreeSixtySim:
        members = [self.fleet.tenants[i] for i in company.members]
        sim = ThreeSixtySim(
            company.world,
            self.clock,
            member_groups=[(t.group_id, t.group_name) for t in members],
            member_credentials=[
                (t.threesixty_client_id, t.threesixty_client_secret) for t in members
            ],
            token_prefix=f"{company.key}.",
            **self.switches,
        )
        sim.faults = self.faults
        return sim

    def for_client(self, client_id: str) -> ThreeSixtySim | None:
        index = self._by_client.get(client_id)
        return None if index is None else self.sim(index)

    def for_token(self, token: str) -> ThreeSixtySim | None:
        key, dot, _ = token.partition(".")
        index = self._by_ref.get(key) if dot else None
        return None if index is None else self.sim(index)

    def for_company(self, ref: str) -> ThreeSixtySim | None:
        """By company id or key (``c0007``)."""
        index = self._by_ref.get(ref)
        return None if index is None else self.sim(index)

    def started(self) -> list[ThreeSixtySim]:
        with self._lock:
            return [self._sims[k] for k in sorted(self._sims)]

    def counters(self) -> dict[str, dict[str, Any]]:
        """Every company's counters (zeros for a company never used), by company id."""
        with self._lock:
            sims = dict(self._sims)
        zero = _zero_counters()
        out: dict[str, dict[str, Any]] = {}
        for index, company in self._companies.items():
            sim = sims.get(index)
            counts = sim.counters.snapshot() if sim is not None else dict(zero)
            out[company.company_id] = {
                "key": company.key,
                "tenants": [self.fleet.tenants[i].key for i in company.members],
                **counts,
            }
        return out

    def reset_counters(self) -> None:
        for sim in self.started():
            sim.reset_counters()


def _zero_counters() -> dict[str, int]:
    return CompanyCounters().snapshot()


class CompanyRouting:
    """Puts the company each request is for into its scope (see the module docstring)."""

    def __init__(self, app: ASGIApp, companies: Companies) -> None:
        self.app = app
        self.companies = companies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        sim: ThreeSixtySim | None = None
        if path.startswith("/_sandbox/"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            ref = (query.get("company") or [""])[0]
            if ref:
                sim = self.companies.for_company(ref)
                if sim is None:
                    await _not_found(send, f"no company {ref} in the fleet")
                    return
        elif path == TOKEN_PATH:
            body, receive = await _buffered(receive)
            sim = self.companies.for_client(_client_id(body))
        else:
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    scheme, _, token = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer":
                        sim = self.companies.for_token(token.strip())
                    break
        if sim is not None:
            scope = {**scope, SIM_SCOPE_KEY: sim}
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; return it and a ``receive`` that replays it."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _client_id(body: bytes) -> str:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return ""
    value = parsed.get("client_id") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else ""


async def _not_found(send: Send, detail: str) -> None:
    body = json.dumps({"error": {"code": "companyNotFound", "message": detail}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": body})

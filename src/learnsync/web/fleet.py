"""What the pages and ``/metrics`` show of the fleet: the queue, the live workers, the
scheduler's holder and the request limiters' saturation per company — read from the store and
the shared limits, never from a run's report, and without decrypting any secret (a company's key
is computed from its platform URL and API client id, stored in clear)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from learnsync.config import (
    COURSERA_API_BASE,
    COURSERA_CC_API_BASE,
    THREESIXTY_BASE_URL,
)
from learnsync.http.shared import Saturation, company_key
from learnsync.service.core import Service
from learnsync.service.scheduler import ROLE as SCHEDULER_ROLE
from learnsync.store.fleet import QueueCounts, Roles, WorkerRecord, Workers, queue_counts
from learnsync.store.service_repository import IntegrationSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Process:
    """A lease owner (``host:pid:random``) as a person reads it."""

    owner: str
    host: str
    pid: int | None

    @property
    def shown(self) -> str:
        return f"{self.host} (pid {self.pid})" if self.pid is not None else self.host


def process_of(owner: str | None) -> Process | None:
    """``host:pid:random`` → its host and pid (a host name never holds a colon; anything else is
    shown whole)."""
    if not owner:
        return None
    parts = owner.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return Process(owner, parts[0], int(parts[1]))
    return Process(owner, owner, None)


@dataclass(frozen=True)
class HostWorkers:
    host: str
    pids: list[int]
    concurrency: int


@dataclass(frozen=True)
class FleetStatus:
    on_fleet: bool
    counts: QueueCounts
    workers: list[WorkerRecord]
    scheduler: Process | None
    saturation: list[Saturation] = field(default_factory=list)
    #: the shared limits could not be read (their Redis is down): no saturation shown
    saturation_unreadable: bool = False

    @property
    def hosts(self) -> list[HostWorkers]:
        """The live workers by host (a host name, its processes' pids, their concurrency)."""
        by_host: dict[str, list[WorkerRecord]] = {}
        for worker in self.workers:
            by_host.setdefault(worker.host, []).append(worker)
        return [
            HostWorkers(host, sorted(w.pid for w in found), sum(w.concurrency for w in found))
            for host, found in sorted(by_host.items())
        ]

    @property
    def waited(self) -> list[Saturation]:
        """The companies and organizations whose requests had to wait, most waited first."""
        return sorted(
            (s for s in self.saturation if s.waited),
            key=lambda s: (-s.wait_seconds, s.api, s.key),
        )

    def saturation_of(self, api: str, key: str) -> Saturation | None:
        return next((s for s in self.saturation if s.api == api and s.key == key), None)


def saturation(service: Service) -> tuple[list[Saturation], bool]:
    """The limiters' counters and whether they could not be read (a fleet's Redis down must not
    take the page or the whole scrape with it)."""
    try:
        return service.runs.limits.saturation(), False
    except Exception:
        log.warning("the shared request limits could not be read", exc_info=True)
        return [], True


def fleet_status(service: Service) -> FleetStatus:
    engine = service.store.engine
    found, unreadable = saturation(service)
    return FleetStatus(
        on_fleet=service.runs.dispatch is not None,
        counts=queue_counts(engine),
        workers=Workers(engine, service.clock).alive(),
        scheduler=process_of(Roles(engine, service.clock).holder(SCHEDULER_ROLE)),
        saturation=found,
        saturation_unreadable=unreadable,
    )


def threesixty_key(item: IntegrationSettings) -> str:
    """The key of the integration's 360Learning company, as its runs' limiter has it
    (:meth:`learnsync.http.shared.SharedLimits.threesixty` with the parsed config's values)."""
    base_url = item.threesixty_base_url.strip() or THREESIXTY_BASE_URL
    return company_key(base_url.rstrip("/"), item.threesixty_client_id.strip())


def coursera_key(item: IntegrationSettings) -> str:
    """The key of the integration's Coursera organization (:meth:`SharedLimits.coursera`)."""
    default = COURSERA_CC_API_BASE if item.coursera_auth == "client_credentials" else None
    api_base = item.coursera_api_base.strip() or default or COURSERA_API_BASE
    return company_key(api_base.rstrip("/"), item.coursera_org_id.strip())


@dataclass(frozen=True)
class RowLimits:
    """An integration's limiters when they made requests wait (else ``None`` each)."""

    threesixty: Saturation | None
    coursera: Saturation | None


def row_limits(status: FleetStatus, item: IntegrationSettings) -> RowLimits:
    def waited(found: Saturation | None) -> Saturation | None:
        return found if found is not None and found.waited else None

    return RowLimits(
        waited(status.saturation_of("threesixty", threesixty_key(item))),
        waited(status.saturation_of("coursera", coursera_key(item))),
    )


def key_labels(items: list[IntegrationSettings]) -> dict[tuple[str, str], list[str]]:
    """The integrations' labels by (api, key): who shares a company or an organization."""
    labels: dict[tuple[str, str], list[str]] = {}
    for item in items:
        labels.setdefault(("threesixty", threesixty_key(item)), []).append(item.label)
        labels.setdefault(("coursera", coursera_key(item)), []).append(item.label)
    return labels

"""The service's object graph: store, repository, secrets, auth, integrations, runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from learnsync.http.shared import SharedLimits
from learnsync.service.auth import Auth
from learnsync.service.endpoints import EndpointPolicy
from learnsync.service.integrations import Integrations
from learnsync.service.runs import Dispatch, Pipeline, RunManager
from learnsync.service.scheduler import Scheduler, spread_from_env
from learnsync.service.secrets import SecretBox
from learnsync.store.fleet import Roles
from learnsync.store.repository import Store
from learnsync.store.service_repository import ServiceRepository
from learnsync.sync.context import retention_from_env

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(
        self,
        store_url: str,
        box: SecretBox,
        *,
        clock: Clock = _utcnow,
        pipelines: dict[str, Pipeline] | None = None,
        owner: str | None = None,
        workers: int | None = None,
        endpoints: EndpointPolicy | None = None,
        dispatch: Dispatch | None = None,
        spread: float | None = None,
        limits: SharedLimits | None = None,
    ) -> None:
        """``endpoints``: where integrations' secrets may go (default: the environment's
        ``LEARNSYNC_ALLOWED_HOSTS``; ``serve --sandbox`` allows loopback). ``dispatch``: runs
        are handed to a fleet of workers (``learnsync worker``) instead of this process's pool.
        ``spread``: the window after a slot over which scheduled runs start (default:
        ``LEARNSYNC_SCHEDULE_SPREAD``). ``limits``: the request limits shared by every run of a
        company (a fleet's, in Redis; default: this process's)."""
        self.store_url = store_url
        self.clock = clock
        self.spread = spread_from_env() if spread is None else spread
        # the runs' store too (execute_run): runs older than the retention are pruned as each
        # run finishes, as on the command line
        self.store = Store.open(store_url, clock=clock, retention=retention_from_env())
        self.repo = ServiceRepository.of_store(self.store, clock)
        self.integrations = Integrations(self.repo, box, store_url, endpoints)
        self.auth = Auth(self.repo)
        # runs are submitted to the queue and executed on a bounded pool (workers: default
        # LEARNSYNC_RUN_WORKERS), started on the first submit or by ``serve``
        self.runs = RunManager(
            self.integrations,
            self.repo,
            self.store,
            pipelines=pipelines,
            owner=owner,
            clock=clock,
            size=workers,
            dispatch=dispatch,
            limits=limits,
        )

    def scheduler(self) -> Scheduler:
        """The scheduler of this service: it acts while it holds the fleet's ``scheduler``
        role (one per store), starting runs over the service's spread."""
        return Scheduler(
            self.repo,
            self.runs,
            clock=self.clock,
            roles=Roles(self.store.engine, self.clock),
            owner=self.runs.owner,
            spread=self.spread,
        )

    def close(self) -> None:
        self.runs.close(5)
        self.runs.limits.close()
        self.store.close()

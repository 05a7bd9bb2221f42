"""The service's object graph: store, repository, secrets, auth, integrations, runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from learnsync.service.auth import Auth
from learnsync.service.integrations import Integrations
from learnsync.service.runs import Pipeline, RunManager
from learnsync.service.secrets import SecretBox
from learnsync.store.repository import Store
from learnsync.store.service_repository import ServiceRepository

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
    ) -> None:
        self.store_url = store_url
        self.clock = clock
        self.store = Store.open(store_url, clock=clock)
        self.repo = ServiceRepository.of_store(self.store, clock)
        self.integrations = Integrations(self.repo, box, store_url)
        self.auth = Auth(self.repo)
        self.runs = RunManager(
            self.integrations,
            self.repo,
            pipelines=pipelines,
            owner=owner,
            clock=clock,
            store=self.store,
        )

    def close(self) -> None:
        self.runs.wait(5)
        self.store.close()

"""Shared support for the statistics tests: their simulated world, a statistics run that counts
its bulk imports, and what the store recorded of the config's integration. The ``config``
fixture (conftest.py) is the config for the test module's ``stack``."""

from __future__ import annotations

from typing import Any, cast

from learnsync.config import Config
from learnsync.sandbox.world import World
from learnsync.store import RunRecord, Store
from learnsync.sync.context import open_clients
from learnsync.sync.report import StatsReport
from learnsync.sync.stats import run_stats_sync

# some learners unknown to 360Learning: their items are rejected
STATS_WORLD = World(
    seed=7, catalog_size=60, learners=150, enrollments=900, unknown_learner_ratio=0.05
)


def sync_stats(config: Config, **kwargs: Any) -> tuple[StatsReport, int]:
    """``run_stats_sync(config, **kwargs)`` on clients of its own: (report, the bulk import
    requests it sent to 360Learning)."""
    clients = open_clients(config)
    try:
        report = run_stats_sync(config, clients=clients, **kwargs)
        counts = cast(Any, clients.threesixty).request_counts  # the real client's counter
        return report, counts.get(("POST", "bulk_import_stats"), 0)
    finally:
        clients.close()


def integration_id(store: Store, config: Config) -> int:
    """The id of the config's integration, which must exist."""
    record = store.get_integration(config.integration_key)
    assert record is not None
    return record.id


def stored_runs(config: Config, limit: int = 50) -> list[RunRecord]:
    """The latest runs of the config's integration, newest first (``Store.list_runs``)."""
    with Store.open(config.store_url) as store:
        return store.list_runs(integration_id(store, config), limit=limit)

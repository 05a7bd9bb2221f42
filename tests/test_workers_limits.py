"""Two workers hammering one 360Learning company share its limits (real Redis, PostgreSQL).

Six integrations of one company (six 360Learning integrations of its group) run their content
and statistics at once on two ``learnsync worker`` processes of three runs each, with bulk
operations that stay unfinished half a second and 360Learning's own rate limits enforced. The
simulator's counters for the company: never more than three unfinished bulk operations, never
more than 10 writes or 50 reads in any second, and no submit refused for want of a slot — the
workers take the company's slots in Redis before submitting. Every run succeeds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator

import pytest

from fleet_support import Fleet, running_fleet
from learnsync.config import parse_config
from learnsync.sandbox.world import World
from learnsync.service.integrations import input_from_config

pytestmark = pytest.mark.postgres

WORLD = World(seed=29, catalog_size=30, learners=10, enrollments=40)
INTEGRATIONS = 6


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    three = ["--concurrency", "3"]
    with running_fleet(tmp_path_factory.mktemp("limits"), WORLD, [three, three]) as made:
        yield made


def test_two_workers_hammering_one_company_stay_within_its_limits(fleet: Fleet) -> None:
    sim = fleet.stack.threesixty
    sim.phase_seconds = 0.5  # an operation stays unfinished a while: slots are held
    sim.rate_limits = True  # and 360Learning answers 429 past 10 writes / 50 reads a second
    ids = []
    for n in range(INTEGRATIONS):
        raw = tomllib.loads(fleet.stack.config_toml(fleet.store_url))
        raw["threesixty"]["integration_name"] = f"Coursera {n}"
        ids.append(
            fleet.service.integrations.save(input_from_config(parse_config(raw), f"company {n}"))
        )
    sim.reset_counters()
    runs = [fleet.service.runs.start(i, kind) for kind in ("content", "stats") for i in ids]
    jobs = [fleet.final(run_id, 120) for run_id in runs]

    assert [j.status for j in jobs] == ["succeeded"] * len(runs), [j.error for j in jobs]
    counters = sim.counters.snapshot()
    assert counters["bulk_submits"] == 2 * INTEGRATIONS  # one upsert and one import each
    assert counters["max_unfinished_operations"] <= 3
    assert counters["concurrency_refusals"] == 0
    assert counters["max_writes_per_second"] <= 10
    assert counters["max_reads_per_second"] <= 50
    overlapping = {(j.worker or "").split(":")[1] for j in jobs}
    assert len(overlapping) > 3  # runs of several worker processes pressed the company

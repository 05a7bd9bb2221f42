"""Both clients against the real simulators on loopback sockets (learnsync.sandbox)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator

import pytest

pytest.importorskip("learnsync.sandbox.stack")

from learnsync.clients.coursera import CourseraClient
from learnsync.clients.threesixty import ThreeSixtyClient
from learnsync.config import Config, parse_config
from learnsync.http import RetryPolicy
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, min_429_delay=0.01, max_retry_after=0.05)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(World(catalog_size=60, learners=40, enrollments=80)) as running:
        yield running


@pytest.fixture
def config(stack: Stack) -> Config:
    stack.coursera.faults.clear()
    stack.threesixty.faults.clear()
    return parse_config(tomllib.loads(stack.config_toml()))


def test_coursera_reads_whole_catalog_through_faults(stack: Stack, config: Config) -> None:
    stack.coursera.faults.add(Fault(path="/contents", status=503, times=2))
    stack.coursera.faults.add(Fault(path="/contents", kind="drop", times=1, skip=1))
    with CourseraClient(config.coursera, retry=FAST) as client:
        pages: list[int] = []
        rows = list(client.iter_contents(page_size=25, on_page=lambda f, t: pages.append(f)))
        assert len(rows) == len({r.id for r in rows}) >= 60
        assert pages[-1] == len(rows)
        assert client.request_counts[("GET", "contents")] >= len(pages) + 3


def test_coursera_enrollment_reports(stack: Stack, config: Config) -> None:
    with CourseraClient(config.coursera, retry=FAST) as client:
        rows = list(client.iter_enrollment_reports(page_size=30))
    assert rows and all(r.content_id for r in rows)


def test_threesixty_integration_and_bulk_roundtrip(stack: Stack, config: Config) -> None:
    t = config.threesixty
    with ThreeSixtyClient(t, retry=FAST, poll_initial=0.01, poll_max=0.05) as client:
        integration, _ = client.ensure_integration(
            name="learnsync-client-test", group_id=t.group_id, author_id=t.author_id
        )
        again, _ = client.ensure_integration(
            name="learnsync-client-test", group_id=t.group_id, author_id=t.author_id
        )
        assert again["_id"] == integration["_id"]
        items = [
            {
                "externalId": f"Course~it{i}",
                "name": f"Course {i}",
                "defaultLang": "en",
                "launchUrl": f"https://www.coursera.org/learn/it{i}",
                "sources": [{"name": "Coursera"}],
                "subjects": [],
            }
            for i in range(7)
        ]
        out = list(client.run_batches("upsert_courses", integration["_id"], [items[:4], items[4:]]))
        results = [r for _, rs in out for r in rs]
        assert [r.ok for r in results] == [True] * 7, [r.error for r in results]
        assert all(r.resource_id for r in results)
        course = stack.threesixty.course_or_none(results[0].resource_id or "")
        assert course is not None and course.data["name"] == "Course 0"

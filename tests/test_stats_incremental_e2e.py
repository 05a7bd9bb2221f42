"""End to end: an incremental statistics read never sends a less advanced duplicate row.

Coursera may report one (course, learner) pair on several rows (one per program). An incremental
read (``lastActivityAfter``) sees only the recent ones: when the pair's most advanced row is
older, a less advanced recent row wins this run's merge. It must not be sent: 360Learning already
accepted the more advanced one (docs/stats.md#which-items-are-sent: only changed items are sent;
progress stays put).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from learnsync.config import Config
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.store.repository import Store
from learnsync.sync.content import run_content_sync
from learnsync.sync.stats import run_stats_sync
from stats_support import integration_id, stored_runs, sync_stats

WORLD = World(seed=11, catalog_size=40, learners=60, enrollments=300, unknown_learner_ratio=0.0)
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(WORLD) as running:
        yield running


def _sync(config: Config) -> tuple[Any, int, str]:
    report, requests = sync_stats(config)
    mode = stored_runs(config)[0].report["read"]["mode"]
    return report, requests, mode


def _synchronized_course(config: Config) -> str:
    with Store.open(config.store_url) as store:
        items = store.load_content_items(integration_id(store, config))
    return next(
        ext
        for ext, item in sorted(items.items())
        if item.course_id and item.content_type == "Course"
    )


def _set_row(stack: Stack, content_id: str, learner: str, program: int, **fields: Any) -> None:
    stack.coursera.report.upsert(
        content_id=content_id,
        content_type="Course",
        learner=learner,
        program_id=WORLD.coursera_program_ids[program],
        fields=fields,
        now_ms=stack.coursera.clock.now_ms(),
    )


def _progress_in_360(stack: Stack, course_external_id: str, learner: str) -> list[int]:
    sim = stack.threesixty
    course = next(c for c in sim.courses if c.external_id == course_external_id)
    user = sim.user_key_by_mail(learner)
    assert user is not None
    return [a.progress for a in sim.attempts.of(course.index, user)]


def test_incremental_read_sends_only_what_is_more_advanced(config: Config, stack: Stack) -> None:
    run_content_sync(config)
    first, requests, mode = _sync(config)
    assert mode == "full" and first.sent > 50 and requests == 1 and not first.failed

    external_id = _synchronized_course(config)
    content_id = external_id.split("~", 1)[1]
    learner = WORLD.learner_email(WORLD.learners - 1)
    now = stack.coursera.clock.now_ms()
    # program 0: the most advanced row, 10 days old; program 1: a less advanced, recent row
    _set_row(stack, content_id, learner, 0, overallProgress=90, lastActivityAt=now - 10 * DAY_MS)
    _set_row(stack, content_id, learner, 1, overallProgress=20, lastActivityAt=now - 3_600_000)

    # a content run created nothing since, no rejection, a full read 0 days ago: incremental —
    # but the new pair is only seen whole by a full read, so force one here
    second = run_stats_sync(config, force_full=True)
    assert second.sent == 1
    assert _progress_in_360(stack, external_id, learner)[-1] == 90

    # incremental: only the progress-20 row is recent; 360Learning keeps 90, nothing is sent
    third, requests, mode = _sync(config)
    assert mode == "incremental"
    assert third.sent == 0 and requests == 0
    assert _progress_in_360(stack, external_id, learner)[-1] == 90

    # the recent row moves past the accepted one: exactly that item is sent
    _set_row(stack, content_id, learner, 1, overallProgress=95)
    fourth, requests, mode = _sync(config)
    assert mode == "incremental"
    assert fourth.sent == 1 and requests == 1
    assert _progress_in_360(stack, external_id, learner)[-1] == 95

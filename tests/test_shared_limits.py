"""Request limits shared by every run of a company (learnsync.http.shared).

In memory (one process) and in a real Redis (a fleet): a company's moving one-second windows
let at most the budget through, then make the next request wait; its three bulk slots are
taken once each and come back when released — or, in Redis, when their holder stopped
renewing them; saturation counters are readable by any process. Two clients of one company
sharing the slots run their bulk pipelines at once against the 360Learning simulator: it
never counts more than three unfinished operations and never refuses a submit — without the
shared slots it does (the check can fail).
"""

from __future__ import annotations

import random
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fleet_support import REDIS, redis_up, unavailable
from learnsync.clients.threesixty import ThreeSixtyClient
from learnsync.config import parse_config
from learnsync.http import RetryPolicy
from learnsync.http.shared import (
    THREESIXTY_WRITES,
    LocalSlots,
    RedisSlots,
    SharedLimits,
    _RedisSlot,
    company_key,
)
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, min_429_delay=0.01, max_retry_after=0.05)


class Sleeps:
    """A sleep that sleeps (the windows are on the real clock) and records its pauses."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not redis_up():
        unavailable("Redis on 127.0.0.1:6379")
    import redis

    db = random.SystemRandom().randrange(1, 16)
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=db)
    yield f"redis://{REDIS[0]}:{REDIS[1]}/{db}"
    for key in client.scan_iter(match="learnsync:limits*"):
        client.delete(key)
    client.close()


def test_a_company_key_is_stable_and_tells_companies_apart() -> None:
    key = company_key("https://app.360learning.com/", "client-a")
    assert key == company_key("https://APP.360learning.com", "client-a")
    assert key != company_key("https://app.360learning.com", "client-b")
    assert key != company_key("https://app.eu.360learning.com", "client-a")
    assert "client" not in key and len(key) == 16


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_a_companys_writes_wait_once_the_window_is_full(where: str, request: Any) -> None:
    if where == "redis":
        limits = SharedLimits.in_redis(request.getfixturevalue("redis_url"))
    else:
        limits = SharedLimits.in_memory()
    sleeps = Sleeps()
    limits.sleep = sleeps
    client = f"client-{uuid.uuid4().hex}"
    one, _ = limits.threesixty("https://x.example", client)
    other, _ = limits.threesixty("https://x.example", client)  # another run, same company
    elsewhere, _ = limits.threesixty("https://x.example", f"{client}-b")
    try:
        waits = [(one if n % 2 else other).acquire("PUT") for n in range(THREESIXTY_WRITES)]
        assert waits == [0.0] * THREESIXTY_WRITES and sleeps.pauses == []
        assert elsewhere.acquire("POST") == 0.0  # another company: its own window
        assert one.acquire("GET") == 0.0  # reads: their own window
        assert one.acquire("PUT") > 0  # the budget is spent: the next write waited
        [saturation] = [
            s for s in limits.saturation() if s.key == company_key("https://x.example", client)
        ]
        assert (saturation.api, saturation.requests, saturation.waited) == (
            "threesixty",
            THREESIXTY_WRITES + 2,
            1,
        )
        assert saturation.wait_seconds > 0
    finally:
        limits.close()


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_three_local_slots_per_company_expire_when_not_renewed() -> None:
    clock = Ticks()
    slots = LocalSlots(ttl=60, clock=clock)
    taken = [slots.take() for _ in range(3)]
    assert all(taken) and slots.take() is None
    assert taken[0] is not None and taken[1] is not None
    taken[0].release()
    taken[0].release()  # twice is once
    again = slots.take()
    assert again is not None and slots.take() is None
    clock.now = 59
    taken[1].renew()
    clock.now = 61  # the two others were abandoned (a cancelled run): free again
    assert slots.take() is not None and slots.take() is not None and slots.take() is None


def test_redis_slots_are_shared_and_expire_when_not_renewed(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    key = uuid.uuid4().hex
    try:
        # two runs of one company: "mine" abandons its slots (killed), "theirs" keeps its one
        mine, theirs = RedisSlots(client, key, ttl=0.5), RedisSlots(client, key, ttl=30.0)
        held = [mine.take(), theirs.take(), mine.take()]
        assert all(held) and theirs.take() is None and mine.take() is None
        kept = held[1]
        assert isinstance(kept, _RedisSlot)
        kept.release()
        renewed = theirs.take()
        assert isinstance(renewed, _RedisSlot)
        # a renewal gives the slot its whole lifetime again
        client.pexpire(renewed.lock.name, 1000)
        renewed.renew()
        assert client.pttl(renewed.lock.name) > 20_000
        later = RedisSlots(client, key, ttl=30.0)  # a run after the killed one
        deadline = time.monotonic() + 5
        while (free := later.take()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert free is not None  # a holder that stopped renewing (killed) gave its slot back
        deadline = time.monotonic() + 5
        while (second := later.take()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second is not None and theirs.take() is None  # the renewed one is still held
    finally:
        client.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(World(seed=5, catalog_size=20, learners=5, enrollments=5)) as running:
        running.threesixty.phase_seconds = 0.15  # operations that stay unfinished a while
        yield running


def _items(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "externalId": f"Course~{prefix}{i}",
            "name": f"Course {prefix}{i}",
            "defaultLang": "en",
            "launchUrl": f"https://www.coursera.org/learn/{prefix}{i}",
            "sources": [{"name": "Coursera"}],
            "subjects": [],
        }
        for i in range(count)
    ]


def _hammer(stack: Stack, shared: bool) -> dict[str, int]:
    """Two clients of the one company send 8 upserts each at once; the company's counters."""
    config = parse_config(tomllib.loads(stack.config_toml()))
    t = config.threesixty
    limits = SharedLimits.in_memory()
    stack.threesixty.reset_counters()
    errors: list[BaseException] = []

    def run(name: str) -> None:
        _, slots = limits.threesixty(t.base_url, t.client_id)
        try:
            with ThreeSixtyClient(
                t,
                retry=FAST,
                poll_initial=0.02,
                poll_max=0.05,
                slot_wait_initial=0.05,
                slot_wait_max=0.1,
                slots=slots if shared else None,
            ) as client:
                integration, _ = client.ensure_integration(
                    name=name, group_id=t.group_id, author_id=t.author_id
                )
                batches = [_items(f"{name}-{b}-", 3) for b in range(8)]
                for _batch, results in client.run_batches(
                    "upsert_courses", integration["_id"], batches
                ):
                    assert all(r.ok for r in results)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"hammer-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return stack.threesixty.counters.snapshot()


def test_two_runs_of_one_company_share_its_three_bulk_slots(stack: Stack) -> None:
    counters = _hammer(stack, shared=True)
    assert counters["max_unfinished_operations"] <= 3
    assert counters["concurrency_refusals"] == 0  # never a submit 360Learning had to refuse
    assert counters["bulk_submits"] == 16


def test_without_shared_slots_the_company_refuses_submits(stack: Stack) -> None:
    counters = _hammer(stack, shared=False)  # each client counts only its own operations
    assert counters["concurrency_refusals"] > 0

"""A content run killed (``kill -9``) after 360Learning applied its request, before the store
recorded the outcome: the next run reconciles the write-ahead intents (learnsync.sync.writeahead)
and ends where a clean run would.

``learnsync`` runs in a subprocess against the simulators on loopback; the 360Learning simulator
answers the bulk operation polls after 20 s (a ``slow`` fault), so the operation is applied and
its outcome never reaches the run, which is killed once the simulator shows the change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from learnsync.clients.coursera.client import CourseraClient
from learnsync.clients.threesixty.client import ThreeSixtyClient
from learnsync.config import load_config
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.process import LEARNSYNC
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.store.intents import Intents
from learnsync.store.repository import Store
from learnsync.sync.context import Clients
from learnsync.sync.filters import set_filters

# about 1,060 mapped courses; a filter on fr archives about 1,010 (two bulk archive requests)
WORLD = World(seed=7, catalog_size=1080, learners=10, enrollments=10)


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack(WORLD) as running:
        yield running


@pytest.fixture
def config(stack: Stack, tmp_path: Path) -> Path:
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(f"sqlite:///{tmp_path / 'store.db'}"), encoding="utf-8")
    return path


def _learnsync(*args: str | Path, report: Path | None = None) -> dict[str, Any]:
    argv = [str(LEARNSYNC), *map(str, args)]
    if report is not None:
        argv += ["--report-json", str(report)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text()) if report is not None else {}


def _killed_after(stack: Stack, argv: list[str | Path], applied: Callable[[], bool]) -> None:
    """Run ``learnsync argv`` with the operation polls held back; SIGKILL it once ``applied()``."""
    # 20 s: far beyond the kill (within a poll interval of the change); the simulators' stop
    # at the end of a test waits for the polls still held (10 s at most)
    stack.threesixty.faults.add(Fault(path="bulk/operations", kind="slow", delay=20, times=-1))
    child = subprocess.Popen(
        [sys.executable, "-m", "learnsync", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not applied() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert applied(), "360Learning did not apply the request"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        stack.threesixty.faults.clear()


def _store(config: Path) -> Store:
    url = next(line for line in config.read_text().splitlines() if line.startswith("url"))
    return Store.open(url.split("=", 1)[1].strip().strip('"'))


def _killed_run(config: Path) -> int:
    """The killed run, left ``running`` holding its lease: the next run takes the lease of a
    process of this host that is gone at once and marks it failed; its id."""
    with _store(config) as store:
        (killed,) = [r for r in store.list_runs(1) if r.status == "running"]
        return killed.id


def _shown_failed(config: Path, run_id: int) -> None:
    with _store(config) as store:
        run = store.get_run(run_id)
    assert run is not None and run.status == "failed"
    assert "the process running it (pid" in (run.error or "") and "stopped" in (run.error or "")


def _archived(stack: Stack) -> set[str]:
    with stack.threesixty.lock:
        return {c.external_id for c in stack.threesixty.courses if c.status == "archived"}


def test_a_filter_save_killed_after_the_bulk_archive_is_undone_by_clear(
    stack: Stack, config: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    first = _learnsync("sync", "content", "--config", config, report=report)
    with _store(config) as store:
        states = store.load_content_items(1)
    to_archive = {
        ext for ext, s in states.items() if s.state == "active" and s.language_code != "fr"
    }
    assert len(to_archive) > 1000 and first["created"] == len(states) - len(first["skipped"])

    _killed_after(
        stack,
        ["filters", "set", "--config", config, "--language", "fr"],
        lambda: _archived(stack) >= to_archive,
    )
    assert _archived(stack) == to_archive  # applied by 360Learning …
    with _store(config) as store:
        assert {s.state for s in store.load_content_items(1).values()} <= {"active", "skipped"}
        (intent,) = Intents(store.engine).open_for(1)  # … unknown to the store, but written ahead
        assert intent.action == "archive" and len(intent.items) == len(to_archive)
    killed = _killed_run(config)

    # `filters set --clear`, in-process with a client not held to 10 writes a second (the
    # restores are one request per course): the same set_filters the CLI calls
    settings = load_config(config)
    clients = Clients(
        coursera=CourseraClient(settings.coursera),
        threesixty=ThreeSixtyClient(settings.threesixty, writes_per_second=1e6),
    )
    try:
        cleared = set_filters(
            settings, languages=[], content_types=[], clear=True, dry_run=False, clients=clients
        ).to_json()
    finally:
        clients.close()
    assert cleared["restored"] == len(to_archive) and cleared["failed"] == []
    (warning,) = [w for w in cleared["warnings"] if "interrupted" in w]
    assert f"(run {killed})" in warning and f"{len(to_archive)} course states corrected" in warning
    _shown_failed(config, killed)
    assert _archived(stack) == set()  # every course live again in 360Learning
    with _store(config) as store:
        stored = store.load_content_items(1)
        assert {ext for ext, s in stored.items() if s.state == "active"} == {
            c.external_id for c in stack.threesixty.courses
        }  # and the store agrees
        assert Intents(store.engine).open_for(1) == []

    again = _learnsync("sync", "content", "--config", config, report=report)
    assert (again["created"], again["updated"], again["archived"], again["restored"]) == (0,) * 4
    assert not any("interrupted" in w for w in again["warnings"])


def test_a_content_sync_killed_after_its_upsert_ends_as_a_clean_run(
    stack: Stack, config: Path, tmp_path: Path
) -> None:
    expected = 1060  # the mapped courses of WORLD (checked against a clean run below)
    _killed_after(
        stack,
        ["sync", "content", "--config", config],
        lambda: len(stack.threesixty.courses) >= expected,
    )
    with _store(config) as store:
        assert store.load_content_items(1) == {}  # the run stored nothing …
        (intent,) = Intents(store.engine).open_for(1)  # … but its upsert was written ahead
        assert intent.action == "upsert" and len(intent.items) == expected
    killed = _killed_run(config)
    created = {c.external_id: c.id for c in stack.threesixty.courses}

    report = tmp_path / "report.json"
    rerun = _learnsync("sync", "content", "--config", config, report=report)
    assert rerun["created"] == expected and rerun["failed"] == []
    assert any("interrupted" in w for w in rerun["warnings"])
    _shown_failed(config, killed)  # the re-run was not refused: it took the dead run's lease
    courses = list(stack.threesixty.courses)
    assert len(courses) == expected  # no duplicate course: the upsert by externalId is idempotent
    assert {c.external_id: c.id for c in courses} == created
    with _store(config) as store:
        stored = store.load_content_items(1)
        active = {ext: s.course_id for ext, s in stored.items() if s.state == "active"}
        assert active == created
        assert Intents(store.engine).open_for(1) == []

    # the clean run's state: the next run has nothing to do
    again = _learnsync("sync", "content", "--config", config, report=report)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, expected)

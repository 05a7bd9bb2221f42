"""Command-line runs are jobs on the integration's lease (learnsync.sync.runner).

Two writing runs of one integration started at the same moment from separate processes: exactly
one writes, the other exits 1 with one line and its run row is ``cancelled``. A statistics run
waits in the queue for a busy integration (fake clock). Items that failed make a ``partial`` run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e_support import run_cli
from learnsync.errors import LearnsyncError
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack
from learnsync.store.jobs import RunJobs
from learnsync.store.repository import Store
from learnsync.sync.runner import QUEUE_POLL, QUEUE_WAIT, begin_run

OPERATION = r"/api/v2/bulk/operations/[0-9a-f]+$"
ARCHIVE = r"/api/v2/courses/[0-9a-f]+/archive$"
TOKEN = r"/api/v2/oauth2/token$"


@pytest.fixture
def store_config(tmp_path: Path, stack: Stack, url: str) -> Iterator[Path]:
    """A config for the simulators with the store of ``url`` (SQLite, then PostgreSQL),
    its schema created (two processes starting on an empty store would both create it)."""
    Store.open(url).close()
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(url), encoding="utf-8")
    yield path


def _spawn(*argv: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "learnsync", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _race(stack: Stack, *commands: list[str | Path]) -> list[tuple[int, str]]:
    """Start the commands at the same moment; their exit statuses and stderr. The 360Learning
    token and the bulk operation polls are held back (3 s) so the run that took the lease is
    still going when the other one starts (each asks for the token only after taking it)."""
    stack.threesixty.faults.add(Fault(path=TOKEN, kind="slow", delay=3, times=-1))
    stack.threesixty.faults.add(Fault(path=OPERATION, kind="slow", delay=3, times=-1))
    try:
        children = [_spawn(*argv) for argv in commands]
        outcomes = []
        for child in children:
            _, stderr = child.communicate(timeout=300)
            outcomes.append((child.returncode, stderr))
        return outcomes
    finally:
        stack.threesixty.faults.clear()


def _runs(url: str) -> list[tuple[str, str, str | None]]:
    with Store.open(url) as store:
        return [(r.kind, r.status, r.error) for r in reversed(store.list_runs(1))]


def _check_one_wrote(
    outcomes: list[tuple[int, str]], runs: list[tuple[str, str, str | None]]
) -> None:
    statuses = sorted(code for code, _ in outcomes)
    assert statuses == [0, 1], outcomes
    (refusal,) = [stderr for code, stderr in outcomes if code == 1]
    lines = refusal.strip().splitlines()
    assert len(lines) == 1, refusal
    assert lines[0].startswith("learnsync: error: a ") and "is still going" in lines[0]
    assert "again once it has finished" in lines[0]
    assert sorted(status for _, status, _ in runs) == ["cancelled", "succeeded"]
    (cancelled,) = [error for _, status, error in runs if status == "cancelled"]
    assert cancelled is not None and cancelled.startswith("not started: a ")


def test_two_content_syncs_at_the_same_moment_one_writes(
    stack: Stack, store_config: Path, url: str
) -> None:
    argv: list[str | Path] = ["sync", "content", "--config", store_config]
    outcomes = _race(stack, argv, argv)
    _check_one_wrote(outcomes, _runs(url))
    # every course exactly once (the refused run wrote nothing)
    external_ids = [c.external_id for c in stack.threesixty.courses]
    assert len(external_ids) == len(set(external_ids)) > 0


def test_a_content_sync_beside_a_filter_save_one_writes(
    stack: Stack, store_config: Path, url: str
) -> None:
    assert run_cli("sync", "content", "--config", store_config).exit_code == 0
    with Store.open(url) as store:  # courses not in French to archive: a save that writes
        assert any(s.language_code != "fr" for s in store.load_content_items(1).values())
    outcomes = _race(
        stack,
        ["sync", "content", "--config", store_config, "--force"],
        ["filters", "set", "--config", store_config, "--language", "fr"],
    )
    _check_one_wrote(outcomes, _runs(url)[1:])


def test_failed_items_make_a_partial_run(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    assert run_cli("sync", "content", "--config", config_path).exit_code == 0
    assert run_cli("filters", "set", "--config", config_path, "--language", "fr").exit_code == 0
    # two of the un-archives refused by 360Learning: the save finishes, those two failed
    stack.threesixty.faults.add(
        Fault(path=ARCHIVE, method="PUT", status=400, body={"error": "refused"}, times=2)
    )
    cleared = run_cli("filters", "set", "--config", config_path, "--clear", report=tmp_path / "r")
    assert cleared.exit_code == 0, cleared.stderr  # exit status as before: failed items, exit 0
    assert cleared.report is not None and len(cleared.report["failed"]) == 2
    statuses = [status for _, status, _ in _runs(f"sqlite:///{tmp_path / 'store.db'}")]
    assert statuses == ["succeeded", "succeeded", "partial"]


# ---------------------------------------------------------------------- the queue wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _integration(store: Store) -> int:
    return store.get_or_create_integration("key", name="n").id


def test_a_statistics_run_waits_in_the_queue_then_starts(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        iid = _integration(store)
        jobs = RunJobs(store.engine)
        content = jobs.submit(iid, "content", "manual")
        jobs.start(content, "another-host:1:a")
        clock = FakeClock()

        def sleep(seconds: float) -> None:
            clock.sleep(seconds)
            if clock.now >= 20 * 60:  # the content run ends after 20 minutes
                jobs.end(content, "another-host:1:a", "succeeded")

        ticket = begin_run(
            store, iid, "stats", what="statistics synchronization", wait=True,
            clock=clock, sleep=sleep,
        )  # fmt: skip
        assert clock.sleeps == [QUEUE_POLL] * 80
        started = jobs.get(ticket.run_id)
        assert started is not None and started.status == "running" and started.kind == "stats"
        lease = jobs.lease(iid)
        assert lease is not None and lease.run_id == ticket.run_id


def test_a_statistics_run_gives_up_after_two_hours_in_the_queue(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        iid = _integration(store)
        jobs = RunJobs(store.engine)
        content = jobs.submit(iid, "content", "manual")
        jobs.start(content, "another-host:1:a")
        clock = FakeClock()
        with pytest.raises(LearnsyncError) as refused:
            begin_run(
                store, iid, "stats", what="statistics synchronization", wait=True,
                clock=clock, sleep=clock.sleep,
            )  # fmt: skip
        assert sum(clock.sleeps) == QUEUE_WAIT
        assert refused.value.exit_code == 1
        assert refused.value.message == (
            f"a content run of this integration (run {content}) is still going after 120 "
            "minutes of waiting: run the statistics synchronization again once it has finished"
        )
        (stats,) = [r for r in store.list_runs(iid) if r.kind == "stats"]
        assert stats.status == "cancelled"
        assert (
            stats.error
            == f"not started: a content run of this integration (run {content}) is going"
        )


def test_a_content_run_is_refused_at_once(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        iid = _integration(store)
        jobs = RunJobs(store.engine)
        going = jobs.submit(iid, "filters", "manual")
        jobs.start(going, "another-host:1:a")
        clock = FakeClock()
        with pytest.raises(LearnsyncError, match=r"a filters run of this integration \(run 1\)"):
            begin_run(
                store, iid, "content", what="content synchronization", wait=False,
                clock=clock, sleep=clock.sleep,
            )  # fmt: skip
        assert clock.sleeps == []  # refused without waiting
        lease = jobs.lease(iid)
        assert lease is not None and lease.run_id == going
        (refused,) = [r for r in store.list_runs(iid) if r.kind == "content"]
        assert refused.status == "cancelled"

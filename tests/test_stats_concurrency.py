"""Two statistics runs of one integration at once: the second waits in the queue, then runs.

Every writing run holds its integration's lease (``learnsync.sync.runner.begin_run``); a
statistics run that finds it held — by another statistics run or a content run — waits in the
queue (retried every 15 s, up to 2 h) instead of being refused (docs/waiting.md).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from learnsync.errors import LearnsyncError
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.process import LEARNSYNC
from learnsync.sandbox.stack import Stack
from learnsync.store.jobs import RunJobs
from learnsync.store.repository import Store
from learnsync.sync.runner import QUEUE_POLL, begin_run


def _learnsync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEARNSYNC), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_two_stats_runs_at_once_the_second_waits_then_sends_nothing_more(
    stack: Stack, url: str, tmp_path: Path
) -> None:
    config = tmp_path / "learnsync.toml"
    config.write_text(stack.config_toml(url), encoding="utf-8")
    content = _learnsync("sync", "content", "--config", config)
    assert content.returncode == 0, content.stderr

    # every report page answers after 3 s: the first run is still reading when the second starts
    stack.coursera.faults.add(Fault(path="enrollmentReports", kind="slow", delay=3.0, times=-1))
    reports = [tmp_path / f"report-{n}.json" for n in range(2)]
    procs = [
        subprocess.Popen(
            [str(LEARNSYNC), "sync", "stats", "--config", str(config), "--report-json", str(r)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in reports
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    stack.coursera.faults.clear()
    assert [p.returncode for p in procs] == [0, 0], outputs
    sent = sorted(json.loads(r.read_text())["sent"] for r in reports)
    assert sent[0] == 0 and sent[1] > 0  # the one that waited found everything sent
    assert stack.threesixty.stats_applied == sent[1], "each statistic applied once"

    with Store.open(url) as store:
        first, second = sorted(
            (r for r in store.list_runs(1) if r.kind == "stats"), key=lambda r: r.started_at
        )
    assert {first.status, second.status} <= {"succeeded", "partial"}  # both ran
    assert first.finished_at is not None and second.started_at >= first.finished_at


def test_a_stats_run_waits_for_the_content_run_holding_the_lease(
    stack: Stack, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = tmp_path / "learnsync.toml"
    config.write_text(stack.config_toml(url), encoding="utf-8")
    assert _learnsync("sync", "content", "--config", config).returncode == 0
    with Store.open(url) as store:
        jobs = RunJobs(store.engine)
        going = jobs.submit(1, "content", "manual")
        jobs.start(going, "another-host:1:a")  # a content run of another host is writing
        child = subprocess.Popen(
            [str(LEARNSYNC), "sync", "stats", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not jobs.queued(1) and time.monotonic() < deadline:
            time.sleep(0.1)
        (waiting,) = jobs.queued(1)  # the statistics run waits in the queue
        assert waiting.kind == "stats" and waiting.trigger == "cli"
        time.sleep(1)
        jobs.end(going, "another-host:1:a", "succeeded")
        ended = time.monotonic()
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
        assert time.monotonic() - ended < QUEUE_POLL + 30  # started at its next try
        run = store.get_run(waiting.id)
        assert run is not None and run.status in ("succeeded", "partial") and run.sent_count


def test_a_dry_run_takes_no_lease_and_waits_for_none(url: str) -> None:
    with Store.open(url) as store:
        iid = store.get_or_create_integration("k").id
        ticket = begin_run(store, iid, "stats", what="statistics synchronization", wait=False)
        jobs = RunJobs(store.engine)
        dry = jobs.submit(iid, "stats", "cli", dry_run=True)
        assert jobs.start(dry, "me:1:a").status == "running"  # beside the leased run
        with pytest.raises(LearnsyncError) as refused:
            begin_run(store, iid, "content", what="content synchronization", wait=False)
        assert refused.value.exit_code == 1
        assert refused.value.message == (
            f"a stats run of this integration (run {ticket.run_id}) is still going: run the "
            "content synchronization again once it has finished"
        )


def test_a_dead_runs_lease_blocks_no_one(url: str) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with Store.open(url) as store:
        iid = store.get_or_create_integration("k").id
        old = RunJobs(store.engine, clock=lambda: long_ago)
        dead = old.submit(iid, "stats", "cli")
        old.start(dead, "another-host:1:a")  # its process died: no heartbeat since
        ticket = begin_run(store, iid, "stats", what="statistics synchronization", wait=False)
        assert ticket.run_id != dead
        crashed = store.get_run(dead)
        assert crashed is not None and crashed.status == "failed"
        assert "lease expired" in (crashed.error or "")

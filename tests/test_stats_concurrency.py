"""Two statistics runs of one integration at once: one sends, the other is refused.

The refusal is the content runs' one (``start_writing_run``: a row-locked check and the new run's
record in one transaction), extended to the ``stats`` kind (docs/sync-rules.md).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from learnsync.errors import LearnsyncError
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.process import LEARNSYNC
from learnsync.sandbox.stack import Stack
from learnsync.store.repository import Store
from learnsync.sync.concurrency import start_writing_run


def _learnsync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEARNSYNC), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_two_stats_runs_at_once_one_sends_the_other_is_refused(
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
    outputs = [p.communicate(timeout=120) for p in procs]
    stack.coursera.faults.clear()
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)

    refusal = outputs[loser][1]
    assert refusal.count("\n") == 1 and "Traceback" not in refusal, refusal
    assert refusal.startswith("learnsync: error: a stats run of this integration (run ")
    assert "is still going: run the statistics synchronization again once it has finished" in (
        refusal
    )

    sent = json.loads(reports[winner].read_text())["sent"]
    assert sent > 0
    assert stack.threesixty.stats_applied == sent, "each statistic applied once"

    # the stored state is the winner's: a following run sends nothing more
    again = _learnsync("sync", "stats", "--config", config, "--report-json", reports[0])
    assert again.returncode == 0, again.stderr
    assert json.loads(reports[0].read_text())["sent"] == 0
    assert stack.threesixty.stats_applied == sent


def test_a_second_stats_start_is_refused_while_the_first_is_running(url: str) -> None:
    with Store.open(url) as store:
        iid = store.get_or_create_integration("k").id
        first = start_writing_run(store, iid, "stats", what="statistics synchronization")
        with pytest.raises(LearnsyncError) as refused:
            start_writing_run(store, iid, "stats", what="statistics synchronization")
        assert refused.value.exit_code == 1
        assert f"a stats run of this integration (run {first}, started " in refused.value.message
        assert refused.value.message.endswith(
            "is still going: run the statistics synchronization again once it has finished"
        )
        # a dry run is no writing run: it is recorded beside the running one
        store.start_run(iid, "stats", True)
        # content and statistics runs do not refuse one another (a stats run waits instead)
        content = start_writing_run(store, iid, "content", what="content synchronization")
        store.finish_run(content, "succeeded", {})
        store.finish_run(first, "succeeded", {})
        second = start_writing_run(store, iid, "stats", what="statistics synchronization")
        assert second != first


def test_a_stale_stats_run_blocks_no_one(url: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with Store.open(url, clock=lambda: now) as store:
        iid = store.get_or_create_integration("k").id
        start_writing_run(store, iid, "stats", what="statistics synchronization")
        now += timedelta(hours=7)  # its process died without finishing it
        start_writing_run(store, iid, "stats", what="statistics synchronization")

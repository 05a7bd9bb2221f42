"""Staging folders: a run removes its own; the next run removes those of runs killed outright
(``kill -9``), never a live run's nor a recent one's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from learnsync.sync import staging as staging_module
from learnsync.sync.staging import Staging, remove_abandoned

_CHILD = """
import sys, time
from learnsync.diff.stats import Compact
from learnsync.sync.staging import Staging
s = Staging.create(sys.argv[1])
for i in range(2000):
    s.add(Compact(f"Course~{i}", "a@b.c", False, 10, 1, 1, 2))
s.flush()
print(s.path, flush=True)
time.sleep(60)
"""


def _start_run(directory: Path) -> tuple[subprocess.Popen[str], Path]:
    """A child process in the middle of a statistics run: its staging file is written."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    path = Path(child.stdout.readline().strip())
    assert path.is_file()
    return child, path.parent


def _age(folder: Path, seconds: float) -> None:
    moment = time.time() - seconds
    for path in [folder, *(folder.iterdir() if folder.is_dir() else [])]:
        os.utime(path, (moment, moment))


def test_a_run_removes_its_own_folder_on_normal_exit_and_on_error(tmp_path: Path) -> None:
    with Staging.create(str(tmp_path)) as s:
        folder = Path(s.path).parent
        assert folder.is_dir()
    assert not folder.exists()
    try:
        with Staging.create(str(tmp_path)) as s:
            folder = Path(s.path).parent
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


def test_folder_name_carries_the_pid(tmp_path: Path) -> None:
    with Staging.create(str(tmp_path)) as s:
        assert Path(s.path).parent.name.startswith(f"learnsync-stats-{os.getpid()}-")


def test_the_next_run_removes_the_folder_of_a_run_killed_with_sigkill(tmp_path: Path) -> None:
    child, folder = _start_run(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.stdout is not None
    child.stdout.close()
    assert folder.is_dir()  # kill -9 leaves it behind
    _age(folder, staging_module.STALE_AFTER_S + 60)

    with Staging.create(str(tmp_path)) as s:
        assert not folder.exists()
        assert [p.name for p in tmp_path.iterdir()] == [Path(s.path).parent.name]


def test_a_live_run_and_a_recent_dead_one_are_left_alone(tmp_path: Path) -> None:
    live, live_folder = _start_run(tmp_path)
    try:
        _age(live_folder, staging_module.STALE_AFTER_S * 10)  # old, but its process is alive
        dead, recent = _start_run(tmp_path)
        dead.kill()
        dead.wait(timeout=10)
        legacy_old = tmp_path / "learnsync-stats-ab_cd123"
        legacy_old.mkdir()
        (legacy_old / "stats-staging.sqlite").write_bytes(b"x")
        _age(legacy_old, staging_module.LEGACY_STALE_AFTER_S + 60)
        legacy_new = tmp_path / "learnsync-stats-zz_yy987"
        legacy_new.mkdir()
        unrelated = tmp_path / "learnsync-stats-report.txt"
        unrelated.write_text("not ours")
        _age(unrelated, staging_module.LEGACY_STALE_AFTER_S * 2)

        removed = remove_abandoned(str(tmp_path))

        assert removed == [str(legacy_old)]
        assert live_folder.is_dir() and recent.is_dir() and legacy_new.is_dir()
        assert unrelated.is_file()
    finally:
        live.kill()
        live.wait(timeout=10)
        for child in (live, dead):
            if child.stdout is not None:
                child.stdout.close()

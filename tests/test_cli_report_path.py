"""An unwritable ``--report-json`` path is refused before the run starts (exit 2, one stderr line
naming the path), not after a whole synchronization was written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_support import run_cli, threesixty_writes
from learnsync.config import load_config
from learnsync.sandbox.process import LEARNSYNC
from learnsync.sandbox.stack import Stack
from learnsync.store.repository import Store
from learnsync.sync.context import store_exists


def _runs(config_path: Path) -> int:
    """Runs recorded in the config's store (0 when there is none yet)."""
    config = load_config(config_path)
    if not store_exists(config.store_url):
        return 0
    store = Store.open(config.store_url)
    try:
        record = store.get_integration(config.integration_key)
        return 0 if record is None else len(store.list_runs(record.id))
    finally:
        store.close()


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "reports"
    path.mkdir()
    return path  # a directory given as the file


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "plain.txt").write_text("not a directory\n")
    return tmp_path / "plain.txt" / "missing" / "report.json"  # a directory that cannot exist


CASES = {"a directory": _directory, "a missing directory under a file": _under_a_file}


def _assert_refused(result_stderr: str, path: Path) -> None:
    lines = result_stderr.splitlines()
    assert len(lines) == 1, result_stderr
    assert lines[0].startswith("learnsync: error: cannot write the report to ")
    assert str(path) in lines[0] and "--report-json" in lines[0]


@pytest.mark.parametrize("case", CASES)
def test_sync_content_refuses_an_unwritable_report_before_writing(
    stack: Stack, config_path: Path, tmp_path: Path, case: str
) -> None:
    path = CASES[case](tmp_path)
    result = run_cli("sync", "content", "--config", config_path, "--report-json", path)
    assert result.exit_code == 2, result.stderr
    assert threesixty_writes(stack) == 0
    assert _runs(config_path) == 0
    _assert_refused(result.stderr, path)


def test_sync_stats_refuses_an_unwritable_report_before_writing(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert run_cli("sync", "content", "--config", config_path).exit_code == 0
    writes, runs = threesixty_writes(stack), _runs(config_path)
    path = _directory(tmp_path)
    result = run_cli("sync", "stats", "--config", config_path, "--report-json", path)
    assert result.exit_code == 2, result.stderr
    assert threesixty_writes(stack) == writes
    assert _runs(config_path) == runs
    _assert_refused(result.stderr, path)


def test_filters_set_refuses_an_unwritable_report_before_saving(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert run_cli("sync", "content", "--config", config_path).exit_code == 0
    writes, runs = threesixty_writes(stack), _runs(config_path)
    path = _under_a_file(tmp_path)
    result = run_cli(
        "filters", "set", "--config", config_path, "--language", "en", "--report-json", path
    )
    assert result.exit_code == 2, result.stderr
    assert threesixty_writes(stack) == writes  # nothing archived
    assert _runs(config_path) == runs
    shown = run_cli("filters", "show", "--config", config_path)
    assert "languages:     (all)" in shown.stdout  # nothing saved
    _assert_refused(result.stderr, path)


def _writes_anyway(folder: Path) -> bool:
    """Whether this process writes into a read-only folder (root with CAP_DAC_OVERRIDE does)."""
    try:
        (folder / "probe").touch()
    except PermissionError:
        return False
    (folder / "probe").unlink()
    return True


def _learnsync_without_override(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The console script in a child process that cannot bypass file permissions: as root,
    util-linux's setpriv drops CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH from its bounding set."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs util-linux's setpriv to test a read-only folder")
    command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", str(LEARNSYNC)]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_a_read_only_folder_is_refused(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    path = folder / "sub" / "report.json"
    argv = ("sync", "content", "--config", config_path, "--report-json", path)
    try:
        if _writes_anyway(folder):  # root: the same command without the permission override
            child = _learnsync_without_override(*argv)
            exit_code, stderr = child.returncode, child.stderr
        else:
            result = run_cli(*argv)
            exit_code, stderr = result.exit_code, result.stderr
    finally:
        folder.chmod(0o755)
    assert exit_code == 2, stderr
    assert threesixty_writes(stack) == 0
    _assert_refused(stderr, path)


def test_missing_directories_that_can_be_created_are_created(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    nested = tmp_path / "a" / "b" / "report.json"
    result = run_cli("sync", "content", "--config", config_path, "--report-json", nested)
    assert result.exit_code == 0, result.stderr
    assert nested.exists()

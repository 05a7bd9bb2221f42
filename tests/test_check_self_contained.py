"""The self-containment check (scripts/check_self_contained.py) that ``./dev lint`` runs.

The paths it must catch are spelled in pieces here, so that this file passes the check itself.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_self_contained.py"
UP, SHARED = "..", "shared"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_self_contained", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load()


@pytest.mark.parametrize(
    "line",
    [
        f'SPEC_DIR = ROOT / "{UP}/{SHARED}/reference/openapi"',
        f"see {SHARED}/SPEC.md §5",
        f"the {SHARED}/reference notes",
        "# SPEC " + "\u00a74: progress never goes backwards",
        "(reference " + "\u00a73.3)",
        "Reference 360 " + "\u00a75.1: the enum",
        'Path("/' + 'work/main/tests")',
        "cache in /" + "root/.cache",
        "/" + "home/someone/learnsync.toml",
        "--workdir /" + "tmp/demo",
        "file:///" + "tmp/x.db",
        "sqlite:////" + "var/tmp/x.db",
    ],
)
def test_flags_references_outside_the_repository(tmp_path: Path, line: str) -> None:
    file = tmp_path / "example.md"
    file.write_text(f"first line\n{line}\n", encoding="utf-8")
    (finding,) = check.findings(file)
    assert finding.startswith(f"{file}:2: ")


@pytest.mark.parametrize(
    "line",
    [
        "#!/usr/bin/env bash",
        'CHROMIUM = os.environ.get("LEARNSYNC_CHROMIUM", "/usr/bin/chromium")',
        "https://app.360learning.com/home/" + "tmp/x",
        "src/learnsync/" + "tmp/x and ../tests/x and ~/" + "work/",
        "the shared HTTP layer",
    ],
)
def test_allows_relative_paths_web_addresses_and_the_allowed_system_paths(
    tmp_path: Path, line: str
) -> None:
    file = tmp_path / "example.md"
    file.write_text(line + "\n", encoding="utf-8")
    assert check.findings(file) == []


def test_exit_status_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(f'X = "{UP}/{SHARED}/seed"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert f"{bad}:1: refers to the folder beside the repository" in result.stderr
    good = tmp_path / "good.py"
    good.write_text('X = Path(__file__).parent / "openapi"\n', encoding="utf-8")
    assert subprocess.run([sys.executable, str(SCRIPT), str(good)], check=False).returncode == 0

"""The product as an acceptance suite drives it: real processes, the simulators started with
`learnsync sandbox serve`, and the `learnsync` console script run with a config file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from learnsync.sandbox.process import LEARNSYNC, sandbox_process


def learnsync(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LEARNSYNC), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def test_sandbox_serve_then_sync_content_in_separate_processes(tmp_path: Path) -> None:
    with sandbox_process("--seed", "5", "--catalog-size", "40") as sandbox:
        assert sandbox["coursera_url"].startswith("http://127.0.0.1:")
        assert sandbox["threesixty_url"].startswith("http://127.0.0.1:")
        config = tmp_path / "learnsync.toml"
        config.write_text(
            sandbox["config"].replace("sqlite:///learnsync.db", f"sqlite:///{tmp_path}/s.db")
        )
        report = tmp_path / "report.json"

        first = learnsync("sync", "content", "--config", config, "--report-json", report)
        assert first.returncode == 0, first.stderr
        created = json.loads(report.read_text())["created"]
        assert created > 0
        assert "content sync:" in first.stdout

        stats = httpx.get(f"{sandbox['threesixty_url']}/_sandbox/stats").json()
        assert stats["courses"] == created

        again = learnsync("sync", "content", "--config", config, "--report-json", report)
        assert again.returncode == 0
        assert json.loads(report.read_text())["unchanged"] == created

        shown = learnsync("filters", "show", "--config", config)
        assert shown.returncode == 0 and "languages in the catalog" in shown.stdout


def test_usage_errors_and_help() -> None:
    unknown = learnsync("sync", "content", "--config", "x.toml", "--no-such-option")
    assert unknown.returncode == 2
    missing = learnsync("sync", "content")
    assert missing.returncode == 2
    assert learnsync("--help").returncode == 0


def test_unreadable_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "dir.toml"
    config.mkdir()
    result = learnsync("sync", "content", "--config", config)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

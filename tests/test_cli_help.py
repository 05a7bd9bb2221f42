"""``learnsync --version`` and the help pages of every command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from learnsync.cli.main import app

LEARNSYNC = Path(sys.executable).with_name("learnsync")


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [str(LEARNSYNC), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"learnsync {version('learnsync')}\n"


def _command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as the words that name it."""
    from learnsync.cli import coursera, sandbox, service  # noqa: F401 - as main() registers them

    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


PATHS = _command_paths()


def test_every_command_is_found() -> None:
    names = {" ".join(p) for p in PATHS}
    assert {"sync content", "sync stats", "filters set", "serve", "sandbox serve"} <= names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "learnsync")
def test_help_shows_no_type_after_flags(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output
    for line in result.output.splitlines():
        words = line.split()
        if words and words[0] in ("--dry-run", "--debug", "--force", "--help", "--version"):
            assert not words[1].startswith("<"), line

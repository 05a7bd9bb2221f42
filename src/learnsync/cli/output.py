"""How the command line talks: one clear stderr line per failure, progress bars on a terminal.

Every line that can carry upstream text (Coursera titles, ids, codes; 360Learning's errors) goes
through :func:`shown`, which makes control characters, escape sequences and bidi controls visible
escapes (docs/security.md#untrusted-text): a value can neither drive the terminal nor break the
one-line-per-failure rule of docs/contract.md#stderr.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from learnsync.errors import ConfigError
from learnsync.model.untrusted import terminal_text

MAX_ITEM_LINES = 50


def shown(text: object) -> str:
    """Text for the terminal (:func:`~learnsync.model.untrusted.terminal_text`)."""
    return terminal_text(text)


def error_line(message: str) -> None:
    print(f"learnsync: error: {shown(message)}", file=sys.stderr)


def warning_line(message: str) -> None:
    print(f"learnsync: warning: {shown(message)}", file=sys.stderr)


def item_failures(failed: list[dict[str, str]]) -> None:
    """One stderr line per failed item (the first 50; the report has them all)."""
    for entry in failed[:MAX_ITEM_LINES]:
        who = entry.get("externalId", "")
        if entry.get("learner"):
            who += f" / {entry['learner']}"
        print(f"learnsync: failed: {shown(who)}: {shown(entry.get('error', ''))}", file=sys.stderr)
    if len(failed) > MAX_ITEM_LINES:
        print(
            f"learnsync: failed: … and {len(failed) - MAX_ITEM_LINES} more (see --report-json)",
            file=sys.stderr,
        )


def check_report_path(path: Path | None) -> None:
    """Refuse a ``--report-json`` path that cannot be written, before the run writes anything.

    Nothing is created: a file that exists is opened for appending (its content kept), else the
    nearest existing parent must be a directory in which a file can be created (the missing
    directories are created when the report is written, docs/contract.md).
    """
    if path is None:
        return
    fix = "choose another --report-json path"
    if path.is_dir():
        raise ConfigError(f"cannot write the report to {path}: it is a directory: {fix}")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    where = path if path.exists() else parent
    if not path.exists() and not parent.is_dir():
        raise ConfigError(f"cannot write the report to {path}: {parent} is not a directory: {fix}")
    try:
        if where is path:
            with path.open("a", encoding="utf-8"):
                pass
        else:
            with tempfile.TemporaryFile(dir=parent):
                pass
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report to {path}: {where}: {exc.strerror or exc}: {fix}"
        ) from None


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {path}: {exc.strerror or exc}") from None


class TerminalProgress:
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> TerminalProgress:
        if sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def stage(self, name: str, total: int | None = None) -> None:
        if self._bar is None:
            return
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(name, total=total)

    def advance(self, units: int = 1, total: int | None = None) -> None:
        if self._bar is None or self._task is None:
            return
        if total is not None:
            self._bar.update(self._task, total=total)
        if units:
            self._bar.advance(self._task, units)

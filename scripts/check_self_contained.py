#!/usr/bin/env python3
"""Fail when a tracked file depends on something outside the repository.

A clone in an empty folder must work on any machine, so no tracked file may point at the folder
beside the repository that the development machines happen to have (the sibling "shared" folder:
its reference documents and specification), nor cite those documents' sections, nor point at a
fixed path of one machine: a home, root or
work folder, a temporary folder, or a system folder. System paths that are used on purpose are
listed in ALLOWED, each with its reason; nothing else is exempt.

Usage: scripts/check_self_contained.py [FILE ...]   (default: every file `git ls-files` lists)
Prints one ``file:line: message`` per finding and exits 1 when there is any, 0 otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (pattern, message). The patterns are spelled so that this file does not match them itself.
SIBLING = "shared"
SECTION = "\u00a7"  # the section sign
MACHINE_DIRS = ("work", "root", "home", "Users", "tmp", "mnt", "srv", "opt", "usr", "etc", "var")
RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"\.\./" + SIBLING + r"\b"),
        "refers to the folder beside the repository; copy what is needed into the repository",
    ),
    (
        re.compile(r"\b" + SIBLING + r"/(?:reference|SPEC)"),
        "refers to the development machines' shared folder; copy what is needed here",
    ),
    (
        # "SPEC", "reference" or "Reference 360" then a section sign: a section of a document that
        # is not here
        re.compile(r"\b(?:SPEC|[Rr]eference(?: 360| Coursera)?)\s*" + SECTION),
        "cites a document that is not in the repository; link the docs/ page and heading instead",
    ),
    (
        # an absolute path of a machine: not inside a relative path (a/tmp/b) or a web address
        re.compile(r"(?<![\w.~-])/(?:" + "|".join(MACHINE_DIRS) + r")/"),
        "a fixed path of one machine; use a path relative to the repository (or tmp_path), or add "
        "it to ALLOWED in scripts/check_self_contained.py with its reason",
    ),
]

# System paths used on purpose: (exact text, reason). Keep this list short.
ALLOWED: list[tuple[str, str]] = [
    ("#!/usr/bin/env ", "a script's interpreter, looked up on PATH"),
    (
        "/usr/bin/chromium",
        "Debian's chromium package installs it there: the browser tests' default "
        "(LEARNSYNC_CHROMIUM overrides it)",
    ),
    ("/etc/postgresql", ".ci/run finds the Debian PostgreSQL cluster to start under it"),
    (
        "sqlite:////var/lib/learnsync/",
        "docs/store.md's example of an absolute SQLite URL on a server, not a path of ours",
    ),
]

WEB_ADDRESS = re.compile(r"\bhttps?://[^\s\"'<>()\[\]`]*")


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def _mask(line: str) -> str:
    """Blank out web addresses and allowed system paths (keeping columns)."""
    line = WEB_ADDRESS.sub(lambda m: " " * len(m.group()), line)
    for text, _reason in ALLOWED:
        line = line.replace(text, " " * len(text))
    return line


def findings(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return []  # binary files, and files deleted but not yet staged
    try:
        name = path.relative_to(ROOT).as_posix()
    except ValueError:
        name = str(path)
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        masked = _mask(line)
        for pattern, message in RULES:
            match = pattern.search(masked)
            if match:
                quoted = line[match.start() : match.start() + 40].strip()
                found.append(f"{name}:{number}: {message}: {quoted!r}")
                break  # one finding per line
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] if argv else tracked_files()
    problems = [problem for path in paths for problem in findings(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"check_self_contained: {len(problems)} reference(s) to files outside the "
            "repository (a fresh clone would not have them)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

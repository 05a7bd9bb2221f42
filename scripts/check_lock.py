#!/usr/bin/env python3
"""Fail when requirements/dev.lock does not fit pyproject.toml's dependencies.

Every dependency of learnsync and of its ``dev`` extra must be pinned in the lock, at a version
inside the range pyproject.toml allows. Run by ``./dev setup`` (after installing) and by
``./dev lint``; the fix is ``./dev lock``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ModuleNotFoundError:  # a bare venv (./dev lock): pip's own copy
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def problems() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    if not LOCK.exists():
        return [f"{LOCK.relative_to(ROOT)} is missing"]
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    found = []
    for text in wanted:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            found.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            found.append(f"{requirement.name}=={pinned} is outside {requirement.specifier}")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(f"requirements/dev.lock: {problem}", file=sys.stderr)
    if found:
        print("check_lock: the lock does not fit pyproject.toml: run ./dev lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

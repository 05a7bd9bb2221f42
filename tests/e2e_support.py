"""Shared support for the end-to-end tests: simulators on loopback and the CLI in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from learnsync.mapping.content import MappedCourse, SkippedCourse, map_content
from learnsync.model.coursera import Content
from learnsync.sandbox.stack import Stack
from learnsync.service.core import Service
from learnsync.store.records import IntegrationRecord


def store_record(service: Service, integration_id: int) -> IntegrationRecord | None:
    """The pipelines' record (filters, runs, content state) of a service integration, found as
    the web pages find it: by its id (one row), without decrypting the integration's secrets."""
    return service.store.get_integration(integration_id)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None


def run_cli(*args: str | Path, report: Path | None = None) -> CliResult:
    """Run ``learnsync ARGS`` in-process; with ``report``, add --report-json and read it back."""
    from learnsync.cli import sandbox as _sandbox  # noqa: F401 - registers its commands
    from learnsync.cli.main import app

    argv = [str(a) for a in args]
    if report is not None:
        report.unlink(missing_ok=True)
        argv += ["--report-json", str(report)]
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    data = json.loads(report.read_text()) if report is not None and report.exists() else None
    return CliResult(result.exit_code, result.stdout, result.stderr, data)


WRITE_METHODS = ("PUT ", "POST ", "DELETE ", "PATCH ")


def threesixty_writes(stack: Stack) -> int:
    """Write requests the 360Learning simulator received (the token request is not a write)."""
    counts = stack.threesixty.request_counts
    return sum(
        n
        for route, n in counts.items()
        if route.startswith(WRITE_METHODS) and "oauth2/token" not in route
    )


def expected_catalog(stack: Stack) -> tuple[dict[str, MappedCourse], dict[str, SkippedCourse]]:
    """What the content mapping makes of the simulator's current catalog (first occurrence wins)."""
    mapped: dict[str, MappedCourse] = {}
    skipped: dict[str, SkippedCourse] = {}
    for item in stack.coursera.catalog_items():
        row = map_content(Content.model_validate(item))
        if not row.external_id or row.external_id in mapped or row.external_id in skipped:
            continue
        if isinstance(row, MappedCourse):
            mapped[row.external_id] = row
        else:
            skipped[row.external_id] = row
    return mapped, skipped


def courses_of(stack: Stack) -> dict[str, Any]:
    """The simulator's external courses by externalId."""
    return {course.external_id: course for course in stack.threesixty.courses}


def iter_mapped(stack: Stack) -> Iterator[MappedCourse]:
    yield from expected_catalog(stack)[0].values()


def _csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


def admin_login(client: TestClient, password: str = "admin-password-1") -> str:
    """Log ``admin`` in through the login form; returns the session's CSRF token."""
    token = _csrf_token(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": "admin", "password": password, "csrf_token": token}
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/integrations"
    return _csrf_token(client.get("/integrations").text)


@dataclass(frozen=True)
class EndState:
    """What 360Learning holds: its integrations, its courses (status, payload) by externalId,
    and the attempts of each (course externalId, learner e-mail)."""

    integrations: list[str]
    courses: dict[str, tuple[str, str]]
    attempts: dict[tuple[str, str], list[tuple[Any, ...]]]


def end_state(stack: Stack) -> EndState:
    """The simulator's state, comparable across two worlds of one seed: the generated dates are
    kept relative to the report's anchor (the day the world was made); a date past the anchor
    is one learnsync set from its own clock (when it first saw a pair without dates), the same
    marker in both worlds."""
    sim, anchor = stack.threesixty, stack.coursera.report.anchor_ms

    def moment(ms: int) -> int | str:
        return ms - anchor if ms <= anchor else "learnsync's clock"

    with sim.lock:
        integrations = sorted(i.name for i in sim.integrations.values())
        courses = {
            c.external_id: (c.status, json.dumps(c.data, sort_keys=True)) for c in sim.courses
        }
        attempts: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for a in sim.attempts.ordered:
            pair = (sim.courses[a.course].external_id, str(sim.user_dto(a.user)["mail"]))
            attempts.setdefault(pair, []).append(
                (
                    a.progress,
                    a.spent,
                    a.score,
                    a.lang,
                    moment(a.first),
                    moment(a.last),
                    moment(a.completed) if a.is_completed else None,
                )
            )
    return EndState(integrations, courses, attempts)


def assert_same(got: EndState, want: EndState) -> None:
    """Equal states, said briefly when they are not (thousands of entries)."""
    assert got.integrations == want.integrations
    assert len(got.courses) == len(want.courses)
    differ = sorted(
        k
        for k in want.courses.keys() | got.courses.keys()
        if got.courses.get(k) != want.courses.get(k)
    )
    assert not differ, f"{len(differ)} courses differ from a clean run's, e.g. {differ[:3]}"
    twice = sorted(p for p, a in got.attempts.items() if len(a) > len(want.attempts.get(p, [])))
    assert not twice, f"{len(twice)} pairs have an attempt more than after a clean run: {twice[:3]}"
    pairs = want.attempts.keys() | got.attempts.keys()
    differ_pairs = sorted(p for p in pairs if got.attempts.get(p) != want.attempts.get(p))
    assert not differ_pairs, (
        f"{len(differ_pairs)} pairs' attempts differ from a clean run's, e.g. "
        + "; ".join(
            f"{p}: {got.attempts.get(p)} vs {want.attempts.get(p)}" for p in differ_pairs[:3]
        )
    )

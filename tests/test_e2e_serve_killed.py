"""``kill -9`` of ``learnsync serve`` in the middle of a content run, a statistics run and a
filter save; then a new ``serve`` process and the same run again.

Both simulators run in the test process (``running_stack``); ``learnsync serve`` is a
subprocess on the test's store, driven over HTTP as an administrator would (the JSON API, the
filter form). The run is killed once it reached a kill point — a stage of its row, a page of the
Coursera read, a share of a bulk operation applied by 360Learning — drawn from a seeded random,
with the simulators slowed (page delays, longer bulk operation phases, held answers) so that the
kill lands mid-run. Then:

(a) the new process's executor expires the dead lease as it starts (``RunJobs.claim_next``):
    the killed run is ``failed`` with the reason ``gone_reason`` gives (its pid, its last
    heartbeat), not after the lease's lifetime;
(b) the same run submitted again is neither refused nor queued behind the dead one: it ends
    ``succeeded`` within a minute (the dead lease would live 2 minutes, a queue wait 2 hours);
(c) the 360Learning simulator ends where an uninterrupted run of the same world ends (a clean
    run in a second fresh world of the same seed, made once for the module): the same courses
    with the same status and payload, the same attempts per (course, learner) — a statistic
    sent again may update an attempt, never open a second one.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import httpx2
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from e2e_support import EndState, admin_login, assert_same, end_state
from learnsync.config import parse_config
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.secrets import SecretBox
from learnsync.store.jobs import JobRecord, RunJobs
from learnsync.store.models import StatItem
from learnsync.store.repository import Store

# 1,060 mapped courses (one upsert request); the filter on fr archives 1,011 of them (two archive
# requests: 1,000 and 11); 25 pages of enrollment reports, 23,712 statistics to send (three
# import requests: 10,000, 10,000, 3,712); every learner known to 360Learning, so that a clean
# statistics run succeeds
WORLD = World(
    seed=7, catalog_size=1080, learners=2000, enrollments=25_000, unknown_learner_ratio=0.0
)
FILTER = "fr"
UPSERTS, ARCHIVES, STATS, PAGES = 1060, 1011, 23_712, 25
PHASE = 0.05  # the 360Learning simulator's default bulk operation phase (seconds)
FINAL = ("succeeded", "partial", "failed", "cancelled")
SERVE = (sys.executable, "-m", "learnsync", "serve")
RUN_TIMEOUT = 60.0  # seconds any wait of this module may take before it fails

# the kill points: one seeded draw, so the test ids (and kills) are the same on every run
DRAW = random.Random(20_240_611)

T = TypeVar("T")


# ---------------------------------------------------------------------- the end state


# ---------------------------------------------------------------------- kill points


@dataclass(frozen=True)
class Seen:
    """What a kill point looks at: the simulators, the run's row, the store."""

    stack: Stack
    row: JobRecord
    store: Store


@dataclass(frozen=True)
class KillPoint:
    """Where a run is killed: ``reached(seen)`` is true (polled every 10 ms while the run is
    ``running``); ``slow(stack)`` makes the simulators slow enough that it is reached before
    the run ends."""

    kind: str  # content, stats, filters
    name: str
    reached: Callable[[Seen], bool]
    slow: Callable[[Stack], None]

    def __str__(self) -> str:
        return f"{self.kind}-{self.name}"


def _pages(route: str, delay: float) -> Callable[[Stack], None]:
    def slow(stack: Stack) -> None:
        stack.coursera.faults.add(Fault(path=f"/{route}$", kind="slow", delay=delay, times=-1))

    return slow


def _page_asked(route: str, page: int, stage: str | None = None) -> Callable[[Seen], bool]:
    def reached(seen: Seen) -> bool:
        if stage is not None and seen.row.stage != stage:
            return False
        return seen.stack.coursera.stats_snapshot().get(route, 0) >= page

    return reached


def _answers_held(stack: Stack) -> None:
    # the polls of bulk operations (and their results) wait 3 s: what 360Learning applied does
    # not reach the run before the kill; the simulators' stop waits for them (3 s at most)
    stack.threesixty.faults.add(Fault(path="/bulk/operations", kind="slow", delay=3, times=-1))


def _long_phases(seconds: float) -> Callable[[Stack], None]:
    def slow(stack: Stack) -> None:
        stack.threesixty.phase_seconds = seconds

    return slow


def _submits_after_the_first(
    method: str, route: str, *, phase: float, hold: float
) -> Callable[[Stack], None]:
    """Operations of ``phase`` s phases, every submit after the first one held ``hold`` s: the
    first operation's results reach the run while the next ones are not applied yet."""

    def slow(stack: Stack) -> None:
        stack.threesixty.phase_seconds = phase
        stack.threesixty.faults.add(
            Fault(path=route, method=method, kind="slow", delay=hold, skip=1, times=-1)
        )

    return slow


def _in_flight(op_type: str, share: float) -> Callable[[Seen], bool]:
    """An operation of ``op_type`` submitted, ``share`` of its way to being applied."""

    def reached(seen: Seen) -> bool:
        sim = seen.stack.threesixty
        with sim.lock:
            now = sim.clock.time()
            return any(
                op.type == op_type and now - op.created >= share * 3 * op.phase
                for op in sim.operations.values()
            )

    return reached


def _courses_applied(count: int) -> Callable[[Seen], bool]:
    def reached(seen: Seen) -> bool:
        with seen.stack.threesixty.lock:
            return len(seen.stack.threesixty.courses) >= count

    return reached


def _stats_applied(count: int) -> Callable[[Seen], bool]:
    return lambda seen: seen.stack.threesixty.stats_applied >= count


def _archives_applied(count: int) -> Callable[[Seen], bool]:
    return lambda seen: _archived(seen.stack) >= count


def _archived(stack: Stack) -> int:
    with stack.threesixty.lock:
        return sum(1 for c in stack.threesixty.courses if c.status == "archived")


def _stage_done(stage: str, done: int) -> Callable[[Seen], bool]:
    return lambda seen: seen.row.stage == stage and seen.row.done >= done


def _stats_stored(count: int) -> Callable[[Seen], bool]:
    """The store holds ``count`` statistics accepted by 360Learning (a batch's results saved)."""

    def reached(seen: Seen) -> bool:
        if seen.row.stage != "sending statistics to 360Learning":
            return False
        table = StatItem.__table__
        with seen.store.engine.connect() as conn:
            sent = conn.execute(select(func.count()).where(table.c.state == "sent")).scalar_one()
        return int(sent) >= count

    return reached


def _kill_points() -> list[KillPoint]:
    catalog_page = DRAW.randint(1, 2)
    upsert_share = round(DRAW.uniform(0.1, 0.9), 2)
    upserted = DRAW.choice([500, 1000, UPSERTS])  # the simulator applies 500 items at a time
    report_page = DRAW.randint(2, PAGES - 3)
    stats_applied = DRAW.randint(1, 10_000)
    archived = DRAW.randint(1, 1000)
    archive_share = round(DRAW.uniform(0.1, 0.9), 2)
    return [
        KillPoint(
            "content",
            f"catalog-page-{catalog_page}",
            _page_asked("contents", catalog_page, "reading the Coursera catalog"),
            _pages("contents", 0.5),
        ),
        KillPoint(
            "content",
            f"upsert-in-flight-{upsert_share}",
            _in_flight("importExternalCourses", upsert_share),
            _long_phases(0.5),
        ),
        KillPoint(
            "content", f"upsert-applied-{upserted}", _courses_applied(upserted), _answers_held
        ),
        KillPoint(
            "stats",
            f"report-page-{report_page}",
            _page_asked("enrollmentReports", report_page),
            _pages("enrollmentReports", 0.1),
        ),
        KillPoint(
            "stats",
            f"import-applied-{stats_applied}",
            _stats_applied(stats_applied),
            _answers_held,
        ),
        KillPoint(
            "stats",
            "first-import-stored",
            _stats_stored(10_000),
            _submits_after_the_first(
                "POST", r"/bulk/integrations/[^/]+/stats$", phase=0.6, hold=1.0
            ),
        ),
        KillPoint(
            "filters",
            f"archive-applied-{archived}",
            _archives_applied(archived),
            _answers_held,
        ),
        KillPoint(
            "filters",
            f"archive-in-flight-{archive_share}",
            _in_flight("archiveExternalCourses", archive_share),
            _long_phases(0.5),
        ),
        KillPoint(
            "filters",
            "first-archive-answered",
            _stage_done("archiving courses", 1000),
            # the second (last) archive created 2 s after the first: the run cannot end sooner
            _submits_after_the_first(
                "DELETE", r"/bulk/integrations/[^/]+/courses$", phase=0.6, hold=2.0
            ),
        ),
    ]


KILL_POINTS = _kill_points()


def _normal(stack: Stack) -> None:
    """The simulators as they were before ``KillPoint.slow``."""
    stack.coursera.faults.clear()
    stack.threesixty.faults.clear()
    stack.threesixty.phase_seconds = PHASE


# ---------------------------------------------------------------------- serve, as a process


def _until(what: str, check: Callable[[], T | None], timeout: float = RUN_TIMEOUT) -> T:
    """Poll ``check`` until it returns something; fail after ``timeout`` s saying ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.01)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """One ``learnsync serve --no-scheduler`` process on the store, its log in ``log``, and an
    administrator's session on it (``http``, ``csrf``)."""

    def __init__(self, store_url: str, key: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNSYNC_")}
        env["LEARNSYNC_SECRET_KEY"] = key
        port = _free_port()
        self.log_path = log
        self._log: IO[bytes] = log.open("ab")
        self.proc = subprocess.Popen(
            [*SERVE, "--store", store_url, "--no-scheduler", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.http = httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.csrf = ""

    def ready(self) -> Serve:
        """Wait until it answers, then sign the administrator in."""
        _until(f"serve (pid {self.proc.pid}) answering /healthz", self._healthy)
        # admin_login drives any httpx2 client (TestClient is one): here a live server
        self.csrf = admin_login(cast(TestClient, self.http))
        return self

    def _healthy(self) -> bool | None:
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited ({self.proc.returncode}):\n{self.tail()}")
        try:
            return True if self.http.get("/healthz").status_code == 200 else None
        except httpx2.TransportError:
            return None

    def tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def run(self, run_id: int) -> dict[str, Any]:
        answer = self.http.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        return cast(dict[str, Any], answer.json())

    def submit(self, kind: str) -> int:
        """Submit a run as the administrator does: ``POST /api/integrations/1/sync/{kind}``, or
        the filter form's save (``confirm=1``) for a filter save; its id."""
        if kind == "filters":
            form = {"csrf_token": self.csrf, "which": "languages", "value": FILTER, "confirm": "1"}
            answer = self.http.post("/integrations/1/filters", data=form)
            assert answer.status_code == 303, answer.text
            return int(answer.headers["location"].rsplit("/", 1)[1])
        answer = self.http.post(
            f"/api/integrations/1/sync/{kind}", headers={"x-csrf-token": self.csrf}
        )
        assert answer.status_code == 202, answer.text
        return int(answer.json()["id"])

    def finished(self, run_id: int) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited ({self.proc.returncode}):\n{self.tail()}")
            run = self.run(run_id)
            return run if run["status"] in FINAL else None

        return _until(f"run {run_id} ending", ended)

    def succeeded(self, kind: str) -> dict[str, Any]:
        run = self.finished(self.submit(kind))
        assert run["status"] == "succeeded", (run, self.tail())
        return run

    def kill(self) -> int:
        """``kill -9``; the pid it had."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        return self.proc.pid

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._log.close()


@dataclass
class Site:
    """A fresh world, a store with an administrator and the integration, and the ``serve``
    processes started on them (all stopped at the end of the test)."""

    stack: Stack
    store_url: str
    key: str
    workdir: Path
    cleanup: ExitStack
    store: Store = field(init=False)
    started: int = 0

    def __post_init__(self) -> None:
        box = SecretBox(self.key.encode())
        service = Service(self.store_url, box)
        try:
            service.auth.create_user("admin", "admin-password-1")
            raw = tomllib.loads(self.stack.config_toml(self.store_url))
            service.integrations.save(input_from_config(parse_config(raw), "Coursera"))
        finally:
            service.close()
        self.store = Store.open(self.store_url)
        self.cleanup.callback(self.store.close)

    def serve(self) -> Serve:
        self.started += 1
        serve = Serve(self.store_url, self.key, self.workdir / f"serve-{self.started}.log")
        self.cleanup.callback(serve.close)
        return serve.ready()

    def row(self, run_id: int) -> JobRecord:
        job = RunJobs(self.store.engine).get(run_id)
        assert job is not None
        return job


def _site(stack: Stack, workdir: Path, cleanup: ExitStack) -> Site:
    key = Fernet.generate_key().decode()
    return Site(stack, f"sqlite:///{workdir / 'store.db'}", key, workdir, cleanup)


# ---------------------------------------------------------------------- the clean run


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EndState]:
    """360Learning after uninterrupted runs in a fresh world of the same seed: a content run
    (``content``), then a statistics run (``stats``), then the filter save (``filters``)."""
    workdir = tmp_path_factory.mktemp("clean")
    states: dict[str, EndState] = {}
    with running_stack(WORLD) as stack, ExitStack() as cleanup:
        site = _site(stack, workdir, cleanup)
        serve = site.serve()
        for kind in ("content", "stats", "filters"):
            serve.succeeded(kind)
            states[kind] = end_state(stack)
    content, stats, filters = states["content"], states["stats"], states["filters"]
    assert len(content.courses) == UPSERTS and content.attempts == {}
    assert sum(len(a) for a in stats.attempts.values()) == STATS
    assert sum(1 for status, _ in filters.courses.values() if status == "archived") == ARCHIVES
    return states


@pytest.fixture
def stack() -> Iterator[Stack]:
    with running_stack(WORLD) as running:
        yield running


# ---------------------------------------------------------------------- the test


@pytest.mark.parametrize("point", KILL_POINTS, ids=str)
def test_a_run_killed_with_serve_fails_with_a_reason_and_runs_again_to_a_clean_end(
    point: KillPoint, stack: Stack, clean: dict[str, EndState], tmp_path: Path
) -> None:
    with ExitStack() as cleanup:
        site = _site(stack, tmp_path, cleanup)
        first = site.serve()
        if point.kind != "content":
            first.succeeded("content")  # a statistics run and a filter save follow one

        point.slow(stack)
        run_id = first.submit(point.kind)

        def at_kill_point() -> JobRecord | None:
            row = site.row(run_id)
            if row.status in FINAL:
                pytest.fail(f"run {run_id} ended ({row.status}) before {point}: {first.tail()}")
            if row.status != "running":
                return None
            return row if point.reached(Seen(stack, row, site.store)) else None

        _until(f"run {run_id} reaching {point}", at_kill_point)
        pid = first.kill()
        killed = site.row(run_id)
        assert killed.status == "running", "the kill landed after the run ended"
        _normal(stack)

        # (a) the new process's executor expires the dead process's lease as it starts
        second = site.serve()
        failed = _until(
            f"run {run_id} shown failed",
            lambda: run if (run := second.run(run_id))["status"] != "running" else None,
            timeout=30,
        )
        assert failed["status"] == "failed", failed
        reason = rf"the process running it \(pid {pid}\) stopped: last heartbeat [\d-]+ [\d:]+ UTC"
        assert re.fullmatch(reason, failed["error"] or ""), failed["error"]
        assert failed["finished_at"] is not None

        # (b) the same run again: not refused, not queued behind the dead one; it succeeds
        again = second.succeeded(point.kind)
        assert again["id"] > run_id and again["kind"] == point.kind
        assert site.row(run_id).status == "failed"  # the killed run stays what it was shown

    # (c) 360Learning as after an uninterrupted run (the clean world's)
    want = clean[point.kind]
    if point.kind == "filters":  # the clean world's statistics run came before its filter save
        want = dataclasses.replace(want, attempts={})
    assert_same(end_state(stack), want)

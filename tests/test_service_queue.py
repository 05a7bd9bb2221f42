"""The service's runs are jobs on the queue: the web app and the scheduler only submit, a
bounded pool executes; queued rows exist before anything runs, cancel works on queued and running
runs, 50 due integrations never mean 50 threads, and runs left queued by a stopped service run
when the next one starts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.errors import ConfigError
from learnsync.service.core import Service
from learnsync.service.integrations import IntegrationInput
from learnsync.service.runs import run_workers_from_env
from learnsync.service.scheduler import Scheduler
from learnsync.service.secrets import SecretBox
from learnsync.store.jobs import JobRecord, RunJobs
from learnsync.web import create_app
from service_support import sample_input


def integration(n: int) -> IntegrationInput:
    return sample_input(label=f"Coursera {n}", coursera_org_id=f"org-{n}", group_id=f"{n:024x}")


class Pipelines:
    """Fake pipelines (the typed seam): each run waits for ``gate``, stepping its progress so a
    cancel request can stop it; what ran, and how many ran at once, is recorded."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.ran: list[tuple[int, str]] = []
        self.threads: set[str] = set()
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, kind: str) -> Any:
        def run(config: Any, progress: Any, ticket: Any, params: dict[str, Any]) -> None:
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.threads.add(threading.current_thread().name)
            self.started.set()
            try:
                progress.stage("working", total=None)
                while not self.gate.wait(0.02):
                    progress.stage("working")  # a step: where a cancel request is seen
                with self._lock:
                    self.ran.append((ticket.run_id, kind))
            finally:
                with self._lock:
                    self.now -= 1

        return run

    def kinds(self) -> dict[str, Any]:
        return {kind: self(kind) for kind in ("content", "stats", "filters")}


@pytest.fixture
def pipelines() -> Pipelines:
    return Pipelines()


@pytest.fixture
def service(tmp_path: Path, pipelines: Pipelines) -> Iterator[Service]:
    svc = Service(
        f"sqlite:///{tmp_path / 'queue.db'}",
        SecretBox.generate(),
        pipelines=pipelines.kinds(),
        workers=2,
    )
    svc.integrations.save(integration(1))
    yield svc
    pipelines.gate.set()
    svc.close()


@pytest.fixture
def client(service: Service) -> TestClient:
    service.auth.create_user("admin", "admin-password-1")
    client = TestClient(create_app(service), follow_redirects=False)
    client.headers["X-CSRF-Token"] = admin_login(client)  # the JSON API's CSRF header
    return client


def job(service: Service, run_id: int) -> JobRecord:
    found = service.runs.get(run_id)
    assert found is not None
    return found


def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_submitted_run_is_a_queued_row_behind_the_running_one(
    service: Service, client: TestClient, pipelines: Pipelines
) -> None:
    first = client.post("/api/integrations/1/sync/content")
    assert first.status_code == 202
    running = first.json()
    assert running["status"] in ("queued", "running") and running["trigger"] == "manual"
    assert pipelines.started.wait(10)
    second = client.post("/api/integrations/1/sync/stats").json()
    assert second["status"] == "queued" and second["queued_at"]
    # the pool has a free worker, but the integration's lease is held: it waits in the queue
    time.sleep(0.3)
    assert client.get(f"/api/runs/{second['id']}").json()["status"] == "queued"
    live = client.get("/api/integrations/1/progress").json()
    assert (live["id"], live["status"], live["stage"]) == (running["id"], "running", "working")
    assert live["heartbeat_at"]
    page = client.get("/integrations/1/runs").text
    assert "queued" in page and "Cancel run" in page

    pipelines.gate.set()
    service.runs.wait()
    assert [kind for _, kind in pipelines.ran] == ["content", "stats"]
    assert client.get(f"/api/runs/{second['id']}").json()["status"] == "succeeded"


def test_cancel_a_queued_run_at_once_and_a_running_one_at_its_next_step(
    service: Service, client: TestClient, pipelines: Pipelines
) -> None:
    running = client.post("/api/integrations/1/sync/content").json()["id"]
    assert pipelines.started.wait(10)
    queued = client.post("/api/integrations/1/sync/stats").json()["id"]

    answer = client.post(f"/api/runs/{queued}/cancel")
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    asked = client.post(f"/api/runs/{running}/cancel").json()
    assert asked["cancel_requested"] is True
    # shown "cancelling…" until its next progress step (every 20 ms here) stops it
    assert (asked["status"], asked["shown"]) in (("running", "cancelling…"), ("cancelled",) * 2)
    _until(lambda: job(service, running).status == "cancelled")
    assert "cancelled while it ran" in (job(service, running).error or "")
    assert pipelines.ran == []  # neither finished its work; the queued one never started
    assert client.get("/api/runs/999999").status_code == 404
    assert client.post("/api/runs/999999/cancel").status_code == 404


def test_the_cancel_button_of_the_run_page(
    service: Service, client: TestClient, pipelines: Pipelines
) -> None:
    running = client.post("/api/integrations/1/sync/content").json()["id"]
    assert pipelines.started.wait(10)
    page = client.get(f"/integrations/1/runs/{running}").text
    assert f'action="/runs/{running}/cancel"' in page
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    api_token = client.headers.pop("X-CSRF-Token")  # the form's own token, as a browser sends
    answer = client.post(f"/runs/{running}/cancel", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/integrations/1/runs/{running}"
    shown = client.get(answer.headers["location"]).text  # asked; stopped at its next step
    assert "cancelling…" in shown or "cancelled while it ran" in shown
    _until(lambda: job(service, running).status == "cancelled")
    # without the form's token the cancel is refused
    other = client.post(
        "/api/integrations/1/sync/content", headers={"X-CSRF-Token": api_token}
    ).json()["id"]
    assert client.post(f"/runs/{other}/cancel", data={}).status_code == 403
    assert job(service, other).cancel_requested is False


def test_fifty_due_integrations_are_fifty_queued_runs_on_a_pool_of_three(
    tmp_path: Path, pipelines: Pipelines
) -> None:
    clock_now = [datetime(2024, 3, 29, 12, 0, tzinfo=UTC)]
    svc = Service(
        f"sqlite:///{tmp_path / 'fifty.db'}",
        SecretBox.generate(),
        clock=lambda: clock_now[0],
        pipelines=pipelines.kinds(),
        workers=3,
    )
    try:
        ids = [svc.integrations.save(integration(n)) for n in range(1, 51)]
        for iid in ids:
            svc.repo.set_schedule(iid, "content", time_of_day="13:00", timezone="UTC", enabled=True)
            svc.repo.set_schedule(iid, "stats", time_of_day="23:00", timezone="UTC", enabled=False)
        threads_before = threading.active_count()
        scheduler = Scheduler(svc.repo, svc.runs, clock=lambda: clock_now[0])
        assert scheduler.tick() == []
        clock_now[0] = datetime(2024, 3, 29, 13, 1, tzinfo=UTC)
        started = scheduler.tick()
        assert sorted(s.integration_id for s in started) == ids
        jobs = RunJobs(svc.store.engine)
        _until(lambda: pipelines.now == 3)
        queued = jobs.queued()
        assert len(queued) == 47 and {j.trigger for j in queued} == {"schedule"}
        # the pool, its dispatcher and each running run's heartbeat: not one thread per slot
        assert threading.active_count() - threads_before <= 3 + 1 + 3

        pipelines.gate.set()
        _until(lambda: len(pipelines.ran) == 50, timeout=60)
        svc.runs.wait()
        assert pipelines.most == 3 and len(pipelines.threads) == 3
        # nothing is kept in memory per run once it ended (a service runs for months)
        _until(lambda: not svc.runs._submitted)
        assert {job(svc, svc.store.last_run_id(iid)).status for iid in ids} == {"succeeded"}
    finally:
        pipelines.gate.set()
        svc.close()


def test_runs_left_queued_by_a_stopped_service_run_when_the_next_one_starts(
    tmp_path: Path, pipelines: Pipelines
) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    box = SecretBox.generate()
    first = Service(url, box, pipelines=pipelines.kinds())
    first.integrations.save(integration(1))
    # submitted (e.g. by a filter save) just before the service stopped: no executor ran it
    waiting = RunJobs(first.store.engine).submit(
        1, "filters", "filters", params={"languages": ["fr"], "content_types": []}
    )
    first.close()

    pipelines.gate.set()
    again = Service(url, box, pipelines=pipelines.kinds())
    try:
        again.runs.start_executor()  # what `serve` does at start
        _until(lambda: job(again, waiting).status == "succeeded")
        assert pipelines.ran == [(waiting, "filters")]
    finally:
        again.close()


@pytest.mark.parametrize(
    ("value", "size"),
    [("", 2), ("1", 1), (" 8 ", 8), ("64", 64), ("0", None), ("65", None), ("two", None)],
)
def test_run_workers_from_the_environment(value: str, size: int | None) -> None:
    env = {"LEARNSYNC_RUN_WORKERS": value}
    if size is None:
        with pytest.raises(ConfigError, match="LEARNSYNC_RUN_WORKERS"):
            run_workers_from_env(env)
    else:
        assert run_workers_from_env(env) == size

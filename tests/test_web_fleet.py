"""The fleet as the admin app shows it: ``/metrics`` (queue depth, runs running, poison runs,
workers alive, fleet or not, the scheduler, the limiters' saturation per company), the
Integrations page's fleet box and per-integration limits, and a run's worker and attempt on its
page and in ``/api/runs/{id}`` — from a SQLite store with faked workers, roles and runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from e2e_support import admin_login
from learnsync.http.shared import SharedLimits, company_key
from learnsync.service.core import Service
from learnsync.service.secrets import SecretBox
from learnsync.store.fleet import ALIVE, Roles, Workers, is_poison, queue_counts
from learnsync.store.jobs import LEASE_TTL, RunJobs
from learnsync.web import create_app
from learnsync.web.fleet import process_of
from learnsync.web.security import METRICS_TOKEN_ENV
from service_support import sample_input
from store_support import Clock

PASSWORD = "admin-password-1"
RUNNING_OWNER = "host-a:4242:deadbeef"
SCHEDULER_OWNER = "sched-host:77:abcd1234"


@dataclass
class Site:
    service: Service
    client: TestClient
    first: int  # integration ids
    second: int
    running: int  # run ids
    poison: int
    queued: int
    again: int
    threesixty_key: str  # the first integration's company
    coursera_key: str


@pytest.fixture(scope="module", autouse=True)
def _no_metrics_token() -> Iterator[None]:
    # module-scoped: the apps below are built once per module and read the token when built
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(METRICS_TOKEN_ENV, raising=False)
        yield


def _service(path: Path, **options: object) -> Service:
    service = Service(
        f"sqlite:///{path / 'fleet.db'}",
        SecretBox.generate(),
        limits=SharedLimits.in_memory(),
        **options,  # type: ignore[arg-type]
    )
    service.auth.create_user("admin", PASSWORD)
    return service


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, TestClient]]:
    """A fleet's service (runs handed to a dispatch nobody serves) with nothing in its store."""
    service = _service(tmp_path_factory.mktemp("bare"), dispatch=lambda _run_id, _trigger: None)
    client = TestClient(create_app(service), follow_redirects=False)
    admin_login(client, PASSWORD)
    yield service, client
    service.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One store for the module's read-only tests (a limiter's wait takes a second)."""
    service = _service(tmp_path_factory.mktemp("site"))
    first = service.integrations.save(sample_input(label="First"))
    second = service.integrations.save(
        sample_input(label="Second", threesixty_client_id="t2", coursera_org_id="org2")
    )
    engine = service.store.engine

    # two workers registered, one of them not seen for longer than ALIVE; the scheduler role
    Workers(engine).register("celery@host-a", "host-a", 4242, 4, "learnsync.priority,learnsync")
    Workers(engine, clock=lambda: service.clock() - ALIVE * 2).register(
        "celery@gone", "gone-host", 9, 2, "learnsync"
    )
    assert Roles(engine).hold("scheduler", SCHEDULER_OWNER)

    # a poison run of the second integration: its process died on both attempts
    clock = Clock(service.clock() - timedelta(hours=1))
    jobs = RunJobs(engine, clock=clock)
    poison = jobs.submit(second, "content", "schedule", max_attempts=2)
    for _attempt in range(2):
        jobs.start(poison, "host-b:99:cafe0001")
        clock.advance(LEASE_TTL + timedelta(seconds=1))
        assert jobs.expire() == [poison]
    # an ordinary failure (not poison) and a success of the second integration
    failed = jobs.submit(second, "stats", "manual")
    jobs.start(failed, "host-b:99:cafe0002")
    jobs.end(failed, "host-b:99:cafe0002", "failed", error="refused credentials")
    done = jobs.submit(second, "stats", "schedule")
    jobs.start(done, "host-b:99:cafe0003")
    jobs.end(done, "host-b:99:cafe0003", "succeeded")
    # a run of the second integration whose worker died once: queued again for its last attempt
    again = jobs.submit(second, "content", "schedule", max_attempts=2)
    jobs.start(again, "host-c:5:cafe0004")
    clock.advance(LEASE_TTL + timedelta(seconds=1))
    assert jobs.expire() == [again]
    # the first integration: one run going, and waiting behind it two priority runs and one
    # scheduled one (a cancelled run is not waiting)
    running = jobs.submit(first, "content", "schedule")
    jobs.start(running, RUNNING_OWNER)
    queued = jobs.submit(first, "stats", "manual")
    jobs.submit(first, "filters", "filters", params={"languages": [], "content_types": []})
    jobs.submit(first, "stats", "schedule")
    jobs.cancel(jobs.submit(first, "content", "manual"))

    # the first integration's 360Learning company: 9 writes a second, the 10th waits; its
    # Coursera organization: one request that did not wait. The keys are those of the clients a
    # run opens (the parsed config, secrets decrypted), not recomputed here from the settings.
    config = service.integrations.config(first)
    limiter, _slots = service.runs.limits.threesixty(
        config.threesixty.base_url, config.threesixty.client_id
    )
    for _ in range(10):
        limiter.acquire("POST")
    service.runs.limits.coursera(config.coursera.api_base, config.coursera.org_id).acquire("GET")

    client = TestClient(create_app(service), follow_redirects=False)
    admin_login(client, PASSWORD)
    yield Site(
        service,
        client,
        first,
        second,
        running,
        poison,
        queued,
        again,
        company_key(config.threesixty.base_url, config.threesixty.client_id),
        company_key(config.coursera.api_base, config.coursera.org_id),
    )
    service.close()


def _metric(text: str, name: str) -> float:
    """The value of one sample line (``name`` with its labels, as written)."""
    values = [line.rpartition(" ")[2] for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, (name, [line for line in text.splitlines() if name in line])
    return float(values[0])


def test_metrics_show_the_queue_the_workers_and_the_limiters(site: Site) -> None:
    answer = site.client.get("/metrics")
    assert answer.status_code == 200
    text = answer.text
    assert _metric(text, 'learnsync_runs_queued{queue="priority"}') == 2
    assert _metric(text, 'learnsync_runs_queued{queue="scheduled"}') == 2
    assert _metric(text, "learnsync_runs_running") == 1
    assert _metric(text, "learnsync_runs_poison") == 1
    assert _metric(text, "learnsync_workers_alive") == 1  # the stale one is not counted
    assert _metric(text, "learnsync_fleet") == 0  # no dispatch: serve executes the runs
    assert _metric(text, "learnsync_scheduler_held") == 1

    company = f'api="threesixty",company="{site.threesixty_key}"'
    assert _metric(text, f"learnsync_limiter_requests_total{{{company}}}") == 10
    assert _metric(text, f"learnsync_limiter_waited_requests_total{{{company}}}") == 1
    waited = _metric(text, f"learnsync_limiter_wait_seconds_total{{{company}}}")
    assert 0 < waited <= 1.1
    org = f'api="coursera",company="{site.coursera_key}"'
    assert _metric(text, f"learnsync_limiter_requests_total{{{org}}}") == 1
    assert _metric(text, f"learnsync_limiter_waited_requests_total{{{org}}}") == 0
    assert _metric(text, f"learnsync_limiter_wait_seconds_total{{{org}}}") == 0

    # every family is declared once, in the text format; no identifier in clear
    for name, kind in (
        ("learnsync_runs_queued", "gauge"),
        ("learnsync_runs_running", "gauge"),
        ("learnsync_runs_poison", "gauge"),
        ("learnsync_workers_alive", "gauge"),
        ("learnsync_fleet", "gauge"),
        ("learnsync_scheduler_held", "gauge"),
        ("learnsync_limiter_requests_total", "counter"),
        ("learnsync_limiter_waited_requests_total", "counter"),
        ("learnsync_limiter_wait_seconds_total", "counter"),
    ):
        assert text.count(f"# TYPE {name} {kind}\n") == 1, name
        assert text.count(f"# HELP {name} ") == 1, name
    for clear in ("host-a", "sched-host", "First", "t2", "org2"):
        assert clear not in text
    # the existing families are still there
    assert _metric(text, "learnsync_integrations") == 2
    assert 'learnsync_runs_total{integration="2",kind="content",status="failed"} 1' in text


def test_metrics_say_when_runs_go_to_a_fleet_and_stay_behind_the_token(
    bare: tuple[Service, TestClient],
) -> None:
    service, client = bare
    text = client.get("/metrics").text
    assert _metric(text, "learnsync_fleet") == 1
    assert _metric(text, "learnsync_workers_alive") == 0
    assert _metric(text, "learnsync_scheduler_held") == 0
    assert _metric(text, 'learnsync_runs_queued{queue="priority"}') == 0
    assert _metric(text, "learnsync_runs_poison") == 0
    assert "learnsync_limiter_requests_total{" not in text  # no company made a request
    guarded = TestClient(create_app(service, metrics_token="tok-1"))
    assert guarded.get("/metrics").status_code == 401
    allowed = guarded.get("/metrics", headers={"Authorization": "Bearer tok-1"})
    assert _metric(allowed.text, "learnsync_fleet") == 1


def test_metrics_survive_limits_that_cannot_be_read(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(site.service.runs.limits, "saturation", unreachable)
    answer = site.client.get("/metrics")
    assert answer.status_code == 200
    assert _metric(answer.text, "learnsync_runs_running") == 1
    assert "learnsync_limiter_requests_total{" not in answer.text
    page = site.client.get("/integrations")
    assert page.status_code == 200 and "Could not be read" in page.text


def _text(html: str) -> str:
    """The page's text: tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_integrations_page_shows_the_fleet(site: Site) -> None:
    page = site.client.get("/integrations")
    assert page.status_code == 200
    html = page.text
    assert '<span id="fleet-queued">4</span>' in html
    assert '<span id="fleet-priority">2</span>' in html
    assert '<span id="fleet-scheduled">2</span>' in html
    assert '<span id="fleet-running">1</span>' in html
    text = _text(html)
    assert "Runs waiting: 4 (2 asked by a person, 2 scheduled) · Running: 1" in text
    assert "Poison runs: 1" in text
    assert "Workers alive: 1 — host-a (pid 4242; 4 at a time)" in text
    assert "gone-host" not in text
    assert "Scheduler: sched-host (pid 77)" in text
    # the fleet box names the company that waited, by key, with the integrations on it
    assert f"360Learning company {site.threesixty_key} (First): 1 of 10 requests waited" in text
    assert site.coursera_key not in text  # its one request did not wait
    # the first integration's row says its company waited; the second's says nothing
    rows = re.findall(r'<tr class="limits-row">.*?</tr>', html)
    assert len(rows) == 1
    assert "360Learning company 1 of 10 requests" in _text(rows[0])
    first_row = html.index(f'<a href="/integrations/{site.first}">First</a>')
    second_row = html.index(f'<a href="/integrations/{site.second}">Second</a>')
    assert first_row < html.index('class="limits-row"') < second_row
    assert '<script src="http' not in html and "<script>" not in html  # CSP: nothing inline


def test_a_fleet_without_a_live_worker_says_runs_wait(bare: tuple[Service, TestClient]) -> None:
    _service, client = bare
    text = _text(client.get("/integrations").text)
    assert "Runs waiting: 0 (0 asked by a person, 0 scheduled) · Running: 0" in text
    assert "Workers alive: 0 No worker running runs wait in the queue" in text
    assert "Scheduler: no process holds the role" in text
    assert "no request had to wait" in text and "Poison" not in text


def test_the_page_without_a_fleet_names_the_embedded_executor(
    bare: tuple[Service, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, client = bare
    monkeypatch.setattr(service.runs, "dispatch", None)
    text = _text(client.get("/integrations").text)
    assert "Runs execute in this serve process" in text and "Workers alive" not in text
    assert _metric(client.get("/metrics").text, "learnsync_fleet") == 0


def test_the_run_page_names_the_worker_and_the_attempt(site: Site) -> None:
    page = site.client.get(f"/integrations/{site.first}/runs/{site.running}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Running on: host-a (pid 4242) · attempt 1 of 1" in text
    assert "poison" not in text.lower()
    run = site.client.get(f"/api/runs/{site.running}").json()
    assert run["worker"] == {"owner": RUNNING_OWNER, "host": "host-a", "pid": 4242}
    assert (run["attempts"], run["max_attempts"], run["poison"]) == (1, 1, False)

    waiting = site.client.get(f"/api/runs/{site.queued}").json()
    assert waiting["worker"] is None and waiting["attempts"] == 0
    assert "Not started yet" in _text(
        site.client.get(f"/integrations/{site.first}/runs/{site.queued}").text
    )


def test_a_run_queued_again_names_its_last_attempt(site: Site) -> None:
    text = _text(site.client.get(f"/integrations/{site.second}/runs/{site.again}").text)
    assert "Last attempt ran on: host-c (pid 5) · attempt 1 of 2" in text
    assert "poison" not in text.lower()
    run = site.client.get(f"/api/runs/{site.again}").json()
    assert (run["status"], run["attempts"], run["max_attempts"]) == ("queued", 1, 2)
    assert run["worker"]["host"] == "host-c" and run["poison"] is False


def test_a_poison_run_is_marked(site: Site) -> None:
    page = site.client.get(f"/integrations/{site.second}/runs/{site.poison}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Ran on: host-b (pid 99) · attempt 2 of 2" in text
    assert "Failed · poison run" in text  # the status chip, then the mark
    assert "Poison run: the process running it stopped on each of its 2 attempts" in text
    run = site.client.get(f"/api/runs/{site.poison}").json()
    assert run["poison"] is True and run["status"] == "failed"
    assert run["error"].startswith("stopped after 2 attempts, not retried again")
    assert (run["attempts"], run["max_attempts"]) == (2, 2)
    # the Runs page marks it too, and only it
    runs = site.client.get(f"/integrations/{site.second}/runs").text
    assert runs.count('<span class="poison">poison run</span>') == 1
    listed = {
        r["id"]: r["poison"]
        for r in site.client.get(f"/api/integrations/{site.second}/runs").json()
    }
    assert listed[site.poison] is True and sum(listed.values()) == 1


def test_queue_counts_and_poison_rule(site: Site) -> None:
    counts = queue_counts(site.service.store.engine)
    assert (counts.queued, counts.priority, counts.scheduled) == (4, 2, 2)
    assert (counts.running, counts.poison) == (1, 1)
    assert is_poison("failed", "stopped after 2 attempts, not retried again: …")
    assert not is_poison("failed", "refused credentials")
    assert not is_poison("failed", None)
    assert not is_poison("queued", "stopped after 2 attempts")


@pytest.mark.parametrize(
    ("owner", "host", "pid"),
    [
        ("host-a:4242:deadbeef", "host-a", 4242),
        ("a.b.example:1:x", "a.b.example", 1),
        ("no-pid-here", "no-pid-here", None),
        ("host:notanumber:x", "host:notanumber:x", None),
    ],
)
def test_an_owner_is_read_as_host_and_pid(owner: str, host: str, pid: int | None) -> None:
    process = process_of(owner)
    assert process is not None and (process.host, process.pid) == (host, pid)
    assert process_of(None) is None and process_of("") is None

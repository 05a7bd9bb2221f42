"""Benchmark a fleet: ``python bench/fleet.py [--integrations 500] [--workers 2] [--kill-worker]``.

The simulators run in another process (``learnsync sandbox serve --tenants N --clean-report
--rate-limits``: each tenant its own Coursera organization and its place in a 360Learning
company, some companies shared, the size mix printed; 360Learning's per-company limits
enforced). The store is a PostgreSQL schema of its own, the broker and the shared limits a
Redis database of their own. This process is ``serve`` (it only submits runs and sweeps) and
the scheduler: every integration's content and statistics runs are due at one morning slot,
spread over ``--spread`` seconds (each integration's offset, as ``LEARNSYNC_SCHEDULE_SPREAD``
gives it). ``--workers N`` ``learnsync worker --concurrency C`` processes execute them.

Printed: the size mix; makespan from the first due time to the last finished run; each run's
lateness after its due time (p50, p95, max); runs succeeded; requests against the floor (per
integration: its catalog pages, ``ceil(items / 1,000)``, and its bulk requests, one upsert
and one import per tenant of this mix); the highest number of unfinished bulk operations and
the highest write and read rates seen per company (the 360Learning simulator's counters);
connector CPU seconds (user + system of every worker process) per million statistics rows; and
the parallel efficiency: connector CPU ÷ (makespan × worker processes). Then a second morning:
every run again, which must write and send nothing (every integration synchronized).

With ``--kill-worker``, one worker (its whole process group) is killed with SIGKILL once half
the runs ended; its runs are retried by the others. Requests may then exceed the floor (a
killed run sends again what it had not confirmed), never the limits, and every integration must
still end synchronized with nothing duplicated: each company's attempts equal the statistics
the store recorded as sent.

It exits with status 1 when a check fails: a run not succeeded, a company over 3 unfinished
operations or over 10 writes or 50 reads a second, requests above the floor (without
``--kill-worker``), a second morning that writes or sends anything, attempts not equal to the
statistics sent, or a parallel efficiency below ``--min-efficiency`` (default 0.8).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import time
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import text

from learnsync.config import parse_config
from learnsync.sandbox.process import read_counters, reset_counters, sandbox_process
from learnsync.sandbox.stack import tenant_config_toml
from learnsync.sandbox.tenants import Fleet
from learnsync.service.core import Service
from learnsync.service.integrations import input_from_config
from learnsync.service.scheduler import offset
from learnsync.service.secrets import SecretBox
from learnsync.store.testing import postgres_schema_url
from learnsync.workers.fleet import dispatcher, fleet_limits, make_app

REDIS = "redis://127.0.0.1:6379"
FINAL = ("succeeded", "partial", "failed", "cancelled")
CATALOG_PAGE = 1000  # the connector's page size of the Coursera catalog
BULK_LIMIT = 10_000  # items per 360Learning bulk request
LIMITS = {"unfinished": 3, "writes": 10, "reads": 50}
WRITE_COUNTS = (
    "created_count",
    "updated_count",
    "archived_count",
    "restored_count",
    "sent_count",
    "failed_count",
)
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- worker processes


class Worker:
    def __init__(self, n: int, env: dict[str, str], store_url: str, concurrency: int, logs: Path):
        self.log = logs / f"worker-{n}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "learnsync", "worker", "--concurrency", str(concurrency)],
                env={**env, "LEARNSYNC_STORE_URL": store_url},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.cpu: dict[int, float] = {}  # pid → its last CPU seconds seen (the dead keep theirs)

    def ready(self) -> bool:
        return b"ready" in self.log.read_bytes()

    def sample(self) -> None:
        """CPU seconds of the worker and its pool processes, as last seen (cheap: the children
        of its main process only, not a scan of /proc)."""
        main = self.proc.pid
        try:
            kids = Path(f"/proc/{main}/task/{main}/children").read_text().split()
        except OSError:
            return
        for pid in [main, *map(int, kids)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            # after the name: state(0) ppid(1) … utime(11) stime(12)
            self.cpu[pid] = (int(fields[11]) + int(fields[12])) / TICK

    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------- the store's view


def runs_since(service: Service, first_id: int) -> list[dict[str, Any]]:
    with service.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, integration_id, kind, status, queued_at, started_at, finished_at, "
                "created_count, updated_count, archived_count, restored_count, sent_count, "
                "failed_count, attempts, worker, error FROM runs WHERE id >= :first ORDER BY id"
            ),
            {"first": first_id},
        ).all()
    return [dict(r._mapping) for r in rows]


def ended_since(service: Service, first_id: int) -> int:
    with service.store.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM runs WHERE id >= :first AND status IN "
                    "('succeeded', 'partial', 'failed', 'cancelled')"
                ),
                {"first": first_id},
            ).scalar_one()
        )


def sent_statistics(service: Service) -> dict[int, int]:
    """Per integration, the statistics the store recorded as sent."""
    with service.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT i.id, count(s.*) FROM integrations i JOIN stat_items s "
                "ON s.integration_id = i.id WHERE s.state = 'sent' GROUP BY i.id"
            )
        ).all()
    return {int(r[0]): int(r[1]) for r in rows}


def next_run_id(service: Service) -> int:
    with service.store.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM runs")).scalar_one())


# ---------------------------------------------------------------------- one morning


def morning(
    service: Service,
    ids: list[int],
    spread: float,
    workers: list[Worker],
    *,
    kill_at: float | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Submit every integration's content then statistics run at its due time; wait for all."""
    first = next_run_id(service)
    t0 = datetime.now(UTC) + timedelta(seconds=1)
    due = {i: t0 + offset(i, spread) for i in ids}
    order = sorted(ids, key=lambda i: due[i])
    pending = list(order)
    killed: Worker | None = None
    total = 2 * len(ids)
    deadline = time.monotonic() + timeout
    last_sample = 0.0
    while True:
        now = datetime.now(UTC)
        while pending and due[pending[0]] <= now:
            integration = pending.pop(0)
            service.runs.start(integration, "content", "schedule")
            service.runs.start(integration, "stats", "schedule")
        if time.monotonic() - last_sample >= 1.0:
            for w in workers:
                if w.proc.poll() is None:
                    w.sample()
            last_sample = time.monotonic()
            ended = ended_since(service, first)
            if kill_at is not None and killed is None and ended >= kill_at * total:
                killed = workers[0]
                print(
                    f"killing worker {killed.proc.pid} (SIGKILL, its process group) "
                    f"after {ended} of {total} runs ended",
                    flush=True,
                )
                killed.sample()
                killed.kill()
            if not pending and ended == total:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"not finished within {timeout:.0f} s: {ended}/{total} ended")
        time.sleep(0.1 if pending else 0.5)
    runs = runs_since(service, first)
    due_of = {(r["id"]): due[r["integration_id"]] for r in runs}
    return {"runs": runs, "due": due_of, "t0": t0, "killed": killed}


def machine_busy() -> float:
    """CPU seconds this machine spent busy (every core, every process) since it started."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    # user nice system idle iowait irq softirq steal: the steal is the hypervisor's, not ours
    return (sum(fields[:7]) - idle) / TICK


def _stat(pid: int | str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return [raw[raw.index("(") + 1 : raw.rindex(")")], *raw.rpartition(")")[2].split()]


def others_cpu() -> dict[str, float]:
    """CPU seconds so far of the simulators' process, of PostgreSQL (its live processes and the
    ones it reaped) and of this process: where the machine's CPU went besides the workers."""
    me = os.getpid()
    out = {"simulators": 0.0, "postgresql": 0.0}
    kids = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    for pid in kids:
        fields = _stat(pid)
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes() if fields else b""
        if fields and b"sandbox" in cmd:
            out["simulators"] += sum(int(v) for v in fields[12:16]) / TICK
    for entry in os.listdir("/proc"):
        fields = _stat(entry) if entry.isdigit() else None
        if fields and fields[0] == "postgres":
            # utime stime (the process) + cutime cstime (its reaped children: old backends)
            out["postgresql"] += sum(int(v) for v in fields[12:16]) / TICK
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["this process"] = usage.ru_utime + usage.ru_stime
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ---------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="learnsync worker processes")
    parser.add_argument("--concurrency", type=int, default=3, help="runs per worker at once")
    parser.add_argument("--spread", type=float, default=0.0, help="start window, seconds")
    parser.add_argument("--fleet-seed", type=int, default=1)
    parser.add_argument("--kill-worker", action="store_true")
    parser.add_argument("--min-efficiency", type=float, default=0.8)
    parser.add_argument("--logs", type=Path, default=None, help="keep the workers' logs here")
    args = parser.parse_args()
    # a TERM (or ^C) unwinds: the simulators, the workers and the Redis keys are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    fleet = Fleet(seed=args.fleet_seed, count=args.integrations)
    print(fleet.describe_mix(), flush=True)
    logs = args.logs or Path(os.environ.get("TMPDIR", "/tmp")) / f"learnsync-fleet-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    sim_args = ["--tenants", str(args.integrations), "--fleet-seed", str(args.fleet_seed)]
    with contextlib.ExitStack() as stack:
        sims = stack.enter_context(sandbox_process(*sim_args, "--clean-report", "--rate-limits"))
        store_url = stack.enter_context(postgres_schema_url())
        db = random.SystemRandom().randrange(1, 16)
        broker = f"{REDIS}/{db}"
        queue = f"learnsync-bench-{uuid.uuid4().hex[:8]}"
        key = Fernet.generate_key().decode()
        env = {
            **os.environ,
            "LEARNSYNC_BROKER_URL": broker,
            "LEARNSYNC_BROKER_QUEUE": queue,
            "LEARNSYNC_SECRET_KEY": key,
            "LEARNSYNC_ALLOWED_HOSTS": "127.0.0.1,localhost",
        }
        env.pop("LEARNSYNC_SECRET_KEY_FILE", None)
        os.environ.update({k: env[k] for k in ("LEARNSYNC_ALLOWED_HOSTS",)})
        stack.callback(_flush_redis, broker)
        service = Service(
            store_url,
            SecretBox(key.encode()),
            dispatch=dispatcher(make_app(broker, queue), queue),
            limits=fleet_limits(broker),
        )
        stack.callback(service.close)
        started = time.perf_counter()
        ids = []
        for tenant in fleet.tenants:
            raw = tomllib.loads(
                tenant_config_toml(tenant, sims["coursera_url"], sims["threesixty_url"], store_url)
            )
            ids.append(
                service.integrations.save(
                    input_from_config(parse_config(raw), f"tenant {tenant.key}"), trusted=True
                )
            )
        print(f"{len(ids)} integrations created in {time.perf_counter() - started:.1f} s")
        service.runs.start_executor()  # serve's sweep: dead workers' runs handed again
        workers = [Worker(n, env, store_url, args.concurrency, logs) for n in range(args.workers)]
        stack.callback(lambda: [w.stop() for w in workers])
        deadline = time.monotonic() + 60
        while not all(w.ready() for w in workers):
            if time.monotonic() > deadline or any(w.proc.poll() is not None for w in workers):
                raise SystemExit(f"a worker did not start; see {logs}")
            time.sleep(0.2)
        reset_counters(sims["coursera_url"], sims["threesixty_url"])
        for w in workers:
            w.sample()
        cpu0 = sum(w.cpu_seconds() for w in workers)
        busy0 = machine_busy()
        others0 = others_cpu()

        result = morning(
            service, ids, args.spread, workers, kill_at=0.5 if args.kill_worker else None
        )
        for w in workers:
            if w.proc.poll() is None:
                w.sample()
        cpu = sum(w.cpu_seconds() for w in workers) - cpu0
        busy = machine_busy() - busy0
        others = {k: v - others0[k] for k, v in others_cpu().items()}
        print(
            f"machine: {busy:.1f} CPU s busy in all ({os.cpu_count()} cores), of which the "
            f"connector's workers {cpu:.1f} s ({cpu / max(busy, 0.001):.0%}); the rest: the "
            "simulators, PostgreSQL, Redis, this process (serve and the scheduler)"
        )
        print("  of which " + ", ".join(f"{k} {v:.1f} s" for k, v in others.items()))
        counters = read_counters(sims["coursera_url"], sims["threesixty_url"])
        failures += report(args, fleet, result, counters, cpu, service)

        # the second morning: every integration synchronized, nothing to write or send
        live = [w for w in workers if w.proc.poll() is None]
        again = morning(service, ids, 0.0, live)
        busy = [
            r
            for r in again["runs"]
            if r["status"] != "succeeded" or any(r[c] for c in WRITE_COUNTS)
        ]
        print(f"second morning: {len(again['runs'])} runs, {len(busy)} wrote or sent anything")
        if busy:
            failures.append(f"the second morning wrote or sent in {len(busy)} runs: {busy[:2]}")
        attempts = _attempts(sims["threesixty_url"])
        sent = sum(sent_statistics(service).values())
        print(f"statistics sent (store) {sent:,}; attempts (360Learning) {attempts:,}")
        if attempts != sent:
            failures.append(f"360Learning holds {attempts:,} attempts for {sent:,} sent")
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    print("all checks passed" if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


def report(
    args: argparse.Namespace,
    fleet: Fleet,
    result: dict[str, Any],
    counters: dict[str, Any],
    cpu: float,
    service: Service,
) -> list[str]:
    failures = []
    runs: list[dict[str, Any]] = result["runs"]
    first_due = min(result["due"].values())
    last_end = max(r["finished_at"] for r in runs)
    makespan = (last_end - first_due).total_seconds()
    lateness = [(r["started_at"] - result["due"][r["id"]]).total_seconds() for r in runs]
    succeeded = sum(1 for r in runs if r["status"] == "succeeded")
    retried = sum(1 for r in runs if r["attempts"] > 1)
    print(f"runs: {len(runs)}, succeeded {succeeded}, retried after a worker died {retried}")
    if succeeded != len(runs):
        bad = [(r["id"], r["status"], r["error"]) for r in runs if r["status"] != "succeeded"]
        failures.append(f"{len(runs) - succeeded} runs did not succeed, e.g. {bad[:3]}")
    print(f"makespan (first due → last finished): {makespan:.1f} s")
    print(
        f"lateness after due: p50 {percentile(lateness, 0.5):.1f} s, "
        f"p95 {percentile(lateness, 0.95):.1f} s, max {max(lateness):.1f} s"
    )
    # requests against the floor
    items = {t.world.coursera_org_id: t.world.catalog_size for t in fleet.tenants}
    pages_floor = sum(math.ceil(n / CATALOG_PAGE) for n in items.values())
    pages = sum(o.get("contents", 0) for o in counters["organizations"].values())
    created = {r["integration_id"]: r["created_count"] or 0 for r in runs if r["kind"] == "content"}
    stats_sent = {r["integration_id"]: r["sent_count"] or 0 for r in runs if r["kind"] == "stats"}
    bulk_floor = sum(math.ceil(n / BULK_LIMIT) for n in created.values()) + sum(
        math.ceil(n / BULK_LIMIT) for n in stats_sent.values()
    )
    companies = counters["companies"].values()
    bulk = sum(c.get("bulk_submits", 0) for c in companies)
    floor, made = pages_floor + bulk_floor, pages + bulk
    print(
        f"requests: {made:,} catalog pages + bulk requests against a floor of {floor:,} "
        f"({pages:,}/{pages_floor:,} pages, {bulk:,}/{bulk_floor:,} bulk)"
    )
    if made > floor and not args.kill_worker:
        failures.append(f"{made - floor} requests above the floor")
    peaks = {
        name: max((c.get(field, 0) for c in companies), default=0)
        for name, field in (
            ("unfinished", "max_unfinished_operations"),
            ("writes", "max_writes_per_second"),
            ("reads", "max_reads_per_second"),
        )
    }
    refusals = sum(c.get("concurrency_refusals", 0) for c in companies)
    print(
        f"per company, highest: {peaks['unfinished']} unfinished bulk operations, "
        f"{peaks['writes']} writes/s, {peaks['reads']} reads/s "
        f"(limits {LIMITS['unfinished']}, {LIMITS['writes']}, {LIMITS['reads']}); "
        f"{refusals} submits refused for the slots"
    )
    for name, peak in peaks.items():
        if peak > LIMITS[name]:
            failures.append(f"a company saw {peak} {name} (limit {LIMITS[name]})")
    rows = max(1, sum(stats_sent.values()))
    efficiency = cpu / (makespan * args.workers)
    print(
        f"connector CPU: {cpu:.1f} s ({cpu / rows * 1e6:.0f} s per million statistics rows, "
        f"{rows:,} rows); parallel efficiency {efficiency:.2f} "
        f"= {cpu:.1f} / ({makespan:.1f} × {args.workers})"
    )
    if efficiency < args.min_efficiency:
        failures.append(f"parallel efficiency {efficiency:.2f} < {args.min_efficiency}")
    summary = {
        "makespan": makespan,
        "cpu": cpu,
        "efficiency": efficiency,
        "lateness_p95": percentile(lateness, 0.95),
        "requests": made,
        "floor": floor,
        **{f"peak_{k}": v for k, v in peaks.items()},
    }
    print(json.dumps(summary))
    return failures


def _attempts(threesixty_url: str) -> int:
    import httpx

    counters = httpx.get(f"{threesixty_url}/_sandbox/counters", timeout=60).json()["companies"]
    total = 0
    for company in counters:
        answer = httpx.get(
            f"{threesixty_url}/_sandbox/stats", params={"company": company}, timeout=60
        )
        if answer.status_code == 404:
            continue  # a company no request reached (its simulator is made on first use)
        answer.raise_for_status()
        total += int(answer.json()["attempts"])
    return total


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    with contextlib.suppress(Exception):
        for key in client.scan_iter(match="*learnsync*"):
            client.delete(key)
    client.close()


if __name__ == "__main__":
    raise SystemExit(main())

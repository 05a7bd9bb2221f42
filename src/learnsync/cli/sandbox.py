"""``learnsync sandbox serve`` and ``learnsync demo``: the simulators, standalone."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from learnsync.cli.main import DebugOpt, app, guarded
from learnsync.errors import ConfigError
from learnsync.sandbox.world import World

if TYPE_CHECKING:
    from learnsync.sync.report import ContentReport, StatsReport

sandbox_app = typer.Typer(no_args_is_help=True, help="Local simulators of both APIs.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
@guarded
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    coursera_port: Annotated[
        int, typer.Option("--coursera-port", help="Port of the Coursera simulator (0: any).")
    ] = 8401,
    threesixty_port: Annotated[
        int, typer.Option("--threesixty-port", help="Port of the 360Learning simulator (0: any).")
    ] = 8402,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated company.")] = 42,
    catalog_size: Annotated[int, typer.Option("--catalog-size", min=0)] = 300,
    learners: Annotated[int, typer.Option("--learners", min=1)] = 1_000,
    enrollments: Annotated[int, typer.Option("--enrollments", min=0)] = 3_000,
    unknown_learner_ratio: Annotated[
        float,
        typer.Option(
            "--unknown-learner-ratio",
            min=0.0,
            max=1.0,
            help="Share of Coursera learners 360Learning does not know (e-mail mismatch).",
        ),
    ] = World.unknown_learner_ratio,
    clean_report: Annotated[
        bool,
        typer.Option(
            "--clean-report",
            help="Every enrollment row a distinct, deliverable statistic (benchmarks): no "
            "duplicate (course, learner), every learner with an e-mail known to 360Learning, "
            "no rows of skipped content.",
        ),
    ] = False,
    config_out: Annotated[
        Path | None, typer.Option("--config-out", help="Also write a learnsync config here.")
    ] = None,
    tenants: Annotated[
        int,
        typer.Option(
            "--tenants",
            min=0,
            help="Also serve a fleet of N tenants (each a Coursera organization and a place in "
            "a 360Learning company; sizes from the fleet's size mix); their credentials at "
            "GET /_sandbox/tenants on either simulator.",
        ),
    ] = 0,
    fleet_seed: Annotated[int, typer.Option("--fleet-seed", help="Seed of the fleet.")] = 1,
    rate_limits: Annotated[
        bool,
        typer.Option(
            "--rate-limits",
            help="Enforce 360Learning's request rates per company (50 GET/s, 10 writes/s).",
        ),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Serve both simulators until interrupted; print their URLs and the credentials to use."""
    from learnsync.sandbox.stack import Fleet, running_stack

    world = World(
        seed=seed,
        catalog_size=catalog_size,
        learners=learners,
        enrollments=enrollments,
        unknown_learner_ratio=unknown_learner_ratio,
        clean_report=clean_report,
    )
    fleet = (
        Fleet(
            seed=fleet_seed,
            count=tenants,
            unknown_learner_ratio=unknown_learner_ratio,
            clean_report=clean_report,
        )
        if tenants
        else None
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stack_cm = running_stack(
            world,
            host=host,
            coursera_port=coursera_port,
            threesixty_port=threesixty_port,
            fleet=fleet,
            threesixty_switches={"rate_limits": True} if rate_limits else None,
        )
        stack = stack_cm.__enter__()
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host} ({exc.strerror or exc}): choose other ports with "
            "--coursera-port / --threesixty-port (0 picks free ones)"
        ) from None
    try:
        config = stack.config_toml()
        if config_out is not None:
            config_out.write_text(config, encoding="utf-8")
        _print_banner(stack, config, config_out)
        try:
            while not stop.is_set():
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    finally:
        stack_cm.__exit__(None, None, None)


def _print_banner(stack: object, config: str, config_out: Path | None) -> None:
    from learnsync.sandbox.stack import Stack

    assert isinstance(stack, Stack)
    w = stack.world
    lines = [
        f"learnsync sandbox (seed {w.seed}): {w.catalog_size} catalog items, "
        f"{w.learners} learners, {w.enrollments} enrollment rows",
        f"coursera    {stack.coursera_url}   api_base {stack.coursera_url}/api   "
        f"token_url {stack.coursera_url}/oauth2/v1/token",
        f"coursera    org_id={w.coursera_org_id} client_id={w.coursera_client_id} "
        f"client_secret={w.coursera_client_secret} refresh_token={w.coursera_refresh_token}",
        f"360learning {stack.threesixty_url}",
        f"360learning client_id={w.threesixty_client_id} "
        f"client_secret={w.threesixty_client_secret} group_id={w.group_id} "
        f"author_id={w.author_id}",
        "admin routes: <simulator URL>/_sandbox/... (faults, clock, catalog, learners, paths)",
        "load counters: GET <simulator URL>/_sandbox/counters (DELETE resets them)",
    ]
    if stack.fleet is not None:
        lines += [
            "",
            stack.fleet.describe_mix(),
            f"tenants and their credentials: GET {stack.threesixty_url}/_sandbox/tenants",
        ]
    if config_out is not None:
        lines.append(f"config written to {config_out}")
    lines += ["", "# learnsync config for these simulators:", config.rstrip(), "", "ready"]
    print("\n".join(lines), flush=True)


@app.command("demo")
@guarded
def demo(
    catalog_size: Annotated[int, typer.Option("--catalog-size", min=1)] = 5_000,
    enrollments: Annotated[int, typer.Option("--enrollments", min=0)] = 50_000,
    learners: Annotated[int, typer.Option("--learners", min=1)] = 5_000,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to keep the demo's store and reports.")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """The main job on embedded defaults: simulators + SQLite; content, then statistics, twice."""
    from learnsync.cli.output import TerminalProgress, warning_line, write_report
    from learnsync.config import load_config
    from learnsync.sandbox.stack import running_stack
    from learnsync.sandbox.world import World
    from learnsync.sync.content import run_content_sync
    from learnsync.sync.stats import run_stats_sync

    base = workdir or Path(tempfile.mkdtemp(prefix="learnsync-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    db = base / "learnsync.db"
    for stale in (db, base / "learnsync.db-wal", base / "learnsync.db-shm"):
        stale.unlink(missing_ok=True)
    world = World(seed=seed, catalog_size=catalog_size, learners=learners, enrollments=enrollments)
    print(
        f"demo: simulated organization of {catalog_size:,} catalog items, {learners:,} learners, "
        f"{enrollments:,} enrollment rows (seed {seed}); store {db}"
    )
    runs: list[tuple[str, Callable[..., ContentReport | StatsReport]]] = [
        ("first content sync", run_content_sync),
        ("first statistics sync", run_stats_sync),
        ("second content sync (nothing changed)", run_content_sync),
        ("second statistics sync (nothing changed)", run_stats_sync),
    ]
    with running_stack(world) as stack:
        config_path = base / "learnsync.toml"
        config_path.write_text(stack.config_toml(f"sqlite:///{db}"), encoding="utf-8")
        config = load_config(config_path)
        for n, (label, pipeline) in enumerate(runs, start=1):
            started = time.perf_counter()
            with TerminalProgress() as progress:
                report = pipeline(config, progress=progress)
            elapsed = time.perf_counter() - started
            write_report(base / f"report-{n}-{report.kind}.json", report.to_json())
            print(f"{label}: {report.summary()} in {elapsed:.1f} s")
            reasons: dict[str, int] = {}
            for skip in report.skipped:
                reasons[skip["reason"]] = reasons.get(skip["reason"], 0) + 1
            if reasons:
                print("  skipped: " + ", ".join(f"{k} {r}" for r, k in sorted(reasons.items())))
            if report.failed:
                print(f"  failed: {len(report.failed)} (e.g. {report.failed[0].get('error')})")
            for warning in report.warnings[:3]:
                warning_line(warning)
        print(
            f"360Learning simulator now holds {len(stack.threesixty.courses):,} external courses "
            f"and {len(stack.threesixty.attempts):,} attempts"
        )
    print(f"demo: config, store and reports are in {base}")

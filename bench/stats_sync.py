"""Benchmark the statistics sync: ``python bench/stats_sync.py [--rows N]``.

The simulators run in another process (``learnsync sandbox serve --clean-report``: every row a
distinct, deliverable statistic); each sync runs in a child process of its own so its peak RSS
(``ru_maxrss``) is the connector's alone. Steps: a content sync (not measured), a full statistics
sync, the same again (nothing changed; ``--unchanged-runs`` times, median), then ~1 % of the rows
advanced by the Coursera simulator and a last sync. Import requests and the statistics applied
are counted by the 360Learning simulator (``GET /_sandbox/stats``); each sync's CPU seconds (user
+ system of its process, every thread) are printed beside its wall seconds, and the benchmark
CHECKS issue 4's and issue 9's targets:

- full sync: every row sent, in exactly ``ceil(rows / 10,000)`` import requests;
- unchanged sync: an incremental read, zero import requests, nothing sent, and a CPU time at
  most 1/10 of the full sync's (median of the unchanged runs, same invocation);
- changed sync: exactly the rows that visibly changed are sent — their count and the digest of
  their (course, learner) pairs (from the Coursera simulator's mutate answer) equal what the
  360Learning simulator applied.

It exits with status 1 when a check fails. ``--dirty`` uses the default world, with duplicate
rows, learners without e-mail, rows without dates and skipped content: no exact checks of the
counts then, except with ``--unknown-learner-ratio R`` (> 0, needs ``--dirty``: the clean world
knows every learner): the learners 360Learning does not know are rejected by the full sync, and
each unchanged re-sync must still be an incremental read that sends nothing new and re-sends
exactly the rejected items (``ceil(failed / 10,000)`` requests); the CPU ratio is checked too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from learnsync.sandbox.process import sandbox_process

IMPORT_ROUTE = "stats"  # the 360Learning simulator's counter key contains this and "bulk"


def child(config_path: str, kind: str) -> None:
    """Run one sync in this (child) process and print its numbers as JSON."""
    if os.environ.get("LEARNSYNC_BENCH_PRELOAD"):
        __import__(os.environ["LEARNSYNC_BENCH_PRELOAD"])
    from learnsync.config import load_config
    from learnsync.sync.content import run_content_sync
    from learnsync.sync.stats import run_stats_sync

    config = load_config(config_path)
    start = time.perf_counter()
    cpu0 = _cpu()
    if kind == "content":
        report: Any = run_content_sync(config)
        out = {"summary": report.summary()}
    elif os.environ.get("LEARNSYNC_BENCH_PROFILE"):  # a cProfile dump of each statistics sync
        import cProfile

        profile = cProfile.Profile()
        report = profile.runcall(run_stats_sync, config)
        profile.dump_stats(f"{os.environ['LEARNSYNC_BENCH_PROFILE']}-{time.time_ns()}.prof")
    else:
        report = run_stats_sync(config)
    if kind != "content":
        out = {
            "sent": report.sent,
            "unchanged": report.unchanged,
            "failed": len(report.failed),
            "skipped": len(report.skipped),
        }
    out["wall"] = time.perf_counter() - start
    out["cpu"] = _cpu() - cpu0
    if kind != "content":
        from learnsync.store.repository import Store

        with Store.open(config.store_url) as store:
            record = store.get_integration(config.integration_key)
            runs = store.list_runs(record.id, limit=1) if record is not None else []
            run = store.get_run(runs[0].id) if runs else None  # with its whole report
            out["mode"] = ((run.report if run else {}).get("read") or {}).get("mode", "?")
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_child(config_path: str, kind: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", config_path, "--kind", kind],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _threesixty_counts(threesixty_url: str) -> tuple[int, int, int]:
    """``(import requests, statistics applied, digest of the applied pairs)`` so far."""
    stats = httpx.get(f"{threesixty_url}/_sandbox/stats", timeout=60).json()
    imports = sum(
        n
        for route, n in stats["requests"].items()
        if "stats" in route and "bulk" in route and "POST" in route
    )
    return imports, stats["stats_applied"], int(stats["stats_digest"], 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--catalog-size", type=int, default=5_000)
    parser.add_argument("--learners", type=int, default=0, help="default: rows / 10")
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--unchanged-runs", type=int, default=3, help="median of this many")
    parser.add_argument(
        "--unknown-learner-ratio",
        type=float,
        default=0.0,
        help="learners 360Learning does not know; their items are re-sent by every run",
    )
    parser.add_argument(
        "--dirty",
        action="store_true",
        help="the default generated world (duplicate rows, skipped rows): no exact checks",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="stats", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.unknown_learner_ratio and not args.dirty:
        parser.error("--unknown-learner-ratio needs --dirty (the clean world knows every learner)")
    if args.child:
        child(args.child, args.kind)
        return
    learners = args.learners or max(args.rows // 10, 1)
    workdir = Path(tempfile.mkdtemp(prefix="learnsync-bench-"))
    sandbox_args = (
        "--enrollments", str(args.rows),
        "--catalog-size", str(args.catalog_size),
        "--learners", str(learners),
        "--unknown-learner-ratio", str(args.unknown_learner_ratio),
        *(() if args.dirty else ("--clean-report",)),
    )  # fmt: skip
    checks: list[tuple[str, bool, str]] = []

    def check(what: str, ok: bool, detail: str) -> None:
        checks.append((what, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", flush=True)

    with sandbox_process(*sandbox_args) as sandbox:
        config = sandbox["config"].replace(
            'url = "sqlite:///learnsync.db"', f'url = "sqlite:///{workdir / "store.db"}"'
        )
        config_path = workdir / "learnsync.toml"
        config_path.write_text(config, encoding="utf-8")
        t_url, c_url = sandbox["threesixty_url"], sandbox["coursera_url"]
        content = _run_child(str(config_path), "content")
        print(f"content sync: {content['summary']} ({content['wall']:.1f} s)", flush=True)
        table = []
        steps = ["full sync", *["unchanged sync"] * max(args.unchanged_runs, 1)]
        if not args.unknown_learner_ratio:
            steps.append(f"{args.change:.0%} changed")
        full: dict[str, Any] = {}
        unchanged: list[dict[str, Any]] = []
        for step in steps:
            mutation: dict[str, Any] = {}
            if step.endswith("changed"):
                body = {"fraction": args.change, "salt": "bench", "report_changes": True}
                mutation = httpx.post(
                    f"{c_url}/_sandbox/enrollments/mutate", json=body, timeout=600
                ).json()
            imports0, applied0, digest0 = _threesixty_counts(t_url)
            result = _run_child(str(config_path), "stats")
            imports1, applied1, digest1 = _threesixty_counts(t_url)
            result["imports"] = imports1 - imports0
            applied, digest = applied1 - applied0, (digest1 - digest0) % 2**64
            table.append((step, result))
            print(step, json.dumps(result), flush=True)
            if step == "full sync":
                full = result
            elif step == "unchanged sync":
                unchanged.append(result)
            failed = full["failed"]
            if step == "full sync" and args.unknown_learner_ratio:
                want = math.ceil((result["sent"] + failed) / 10_000)
                check(
                    step,
                    result["sent"] == applied and failed > 0 and result["imports"] == want,
                    f"{applied:,} applied, {failed:,} rejected (unknown learners), "
                    f"{result['imports']} imports (want {want})",
                )
            elif args.dirty and not args.unknown_learner_ratio:
                continue
            elif step == "full sync":
                want = math.ceil(args.rows / 10_000)
                check(step, result["sent"] == applied == args.rows, f"{applied:,} applied")
                check(step, result["imports"] == want, f"{result['imports']} imports, want {want}")
            elif step == "unchanged sync" and args.unknown_learner_ratio:
                want = math.ceil(failed / 10_000)
                check(
                    step,
                    result["mode"] == "incremental"
                    and result["sent"] == applied == 0
                    and result["failed"] == failed
                    and result["imports"] == want,
                    f"{result['mode']} read, {result['failed']:,} rejected items re-sent in "
                    f"{result['imports']} imports (want {failed:,} in {want})",
                )
            elif step == "unchanged sync":
                check(
                    step,
                    result["mode"] == "incremental"
                    and result["imports"] == 0
                    and result["sent"] == 0,
                    f"{result['mode']} read, no import",
                )
            else:
                changed, want_digest = mutation["changed"], int(mutation["changed_digest"], 16)
                check(
                    step,
                    result["sent"] == applied == changed and digest == want_digest,
                    f"{changed:,} rows changed, {result['sent']:,} sent, {applied:,} applied, "
                    f"digest {'equal' if digest == want_digest else 'DIFFERENT'}",
                )
        if unchanged:
            cpu = statistics.median(r["cpu"] for r in unchanged)
            check(
                "unchanged CPU",
                cpu <= full["cpu"] / 10,
                f"median {cpu:.2f} s = {cpu / full['cpu']:.3f} of the full sync's "
                f"{full['cpu']:.1f} s (want <= 0.1)",
            )
    print()
    print(
        f"rows {args.rows:,}  catalog {args.catalog_size:,}  learners {learners:,}  "
        f"unknown learners {args.unknown_learner_ratio:.0%}"
    )
    print(
        f"{'step':<16}{'mode':>12}{'wall s':>9}{'CPU s':>8}{'RSS MB':>9}{'imports':>9}"
        f"{'sent':>10}{'failed':>8}{'unchanged':>11}{'skipped':>9}"
    )
    for step, r in table:
        print(
            f"{step:<16}{r['mode']:>12}{r['wall']:>9.1f}{r['cpu']:>8.1f}{r['rss_mb']:>9.0f}"
            f"{r['imports']:>9}{r['sent']:>10,}{r['failed']:>8,}{r['unchanged']:>11,}"
            f"{r['skipped']:>9,}"
        )
    if unchanged:
        print(
            f"unchanged sync, median of {len(unchanged)}: wall "
            f"{statistics.median(r['wall'] for r in unchanged):.1f} s, CPU "
            f"{statistics.median(r['cpu'] for r in unchanged):.2f} s "
            f"({statistics.median(r['cpu'] for r in unchanged) / full['cpu']:.3f} of the full "
            "sync's CPU)"
        )
    if any(not ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()

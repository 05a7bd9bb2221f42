"""Benchmark the statistics sync: ``python bench/stats_sync.py [--rows N]``.

The simulators run in another process (``learnsync sandbox serve --clean-report``: every row a
distinct, deliverable statistic); each sync runs in a child process of its own so its peak RSS
(``ru_maxrss``) is the connector's alone. Steps: a content sync (not measured), a full statistics
sync, the same again (nothing changed), then ~1 % of the rows advanced by the Coursera simulator
and a third sync. Import requests and the statistics applied are counted by the 360Learning
simulator (``GET /_sandbox/stats``), and the benchmark CHECKS issue 4's targets:

- full sync: every row sent, in exactly ``ceil(rows / 10,000)`` import requests;
- unchanged sync: zero import requests, nothing sent;
- changed sync: exactly the rows that visibly changed are sent — their count and the digest of
  their (course, learner) pairs (from the Coursera simulator's mutate answer) equal what the
  360Learning simulator applied.

It exits with status 1 when a check fails (``--dirty`` uses the default world, with duplicate
rows, learners without e-mail and skipped content: no exact checks then).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
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
    if kind == "content":
        report: Any = run_content_sync(config)
        out = {"summary": report.summary()}
    else:
        report = run_stats_sync(config)
        out = {
            "sent": report.sent,
            "unchanged": report.unchanged,
            "failed": len(report.failed),
            "skipped": len(report.skipped),
        }
    out["wall"] = time.perf_counter() - start
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _run_child(config_path: str, kind: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", config_path, "--kind", kind],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


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
        for step in ("full sync", "unchanged sync", f"{args.change:.0%} changed"):
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
            if args.dirty:
                continue
            if step == "full sync":
                want = math.ceil(args.rows / 10_000)
                check(step, result["sent"] == applied == args.rows, f"{applied:,} applied")
                check(step, result["imports"] == want, f"{result['imports']} imports, want {want}")
            elif step == "unchanged sync":
                check(step, result["imports"] == 0 and result["sent"] == 0, "no import")
            else:
                changed, want_digest = mutation["changed"], int(mutation["changed_digest"], 16)
                check(
                    step,
                    result["sent"] == applied == changed and digest == want_digest,
                    f"{changed:,} rows changed, {result['sent']:,} sent, {applied:,} applied, "
                    f"digest {'equal' if digest == want_digest else 'DIFFERENT'}",
                )
    print()
    print(f"rows {args.rows:,}  catalog {args.catalog_size:,}  learners {learners:,}")
    print(
        f"{'step':<16}{'wall s':>9}{'RSS MB':>9}{'imports':>9}{'sent':>10}{'failed':>8}"
        f"{'unchanged':>11}{'skipped':>9}"
    )
    for step, r in table:
        print(
            f"{step:<16}{r['wall']:>9.1f}{r['rss_mb']:>9.0f}{r['imports']:>9}{r['sent']:>10,}"
            f"{r['failed']:>8,}{r['unchanged']:>11,}{r['skipped']:>9,}"
        )
    if any(not ok for _, ok, _ in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()

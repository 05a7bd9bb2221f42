"""Benchmark the statistics sync: ``python bench/stats_sync.py [--rows N]``.

The simulators run in another process (``learnsync sandbox serve``); each sync runs in a child
process of its own so its peak RSS (``ru_maxrss``) is the connector's alone. Steps: a content
sync (not measured), a full statistics sync, the same again (nothing changed), then ~1 % of the
rows advanced by the Coursera simulator and a third sync. Import requests are counted by the
360Learning simulator (``GET /_sandbox/stats``).
"""

from __future__ import annotations

import argparse
import json
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


def _import_requests(threesixty_url: str) -> int:
    counts = httpx.get(f"{threesixty_url}/_sandbox/stats", timeout=30).json()["requests"]
    return sum(
        n for route, n in counts.items() if "stats" in route and "bulk" in route and "POST" in route
    )


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
        help="learners 360Learning does not know; their items are re-sent by every run (SPEC §4)",
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
    )  # fmt: skip
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
            if step.endswith("changed"):
                body = {"fraction": args.change, "salt": "bench"}
                httpx.post(f"{c_url}/_sandbox/enrollments/mutate", json=body, timeout=30)
            before = _import_requests(t_url)
            result = _run_child(str(config_path), "stats")
            result["imports"] = _import_requests(t_url) - before
            table.append((step, result))
            print(step, json.dumps(result), flush=True)
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


if __name__ == "__main__":
    main()

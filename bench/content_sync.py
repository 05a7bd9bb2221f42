"""Benchmark of the content pipeline (issue 3). Prints its numbers; docs/benchmarks.md quotes them.

1. Requests: the simulators run in ANOTHER process (``learnsync sandbox serve``); a first sync of a
   15,000-item catalog must issue no more requests than the minimum — ceil(15,000 / page limit)
   catalog reads and ceil(created / 10,000) bulk upserts, plus token and polling calls — and a
   second, unchanged sync zero writes.
2. Speed: mapping + diffing alone (no I/O) in items/s, median of 5 runs, with the ratio to a
   baseline measured in the same run (a plain copy of every raw catalog element) so that numbers
   from a busy machine stay comparable.

Usage: ``.venv/bin/python bench/content_sync.py [--items 15000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from learnsync.clients.coursera.client import CourseraClient
from learnsync.clients.threesixty.client import ThreeSixtyClient
from learnsync.config import load_config
from learnsync.diff.content import dedupe, plan_content
from learnsync.filter.rules import Filters
from learnsync.mapping.content import map_content
from learnsync.model.coursera import Content
from learnsync.sandbox.catalog import generate_catalog
from learnsync.sandbox.process import sandbox_process
from learnsync.sandbox.world import World
from learnsync.sync.content import run_content_sync
from learnsync.sync.context import Clients

PAGE_LIMIT = 1000  # what the Coursera client asks for (the simulator clamps at 1,000)
UPSERT_LIMIT = 10_000
WRITE_METHODS = ("PUT", "POST", "DELETE", "PATCH")


def request_table(items: int) -> bool:
    ok = True
    with (
        tempfile.TemporaryDirectory() as tmp,
        sandbox_process(
            "--catalog-size", str(items), "--learners", "10", "--enrollments", "10"
        ) as sandbox,
    ):
        config_path = Path(tmp) / "learnsync.toml"
        config_path.write_text(
            sandbox["config"].replace("sqlite:///learnsync.db", f"sqlite:///{tmp}/bench.db")
        )
        config = load_config(config_path)
        rows = []
        for label in ("first sync", "second sync (unchanged)"):
            clients = Clients(CourseraClient(config.coursera), ThreeSixtyClient(config.threesixty))
            started = time.perf_counter()
            report = run_content_sync(config, clients=clients)
            elapsed = time.perf_counter() - started
            c_counts = clients.coursera.request_counts
            t_counts = clients.threesixty.request_counts
            clients.close()
            catalog_reads = sum(n for (m, kind), n in c_counts.items() if "content" in kind)
            c_tokens = sum(n for (m, kind), n in c_counts.items() if "token" in kind)
            upserts = sum(n for (m, kind), n in t_counts.items() if kind == "bulk_upsert_courses")
            t_writes = sum(
                n for (m, kind), n in t_counts.items() if m in WRITE_METHODS and "token" not in kind
            )
            polls = sum(
                n for (m, kind), n in t_counts.items() if kind in ("bulk_operation", "bulk_results")
            )
            t_tokens = sum(n for (m, kind), n in t_counts.items() if "token" in kind)
            rows.append(
                (
                    label,
                    elapsed,
                    catalog_reads,
                    upserts,
                    t_writes,
                    polls,
                    c_tokens + t_tokens,
                    report.created,
                    report.unchanged,
                )
            )
        server = httpx.get(f"{sandbox['threesixty_url']}/_sandbox/stats").json()
    print(f"\n## Requests ({items:,}-item catalog, simulators in another process)\n")
    print(
        "| run | wall s | catalog reads | bulk upserts | 360 writes | polls | tokens | created |"
        " unchanged |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, elapsed, reads, upserts, writes, polls, tokens, created, unchanged in rows:
        print(
            f"| {label} | {elapsed:.1f} | {reads} | {upserts} | {writes} | {polls} | {tokens} |"
            f" {created} | {unchanged} |"
        )
    first, second = rows
    min_reads = math.ceil(items / PAGE_LIMIT)
    min_upserts = math.ceil(first[7] / UPSERT_LIMIT)
    checks = [
        (
            f"first sync catalog reads == ceil({items}/{PAGE_LIMIT}) = {min_reads}",
            first[2] == min_reads,
        ),
        (
            f"first sync bulk upserts == ceil({first[7]}/{UPSERT_LIMIT}) = {min_upserts}",
            first[3] == min_upserts,
        ),
        ("first sync writes == upserts + 1 integration creation", first[4] == first[3] + 1),
        ("second sync writes == 0", second[4] == 0),
    ]
    print()
    for text, passed in checks:
        ok &= passed
        print(f"- {'PASS' if passed else 'FAIL'}: {text}")
    print(f"- simulator saw {server.get('operations')} bulk operations in all")
    return ok


def speed_table(items: int, runs: int) -> bool:
    raw = generate_catalog(World(seed=42, catalog_size=items))
    contents = [Content.model_validate(item) for item in raw]
    # diff against a store state in which every item was sent before (the daily case)
    first = dedupe(map_content(c) for c in contents)
    from learnsync.diff.content import ACTIVE
    from learnsync.mapping.content import MappedCourse
    from learnsync.mapping.hashing import payload_hash
    from learnsync.store.records import ContentItemState

    states = {
        e: ContentItemState(
            external_id=e,
            state=ACTIVE,
            course_id="c" * 24,
            sent_hash=payload_hash(m.payload),
            language_code=m.language_code,
            content_type=m.content_type,
        )
        for e, m in first.items()
        if isinstance(m, MappedCourse)
    }
    work, base = [], []
    for _ in range(runs):
        started = time.perf_counter()
        mapped = dedupe(map_content(c) for c in contents)
        plan = plan_content(mapped, states, Filters(), archive_removed=False)
        work.append(time.perf_counter() - started)
        started = time.perf_counter()
        for item in raw:
            copy.copy(item)
        base.append(time.perf_counter() - started)
    rate = items / statistics.median(work)
    ratio = statistics.median(work) / statistics.median(base)
    print(f"\n## Mapping + diffing ({items:,} items, median of {runs} runs, no I/O)\n")
    print("| measure | value |\n|---|---|")
    print(f"| map + dedupe + diff | {rate:,.0f} items/s |")
    base_rate = items / statistics.median(base)
    print(f"| baseline (shallow copy of each raw element) | {base_rate:,.0f} items/s |")
    print(f"| ratio work / baseline | {ratio:.1f} |")
    print(f"| unchanged in plan | {len(plan.unchanged):,} |")
    passed = rate >= 20_000
    print(f"\n- {'PASS' if passed else 'FAIL'}: ≥ 20,000 items/s")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=15_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# learnsync content benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    ok = speed_table(args.items, args.runs)
    ok &= request_table(args.items)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

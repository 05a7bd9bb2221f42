"""Measure the store's bulk paths: ``python -m learnsync.store.bench [URL] [--stats N]``.

Saves and reloads 15,000 content items and N statistics items (default 1,000,000) into a fresh
integration and prints the timings. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from learnsync.store import ContentItemState, StatItemState, Store


def _content(n: int) -> list[ContentItemState]:
    return [
        ContentItemState(
            external_id=f"Course~c{i:06d}",
            state="active",
            course_id=f"{i:024x}",
            sent_hash=hashlib.sha256(str(i).encode()).hexdigest(),  # as long as a payload hash
            payload={"externalId": f"Course~c{i:06d}", "name": f"Course {i}", "subjects": ["x"]},
            language_code="en",
            content_type="Course",
            name=f"Course {i}",
        )
        for i in range(n)
    ]


def _stats(n: int, now: datetime) -> Iterator[StatItemState]:
    for i in range(n):
        yield StatItemState(
            external_id=f"Course~c{i % 15000:06d}",
            learner=f"learner{i // 15000}.{i % 7}@example.com",
            state="sent",
            sent_hash=(i * 2_654_435_761) & ((1 << 63) - 1),  # any 64-bit payload hash
            sent_completed=i % 3 == 0,
            first_seen_at=now,
            completed_seen_at=now if i % 3 == 0 else None,
            sent_rank=(1 << 39) | (100 << 32) | i if i % 3 == 0 else (50 << 32) | i,
        )


def _timed(label: str, action: object) -> object:
    start = time.perf_counter()
    result = action() if callable(action) else None
    print(f"{label:<40} {time.perf_counter() - start:8.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?", default="sqlite:///learnsync-bench.db")
    parser.add_argument("--content", type=int, default=15_000)
    parser.add_argument("--stats", type=int, default=1_000_000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    store = Store.open(args.url)
    try:
        integration = store.get_or_create_integration(f"bench|{uuid.uuid4().hex}")
        iid = integration.id
        items = _content(args.content)
        _timed(
            f"save {args.content} content items (insert)",
            lambda: store.save_content_items(iid, items),
        )
        _timed(
            f"save {args.content} content items (update)",
            lambda: store.save_content_items(iid, items),
        )
        loaded = _timed(f"load {args.content} content items", lambda: store.load_content_items(iid))
        assert isinstance(loaded, dict) and len(loaded) == args.content
        _timed(
            f"save {args.stats} stat items (insert)",
            lambda: store.save_stat_items(iid, _stats(args.stats, now)),
        )
        _timed(
            f"save {args.stats} stat items (update)",
            lambda: store.save_stat_items(iid, _stats(args.stats, now)),
        )
        count = _timed(
            f"stream {args.stats} stat items", lambda: sum(1 for _ in store.iter_stat_items(iid))
        )
        assert count == args.stats, count
    finally:
        store.close()


if __name__ == "__main__":
    main()

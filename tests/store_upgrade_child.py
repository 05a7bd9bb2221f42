"""Run as a child process by tests/test_store_upgrade_atomic.py: open the store at argv[1] at
the moment argv[2] (epoch seconds), sleeping argv[3] seconds after each ``CREATE TABLE`` of the
schema upgrade from the argv[4]-th on (default 1; printing ``ddl`` after each), then write to it
and print ``ok``.

The sleep is a listener on the engine, added here only: production code has no test branch.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from sqlalchemy import Engine, event

from learnsync.store import db
from learnsync.store.repository import Store


def main() -> None:
    url, start, delay = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    sleep_from = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    created = [0]
    original = db.create_store_engine

    def slowed(u: Any, **kwargs: Any) -> Engine:
        engine = original(u, **kwargs)

        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("CREATE TABLE"):
                created[0] += 1
                print("ddl", flush=True)
                if created[0] >= sleep_from:
                    time.sleep(delay)

        event.listen(engine, "after_cursor_execute", after)
        return engine

    db.create_store_engine = slowed  # type: ignore[assignment]
    time.sleep(max(0.0, start - time.time()))
    with Store.open(url) as store:
        store.get_or_create_integration(f"key-{start}-{time.monotonic_ns()}", name="n")
    print("ok", flush=True)


if __name__ == "__main__":
    main()

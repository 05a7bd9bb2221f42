"""The statistics run's scratch space: a temporary on-disk SQLite database, deleted at the end.

It holds, per (course, learner) pair (key: :func:`learnsync.diff.stats.pair_key`):

- a copy of the stored state (``s_*``: last accepted hash, whether completed was sent, the stored
  first-seen moments), loaded once from the store;
- the most advanced row of this run (merged on insert: ``ON CONFLICT DO UPDATE ... WHERE
  excluded.rank > rank``, so a tie keeps the first row, like ``more_advanced``);

and the skipped rows, de-duplicated per pair. One query then streams exactly the items that must
be sent. Nothing per row stays in Python memory: the database pages live on disk (journal and
fsync off: it is thrown away anyway).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from learnsync.diff.stats import Compact, Moments, item_hash, pair_key, rank

INSERT_CHUNK = 10_000

_SCHEMA = """
CREATE TABLE pair (
    k INTEGER PRIMARY KEY,
    s_hash INTEGER, s_completed INTEGER, s_first INTEGER, s_completed_at INTEGER, s_state TEXT,
    rank INTEGER, h INTEGER, completed INTEGER, ext TEXT, learner TEXT,
    progress INTEGER, spent INTEGER, first INTEGER, last INTEGER
);
CREATE TABLE skip (k INTEGER PRIMARY KEY, ext TEXT, learner TEXT, reason TEXT);
"""

_MERGE = """
INSERT INTO pair (k, rank, h, completed, ext, learner, progress, spent, first, last)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (k) DO UPDATE SET
    rank = excluded.rank, h = excluded.h, completed = excluded.completed, ext = excluded.ext,
    learner = excluded.learner, progress = excluded.progress, spent = excluded.spent,
    first = excluded.first, last = excluded.last
WHERE pair.rank IS NULL OR excluded.rank > pair.rank
"""

# the items to send: changed since the last accepted send, never backwards after completion
_TO_SEND = """
SELECT k, ext, learner, progress, spent, first, last, h, completed, s_first, s_completed_at,
       s_hash
FROM pair
WHERE rank IS NOT NULL
  AND NOT (COALESCE(s_completed, 0) = 1 AND completed = 0)
  AND (s_hash IS NULL OR s_hash != h)
ORDER BY k
"""


class Staging:
    """Open with ``Staging.create()``; ``close()`` deletes the file."""

    def __init__(self, directory: str) -> None:
        self._dir = directory
        self.path = os.path.join(directory, "stats-staging.sqlite")
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            "temp_store = FILE",
            "cache_size = -65536",  # 64 MB of page cache
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(_SCHEMA)
        self._pending: list[tuple[Any, ...]] = []
        self._pending_skips: list[tuple[Any, ...]] = []
        self.failed_stored = 0

    @classmethod
    def create(cls, directory: str | None = None) -> Staging:
        return cls(tempfile.mkdtemp(prefix="learnsync-stats-", dir=directory))

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- stored states ------------------------------------------------------------------------

    def load_states(self, states: Iterable[Any], to_ms: Any) -> int:
        """Copy the stored states (``StatItemState``-like) in; return how many."""
        count = 0
        sql = (
            "INSERT OR REPLACE INTO pair (k, s_hash, s_completed, s_first, s_completed_at, "
            "s_state) VALUES (?, ?, ?, ?, ?, ?)"
        )
        chunk: list[tuple[Any, ...]] = []
        for s in states:
            if s.state == "failed":
                self.failed_stored += 1
            chunk.append(
                (
                    pair_key(s.external_id, s.learner),
                    s.sent_hash,
                    1 if s.sent_completed else 0,
                    to_ms(s.first_seen_at) if s.first_seen_at is not None else None,
                    to_ms(s.completed_seen_at) if s.completed_seen_at is not None else None,
                    s.state,
                )
            )
            if len(chunk) >= INSERT_CHUNK:
                self.db.executemany(sql, chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            self.db.executemany(sql, chunk)
            count += len(chunk)
        return count

    def moments(self, external_id: str, learner: str) -> Moments:
        """The stored first-seen and first-seen-completed moments (epoch ms) of a pair."""
        # stored moments come only from load_states: pending rows never change them
        found = self.db.execute(
            "SELECT s_first, s_completed_at FROM pair WHERE k = ?",
            (pair_key(external_id, learner),),
        ).fetchone()
        return (found[0], found[1]) if found else (None, None)

    # -- this run's rows ----------------------------------------------------------------------

    def add(self, item: Compact) -> None:
        self._pending.append(
            (
                pair_key(item.external_id, item.learner),
                rank(item.completed, item.progress, item.last),
                item_hash(item),
                1 if item.completed else 0,
                item.external_id,
                item.learner,
                item.progress,
                item.time_spent,
                item.first,
                item.last,
            )
        )
        if len(self._pending) >= INSERT_CHUNK:
            self.flush()

    def add_skip(self, external_id: str, learner: str, reason: str) -> None:
        self._pending_skips.append((pair_key(external_id, learner), external_id, learner, reason))
        if len(self._pending_skips) >= INSERT_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.db.executemany(_MERGE, self._pending)
            self._pending = []
        if self._pending_skips:
            self.db.executemany(
                "INSERT OR IGNORE INTO skip (k, ext, learner, reason) VALUES (?, ?, ?, ?)",
                self._pending_skips,
            )
            self._pending_skips = []

    # -- results ------------------------------------------------------------------------------

    def merged_count(self) -> int:
        self.flush()
        return int(
            self.db.execute("SELECT COUNT(*) FROM pair WHERE rank IS NOT NULL").fetchone()[0]
        )

    def to_send_count(self) -> int:
        self.flush()
        return int(self.db.execute(f"SELECT COUNT(*) FROM ({_TO_SEND})").fetchone()[0])

    def iter_to_send(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The items to send, ``size`` at a time: ``(k, ext, learner, progress, spent, first,
        last, h, completed, s_first, s_completed_at, s_hash)``."""
        self.flush()
        cursor = self.db.execute(_TO_SEND)
        try:
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def iter_skips(self) -> Iterator[tuple[str, str, str]]:
        self.flush()
        yield from self.db.execute("SELECT ext, learner, reason FROM skip ORDER BY ext, learner")

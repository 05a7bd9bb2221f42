"""The statistics run's scratch space: a temporary on-disk SQLite database, deleted at the end.

It holds, per (course, learner) pair (key: :func:`learnsync.diff.stats.pair_key`):

- the stored state of the pairs that matter (``s_*``: last accepted hash and rank, whether
  completed was sent, the stored first-seen moments, the state and its reason): after a full read
  a copy of every stored state; after an incremental one only the states of the pairs the read
  produced (:meth:`Staging.keys`, looked up in the store by key), so an incremental run costs
  what it reads, not what is stored;
- every mapped row of this run, appended as it arrives, with its
  :func:`~learnsync.diff.stats.rank`;

and the skipped rows, appended likewise. Once the read is over, one statement merges the rows
(per (course, learner) the highest rank wins; a tie keeps the first row to arrive) and joins the
stored state; one query then streams exactly the items that must be sent, and the skipped rows
come out once per pair (the first row's reason). Nothing per row stays in Python memory: the
database pages live on disk (journal and fsync off: it is thrown away anyway).

Each run's file lives in a folder of its own, ``learnsync-stats-<pid>-<random>`` in the temporary
folder, removed when the run ends (normally or by an exception). A run killed outright (``kill
-9``, a crash of the machine) cannot remove it: the next run's :meth:`Staging.create` removes
the folders of runs whose process is gone, once they are :data:`STALE_AFTER_S` old, and never a
live run's.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any

from learnsync.diff.stats import (
    LEGACY_HASH_MASK,
    Compact,
    Moments,
    coarse_rank,
    item_hash,
    pair_key,
    rank,
)
from learnsync.store.repository import StatItemState

INSERT_CHUNK = 10_000

PREFIX = "learnsync-stats-"
# a left-over folder younger than this is left alone (its process may be starting in a container
# with another PID namespace sharing the folder, or the PID just got reused)
STALE_AFTER_S = 10 * 60
# folders of learnsync versions that did not put the PID in the name: removed once this old
LEGACY_STALE_AFTER_S = 24 * 3600
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-[a-z0-9_]+")
_LEGACY = re.compile(re.escape(PREFIX) + r"[a-z0-9_]{8}")

# one item to send, as ``iter_to_send`` yields it: (k, ext, learner, progress, spent, first, last,
# h, completed, s_first, s_completed_at, s_hash, crank, s_rank, s_state, s_error); the ``s_*``
# are the stored state's (or None); ``crank`` the item's coarse rank (diff.stats.item_rank)
ToSend = tuple[
    int,
    str,
    str,
    int,
    int,
    int,
    int,
    int,
    int,
    int | None,
    int | None,
    int | None,
    int,
    int | None,
    str | None,
    str | None,
]

# Every table is written in arrival order (append-only B-trees: a million random-key upserts into
# a wide table cost ~50 s; appends cost ~2 s). Only ``state.k`` is indexed while rows arrive (a
# narrow index; the moments lookup needs it). The merge happens once, after the read.
_SCHEMA = """
CREATE TABLE state (
    k INTEGER, s_hash INTEGER, s_completed INTEGER, s_first INTEGER, s_completed_at INTEGER,
    s_state TEXT, s_rank INTEGER, s_error TEXT, ext TEXT, learner TEXT
);
CREATE INDEX state_k ON state (k);
CREATE TABLE row (
    k INTEGER, rank INTEGER, h INTEGER, completed INTEGER, ext TEXT, learner TEXT,
    progress INTEGER, spent INTEGER, first INTEGER, last INTEGER, crank INTEGER
);
CREATE TABLE skip (k INTEGER, ext TEXT, learner TEXT, reason TEXT);
"""

# the most advanced row per pair (rank, then arrival: a tie keeps the first row), joined with
# the stored state, and whether it must be sent (``must_send``): never backwards after
# completion; an item to retry (stored ``failed``) or never accepted; after a full read, changed
# since the last accepted send (``same_payload``); after an incremental read, more advanced than
# it (compares coarse ranks with ``sent_rank``). Partitioned by (course, learner), the store's
# key order, so the items come out in it: a million inserts into ``stat_items`` in key order cost
# ~20 s, in hash order ~33 s.
_MERGE = """
CREATE TABLE merged AS
SELECT m.k, m.ext, m.learner, m.progress, m.spent, m.first, m.last, m.h, m.completed,
       s.s_first, s.s_completed_at, s.s_hash, m.crank, s.s_rank, s.s_state, s.s_error,
       (NOT (COALESCE(s.s_completed, 0) = 1 AND m.completed = 0)
        AND (s.s_hash IS NULL OR s.s_state = 'failed' OR {compare})) AS send
FROM (
    SELECT row.*, ROW_NUMBER() OVER (PARTITION BY ext, learner ORDER BY rank DESC, rowid) AS rn
    FROM row
) AS m
LEFT JOIN state AS s ON s.rowid = (SELECT MIN(rowid) FROM state WHERE state.k = m.k)
WHERE m.rn = 1
"""

_CHANGED = (
    f"NOT (s.s_hash = m.h OR (s.s_hash BETWEEN 0 AND {LEGACY_HASH_MASK}"
    f" AND s.s_hash = (m.h & {LEGACY_HASH_MASK})))"
)
_ADVANCED = "(s.s_rank IS NULL OR m.crank > s.s_rank)"

_TO_SEND = """
SELECT k, ext, learner, progress, spent, first, last, h, completed, s_first, s_completed_at,
       s_hash, crank, s_rank, s_state, s_error
FROM merged WHERE send
"""

# one entry per skipped pair (its first row's reason), with the stored state of the pair
_SKIPS = """
SELECT x.ext, x.learner, x.reason, s.s_state, s.s_error
FROM (
    SELECT skip.*, ROW_NUMBER() OVER (PARTITION BY k ORDER BY rowid) AS rn FROM skip
) AS x
LEFT JOIN state AS s ON s.rowid = (SELECT MIN(rowid) FROM state WHERE state.k = x.k)
WHERE x.rn = 1
ORDER BY x.ext, x.learner
"""


class Staging:
    """Open with ``Staging.create()``; ``close()`` deletes the file."""

    def __init__(self, directory: str, *, incremental: bool = False) -> None:
        self._dir = directory
        self.incremental = incremental  # the rows are an incremental read's (see must_send)
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
        self._merged = False

    @classmethod
    def create(cls, directory: str | None = None, *, incremental: bool = False) -> Staging:
        """A new staging database in ``directory`` (default: the temporary folder), after
        removing the ones dead runs left there (:func:`remove_abandoned`)."""
        remove_abandoned(directory)
        folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=directory)
        return cls(folder, incremental=incremental)

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- stored states ------------------------------------------------------------------------

    def load_states(self, states: Iterable[StatItemState], to_ms: Callable[[datetime], int]) -> int:
        """Copy the stored states in; return how many."""
        self._invalidate()
        count = 0
        sql = "INSERT INTO state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        chunk: list[tuple[Any, ...]] = []
        for s in states:
            # the texts of the pairs not sent (few): a stale skip or retry is cleaned by its key
            skipped = s.state != "sent"
            chunk.append(
                (
                    pair_key(s.external_id, s.learner),
                    s.sent_hash,
                    1 if s.sent_completed else 0,
                    to_ms(s.first_seen_at) if s.first_seen_at is not None else None,
                    to_ms(s.completed_seen_at) if s.completed_seen_at is not None else None,
                    s.state,
                    s.sent_rank,
                    s.last_error if s.state != "sent" else None,
                    s.external_id if skipped else None,
                    s.learner if skipped else None,
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
        found = self.db.execute(
            "SELECT s_first, s_completed_at FROM state WHERE k = ? ORDER BY rowid LIMIT 1",
            (pair_key(external_id, learner),),
        ).fetchone()
        return (found[0], found[1]) if found else (None, None)

    def keys(self) -> Iterator[tuple[str, str]]:
        """Every distinct ``(external_id, learner)`` pair this run's rows and skips produced (the
        pairs whose stored states an incremental run looks up)."""
        self.flush()
        yield from self.db.execute(
            "SELECT ext, learner FROM row UNION SELECT ext, learner FROM skip ORDER BY 1, 2"
        )

    def stale_skips(self) -> list[tuple[str, str]]:
        """The stored ``skipped`` pairs this run produced neither as a skip nor as an item (after
        a full read: the skip no longer applies)."""
        self.flush()
        return [
            (ext, learner)
            for ext, learner in self.db.execute(
                "SELECT ext, learner FROM state WHERE s_state = 'skipped' AND ext IS NOT NULL"
                " AND k NOT IN (SELECT k FROM skip) AND k NOT IN (SELECT k FROM row)"
                " ORDER BY ext, learner"
            )
        ]

    def stale_retries(self) -> list[tuple[str, str]]:
        """The stored ``failed`` pairs this run produced no item for (after a full read: their
        rows left the report, so their stored values are not re-sent any more)."""
        self.flush()
        return [
            (ext, learner)
            for ext, learner in self.db.execute(
                "SELECT ext, learner FROM state WHERE s_state = 'failed' AND ext IS NOT NULL"
                " AND k NOT IN (SELECT k FROM row) ORDER BY ext, learner"
            )
        ]

    # -- this run's rows ----------------------------------------------------------------------

    def add(self, item: Compact) -> None:
        completed = item.completed
        progress = item.progress
        last = item.last
        self._pending.append(
            (
                pair_key(item.external_id, item.learner),
                rank(completed, progress, last),
                item_hash(item),
                1 if completed else 0,
                item.external_id,
                item.learner,
                progress,
                item.time_spent,
                item.first,
                last,
                coarse_rank(completed, progress, last),
            )
        )
        if len(self._pending) >= INSERT_CHUNK:
            self.flush()

    def add_skip(self, external_id: str, learner: str, reason: str) -> None:
        self._pending_skips.append((pair_key(external_id, learner), external_id, learner, reason))
        if len(self._pending_skips) >= INSERT_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending or self._pending_skips:
            self._invalidate()
        if self._pending:
            self.db.executemany(
                "INSERT INTO row VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending = []
        if self._pending_skips:
            self.db.executemany("INSERT INTO skip VALUES (?, ?, ?, ?)", self._pending_skips)
            self._pending_skips = []

    # -- results ------------------------------------------------------------------------------

    def _invalidate(self) -> None:
        if self._merged:
            self.db.execute("DROP TABLE merged")
            self._merged = False

    def _merge(self) -> None:
        """Build the merged table once (again only if rows or states arrived since)."""
        self.flush()
        if not self._merged:
            compare = _ADVANCED if self.incremental else _CHANGED
            self.db.execute(_MERGE.format(compare=compare))
            self._merged = True

    def merged_count(self) -> int:
        self._merge()
        return int(self.db.execute("SELECT COUNT(*) FROM merged").fetchone()[0])

    def to_send_count(self) -> int:
        self._merge()
        return int(self.db.execute("SELECT COUNT(*) FROM merged WHERE send").fetchone()[0])

    def iter_to_send(self, size: int) -> Generator[list[ToSend], None, None]:
        """The items to send, ``size`` at a time: ``(k, ext, learner, progress, spent, first,
        last, h, completed, s_first, s_completed_at, s_hash, crank, s_rank, s_state,
        s_error)``."""
        self._merge()
        cursor = self.db.execute(_TO_SEND)
        try:
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def iter_skips(self) -> Iterator[tuple[str, str, str, str | None, str | None]]:
        """``(external_id, learner, reason, stored state of the pair or None, its stored
        reason or error)`` per skipped pair, the first row's reason."""
        self.flush()
        yield from self.db.execute(_SKIPS)


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _last_change(path: str) -> float:
    """The newest modification time of the folder and of the files in it."""
    newest = os.stat(path, follow_symlinks=False).st_mtime
    for inner in os.scandir(path):
        newest = max(newest, inner.stat(follow_symlinks=False).st_mtime)
    return newest


def remove_abandoned(directory: str | None = None, *, now: float | None = None) -> list[str]:
    """Remove the staging folders in ``directory`` left by runs that died without cleaning up:
    those whose process is gone and that are older than :data:`STALE_AFTER_S` (and, from
    versions without the PID in the name, older than :data:`LEGACY_STALE_AFTER_S`). Returns
    the removed paths. Never fails: a folder that cannot be inspected or removed is left."""
    folder = directory or tempfile.gettempdir()
    moment = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        owned = _OWNED.fullmatch(entry.name)
        if owned:
            if int(owned.group(1)) == os.getpid() or _process_alive(int(owned.group(1))):
                continue
            max_age = STALE_AFTER_S
        elif _LEGACY.fullmatch(entry.name):
            max_age = LEGACY_STALE_AFTER_S
        else:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if moment - _last_change(entry.path) < max_age:
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.exists(entry.path):
            removed.append(entry.path)
    return removed

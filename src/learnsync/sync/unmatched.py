"""Learners whose Coursera statistics cannot reach 360Learning (``learnsync report
unmatched-learners``): read from the store only, no API call.

Two reasons:

- ``unknown_learner``: 360Learning rejected the learner's statistics because it knows no user
  with that e-mail (the per-item error names ``userNotFound`` / "no user"; the real API's text is
  undocumented: docs/api-notes.md#import-statistics) — the usual cause is a different e-mail on
  each platform;
- ``no_learner_email``: Coursera gives neither an ``externalId`` nor an ``email`` that is an
  e-mail address (the learner is the row's ``externalId``, ``""`` when absent).

The list is the store's current state of each (course, learner) pair (``stat_items``): a pair
whose state is a rejection for an unknown learner, or the skip ``no_learner_email``, is listed
however many runs ago it was first seen; a pair sent since is not (its state is ``sent``), nor a
skip that no longer applies (the statistics run deletes it: docs/stats.md#unmatched-learners).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from learnsync.config import Config
from learnsync.mapping.stats import NO_LEARNER_EMAIL
from learnsync.model.untrusted import csv_cell
from learnsync.sync.context import open_store, store_exists
from learnsync.sync.integration import store_record

UNKNOWN_LEARNER = "unknown_learner"
_UNKNOWN_MARKERS = ("usernotfound", "no user", "user not found", "unknown user")


@dataclass
class UnmatchedLearner:
    learner: str
    reason: str
    courses: list[str] = field(default_factory=list)
    error: str = ""


def is_unknown_learner_error(error: str | None) -> bool:
    text = (error or "").lower()
    return any(marker in text for marker in _UNKNOWN_MARKERS)


def unmatched_learners(config: Config) -> list[UnmatchedLearner]:
    """The unmatched learners of the integration, sorted by reason then learner."""
    if not store_exists(config.store_url):
        return []
    store = open_store(config)
    try:
        record = store_record(config, store)
        if record is None:
            return []
        found: dict[tuple[str, str], UnmatchedLearner] = {}
        for item in store.iter_stat_items(record.id):
            if item.state == "failed" and is_unknown_learner_error(item.last_error):
                reason = UNKNOWN_LEARNER
            elif item.state == "skipped" and item.last_error == NO_LEARNER_EMAIL:
                reason = NO_LEARNER_EMAIL
            else:
                continue
            entry = found.setdefault(
                (reason, item.learner),
                UnmatchedLearner(item.learner, reason, error=item.last_error or ""),
            )
            entry.courses.append(item.external_id)
    finally:
        store.close()
    for entry in found.values():
        entry.courses.sort()
    return sorted(found.values(), key=lambda e: (e.reason, e.learner))


def write_csv(rows: Iterable[UnmatchedLearner], path: str | Path) -> int:
    """Write ``learner,reason,course_count,courses`` (courses ``;``-separated); return the count.

    The learner and course cells are Coursera's text: neutralized against formula injection
    (a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    ``'``: :func:`~learnsync.model.untrusted.csv_cell`, docs/security.md#untrusted-text)."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", "reason", "course_count", "courses"])
        for row in rows:
            writer.writerow(
                [
                    csv_cell(row.learner),
                    row.reason,
                    len(row.courses),
                    csv_cell(";".join(row.courses)),
                ]
            )
            count += 1
    return count

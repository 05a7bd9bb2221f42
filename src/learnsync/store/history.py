"""Bounded run history: what the store keeps of a run's report, and the counts a list needs.

A run's report (docs/contract.md#report-json) lists every skipped and failed item: for a large
organization that is tens of megabytes a day. The ``--report-json`` file stays complete; the
store keeps the counts, the total length of each list (``totals``) and at most
:data:`REPORT_SAMPLE` items of each list, and copies the counts into summary columns of ``runs``
(:data:`SUMMARY_COLUMNS`) so the list pages and ``/metrics`` never read a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# items of each list of a stored report (the run detail page shows them, with the total)
REPORT_SAMPLE = 100
# the report's integer counts that become columns: report key -> column
COUNT_KEYS = ("created", "updated", "unchanged", "archived", "restored", "sent")
# the report's lists whose length becomes a column
LIST_KEYS = ("skipped", "failed", "warnings")
SUMMARY_COLUMNS = {key: f"{key}_count" for key in (*COUNT_KEYS, *LIST_KEYS)}
TOTALS_KEY = "totals"  # {list key: full length} in a stored (bounded) report


def list_total(report: Mapping[str, Any], key: str) -> int | None:
    """The full length of the report's list ``key`` (also of a bounded report); ``None`` when
    the report has no such list."""
    totals = report.get(TOTALS_KEY)
    if isinstance(totals, Mapping) and isinstance(totals.get(key), int):
        return int(totals[key])
    value = report.get(key)
    return len(value) if isinstance(value, list) else None


def summary_counts(report: Mapping[str, Any]) -> dict[str, int | None]:
    """The summary columns of a run with this report (``None``: not in this kind of report)."""
    counts: dict[str, int | None] = {}
    for key in COUNT_KEYS:
        value = report.get(key)
        counts[SUMMARY_COLUMNS[key]] = (
            value if isinstance(value, int) and not isinstance(value, bool) else None
        )
    for key in LIST_KEYS:
        counts[SUMMARY_COLUMNS[key]] = list_total(report, key)
    return counts


def bound_report(report: Mapping[str, Any], limit: int | None = None) -> dict[str, Any]:
    """The report as the store keeps it: every key, each list cut to its first ``limit`` items
    (default :data:`REPORT_SAMPLE`), and ``totals`` with each list's full length. Bounding a
    bounded report changes nothing."""
    limit = REPORT_SAMPLE if limit is None else limit
    stored = dict(report)
    totals: dict[str, int] = {}
    for key in LIST_KEYS:
        total = list_total(report, key)
        value = report.get(key)
        if total is None or not isinstance(value, list):
            continue
        totals[key] = total
        stored[key] = list(value[:limit])
    if totals:
        stored[TOTALS_KEY] = totals
    return stored

"""Run reports: the exact JSON shapes of docs/contract.md#report-json and a human summary.

:meth:`to_json` is the complete report (the ``--report-json`` file); :meth:`to_record` is what the
store keeps of it: the counts and the first items of each list, with their totals
(:func:`learnsync.store.history.bound_report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learnsync.errors import OperationsFailed
from learnsync.store.history import bound_report


@dataclass(slots=True)
class ContentReport:
    dry_run: bool = False
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    archived: int = 0
    restored: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = "content"
    # of ``failed``: the items of bulk operations that failed as a whole (not in the JSON)
    in_failed_operations: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "archived": self.archived,
            "restored": self.restored,
            "skipped": list(self.skipped),
            "failed": list(self.failed),
            "warnings": list(self.warnings),
        }

    def to_record(self) -> dict[str, Any]:
        """What the store keeps of a run, bounded (the report shape carries the warnings)."""
        return bound_report(self.to_json())

    def summary(self) -> str:
        prefix = "dry run, would have: " if self.dry_run else ""
        return (
            f"{prefix}{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.archived} archived, {self.restored} restored, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed"
        )


@dataclass(slots=True)
class StatsReport:
    """The statistics report. Its JSON has no ``warnings`` key (the contract's shape has none):
    warnings go to stderr and into the stored run (:meth:`to_record`)."""

    dry_run: bool = False
    sent: int = 0
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = "stats"
    in_failed_operations: int = 0  # as ContentReport's

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "sent": self.sent,
            "unchanged": self.unchanged,
            "skipped": list(self.skipped),
            "failed": list(self.failed),
        }

    def to_record(self) -> dict[str, Any]:
        """What the store keeps of a run: the report shape plus the warnings, bounded."""
        return bound_report({**self.to_json(), "warnings": list(self.warnings)})

    def summary(self) -> str:
        prefix = "dry run, would have: " if self.dry_run else ""
        return (
            f"{prefix}{self.sent} sent, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed"
        )


def failed_operations(report: ContentReport | StatsReport, noun: str) -> str | None:
    """The one line of a run some of whose bulk operations failed as a whole (exit 1,
    docs/contract.md#exit-status); ``None`` when none did."""
    count = report.in_failed_operations
    if not count:
        return None
    return (
        f"{count} {noun} were not written: their 360Learning bulk operations failed as a whole "
        "(ended in error or went unanswered); they are in the report's failed list and the next "
        "run sends them again"
    )


def raise_failed_operations(report: ContentReport | StatsReport, noun: str) -> None:
    """Once the run is done and recorded: exit 1 when bulk operations failed as a whole
    (:class:`OperationsFailed` carries the report, which is still written)."""
    message = failed_operations(report, noun)
    if message is not None:
        report.warnings.append(message)
        raise OperationsFailed(message, report=report)

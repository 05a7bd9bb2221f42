"""The --report-json shapes of docs/contract.md#report-json, key for key."""

from __future__ import annotations

from learnsync.sync.report import ContentReport, StatsReport


def test_content_report_has_exactly_the_spec_keys() -> None:
    report = ContentReport(dry_run=True, created=1, warnings=["w"])
    report.skipped.append({"externalId": "Course~a", "reason": "missing_name"})
    report.failed.append({"externalId": "Course~b", "error": "boom"})
    data = report.to_json()
    assert list(data) == [
        "kind", "dry_run", "created", "updated", "unchanged", "archived", "restored",
        "skipped", "failed", "warnings",
    ]  # fmt: skip
    assert data["kind"] == "content" and data["dry_run"] is True and data["created"] == 1
    assert data["skipped"] == [{"externalId": "Course~a", "reason": "missing_name"}]
    assert data["warnings"] == ["w"]


def test_stats_report_has_exactly_the_spec_keys_and_keeps_warnings_for_the_store() -> None:
    report = StatsReport(sent=3, warnings=["w"])
    report.failed.append({"externalId": "Course~a", "learner": "a@b.c", "error": "userNotFound"})
    data = report.to_json()
    assert list(data) == ["kind", "dry_run", "sent", "unchanged", "skipped", "failed"]
    assert data["kind"] == "stats" and data["sent"] == 3
    assert report.to_record()["warnings"] == ["w"]

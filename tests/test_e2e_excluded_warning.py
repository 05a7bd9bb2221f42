"""The content sync's "N Coursera items do not match the filters and were not created" warning
counts only items never created in 360Learning: a course the filters archived exists there (it
is archived, or left as it is), it is not "not created"."""

from __future__ import annotations

import copy
from pathlib import Path

from e2e_support import expected_catalog, run_cli
from learnsync.sandbox.stack import Stack

WARNING = "Coursera items do not match the filters and were not created"


def _excluded_warnings(warnings: list[str]) -> list[str]:
    return [w for w in warnings if WARNING in w]


def test_archived_courses_are_not_counted_as_not_created(
    stack: Stack, config_path: Path, tmp_path: Path
) -> None:
    assert run_cli("sync", "content", "--config", config_path).exit_code == 0
    mapped = expected_catalog(stack)[0]
    others = {e for e, m in mapped.items() if (m.language_code or "").lower() != "en"}
    assert others
    saved = run_cli("filters", "set", "--config", config_path, "--language", "en")
    assert saved.exit_code == 0, saved.stderr

    # every non-English course now exists archived: nothing "not created" to warn about
    result = run_cli("sync", "content", "--config", config_path, report=tmp_path / "r1.json")
    assert result.exit_code == 0, result.stderr
    assert result.report is not None
    assert _excluded_warnings(result.report["warnings"]) == []
    assert WARNING not in result.stderr

    # one new non-English item appears in Coursera: it alone was not created
    template = next(item for item in stack.coursera.catalog_items() if item["id"] in others)
    new = copy.deepcopy(template)
    new["contentId"] = "newNonEnglishItem0001"
    new["id"] = f"{new['contentType']}~{new['contentId']}"
    stack.coursera.put_content(new)
    result = run_cli("sync", "content", "--config", config_path, report=tmp_path / "r2.json")
    assert result.exit_code == 0, result.stderr
    assert result.report is not None
    assert _excluded_warnings(result.report["warnings"]) == [f"1 {WARNING}"]
    assert result.report["created"] == 0


def test_items_never_created_are_counted(stack: Stack, config_path: Path, tmp_path: Path) -> None:
    saved = run_cli("filters", "set", "--config", config_path, "--language", "en")
    assert saved.exit_code == 0, saved.stderr
    mapped = expected_catalog(stack)[0]
    others = {e for e, m in mapped.items() if (m.language_code or "").lower() != "en"}
    result = run_cli("sync", "content", "--config", config_path, report=tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    assert result.report is not None
    assert _excluded_warnings(result.report["warnings"]) == [f"{len(others)} {WARNING}"]

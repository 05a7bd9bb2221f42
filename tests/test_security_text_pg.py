"""A NUL in Coursera's text on a real store (issue 10, finding 7): PostgreSQL refuses ``\\x00`` in
text (a ``DataError`` that failed every run until the item changed); SQLite accepts it. With
the untrusted-text rules (docs/security.md#untrusted-text) the content and statistics runs go
through on both, the NUL removed, and the next runs send nothing again.

The ``url`` fixture (tests/conftest.py) is a SQLite file, then a PostgreSQL schema of its own
(``LEARNSYNC_TEST_PG_URL`` chooses the server).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e_support import courses_of, run_cli
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.store import Store
from test_security_text import SMALL, bad_item, serve_catalog, serve_report, stats_rows


@pytest.fixture
def small_stack() -> Iterator[Stack]:
    with running_stack(SMALL) as running:
        yield running


@pytest.fixture
def config(tmp_path: Path, small_stack: Stack, url: str) -> Path:
    path = tmp_path / "learnsync.toml"
    path.write_text(small_stack.config_toml(url), encoding="utf-8")
    return path


def test_nul_in_catalog_and_report_text(
    small_stack: Stack, config: Path, url: str, tmp_path: Path
) -> None:
    items = small_stack.coursera.catalog_items()
    nul = bad_item(
        items[0],
        id="Course~nul\x00-item",
        contentId="nul\x00-item",
        name="Nul\x00 in the title",
        description="Nul\x00 in the\n description",
        languageCode="e\x00n",
        partners=[{"name": "Nul\x00 U", "logoUrl": "https://x.test/\x00logo.png"}],
    )
    skipped = bad_item(items[0], id="Course~no-name", contentId="no-name", name="\x00")
    elements = [*items, nul, skipped]
    serve_catalog(small_stack, elements)
    first = run_cli("sync", "content", "--config", config, report=tmp_path / "c1.json")
    assert first.exit_code == 0, first.stderr
    assert first.report is not None and first.report["failed"] == []
    assert {"externalId": "Course~no-name", "reason": "missing_name"} in first.report["skipped"]
    course = courses_of(small_stack)["Course~nul-item"]
    assert course.data["name"] == "Nul in the title"
    assert course.data["description"] == "Nul in the\n description"
    assert course.data["defaultLang"] == "en"
    assert course.data["sources"] == [{"name": "Nul U", "logoUrl": "https://x.test/logo.png"}]

    # the same catalog again: stored as sent, so nothing changed and nothing is sent
    serve_catalog(small_stack, elements)
    again = run_cli("sync", "content", "--config", config, report=tmp_path / "c2.json")
    assert again.exit_code == 0, again.stderr
    assert again.report is not None
    assert (again.report["created"], again.report["updated"]) == (0, 0)

    # statistics: a NUL in a learner id, in a content id, and in a learner that has no e-mail
    rows = stats_rows(small_stack, 40)
    rows[0]["externalId"] += "\x00"
    rows[1]["contentId"] = "\x00" + rows[1]["contentId"]
    rows[2].update(externalId="no\x00-mail", email=None)
    serve_report(small_stack, rows)
    stats = run_cli("sync", "stats", "--config", config, report=tmp_path / "s1.json")
    assert stats.exit_code == 0, stats.stderr
    assert stats.report is not None
    assert (stats.report["sent"], stats.report["failed"]) == (39, [])
    key = f"{rows[2]['contentType']}~{rows[2]['contentId']}"
    assert stats.report["skipped"] == [
        {"externalId": key, "learner": "no-mail", "reason": "no_learner_email"}
    ]
    serve_report(small_stack, rows)
    stats_again = run_cli("sync", "stats", "--config", config, report=tmp_path / "s2.json")
    assert stats_again.exit_code == 0, stats_again.stderr
    assert stats_again.report is not None and stats_again.report["sent"] == 0

    with Store.open(url) as store:
        record = store.get_integration(1)
        assert record is not None
        content = store.load_content_items(record.id)
        assert content["Course~nul-item"].name == "Nul in the title"
        assert content["Course~nul-item"].language_code == "en"
        learners = {s.learner for s in store.iter_stat_items(record.id)}
    assert rows[0]["externalId"].rstrip("\x00") in learners and "no-mail" in learners
    assert not any("\x00" in learner for learner in learners)

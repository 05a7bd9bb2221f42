"""`learnsync report unmatched-learners` after a statistics sync, through the CLI (issue 4)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from e2e_support import run_cli
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World
from learnsync.store.repository import Store


def test_unmatched_learners_are_listed_with_their_courses(tmp_path: Path) -> None:
    world = World(seed=3, catalog_size=30, learners=30, enrollments=200, unknown_learner_ratio=0.3)
    unknown = {
        world.learner_email(n) for n in range(world.learners) if not world.learner_known_to_360(n)
    }
    assert unknown
    with running_stack(world) as stack:
        config = tmp_path / "learnsync.toml"
        config.write_text(stack.config_toml(f"sqlite:///{tmp_path / 's.db'}"))
        assert run_cli("sync", "content", "--config", config).exit_code == 0
        result = run_cli("sync", "stats", "--config", config, report=tmp_path / "stats.json")
        assert result.exit_code == 0, result.stderr  # unknown learners do not stop the run
        assert result.report is not None
        failed = {f["learner"] for f in result.report["failed"]}
        assert failed and failed <= unknown

        listed = run_cli(
            "report", "unmatched-learners", "--config", config, "--csv", tmp_path / "u.csv"
        )
        assert listed.exit_code == 0, listed.stderr
        for learner in failed:
            assert learner in listed.stdout
        with (tmp_path / "u.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        by_learner = {row["learner"]: row for row in rows}
        assert failed <= set(by_learner)
        for learner in failed:
            courses = {f["externalId"] for f in result.report["failed"] if f["learner"] == learner}
            assert int(by_learner[learner]["course_count"]) >= len(courses)


def _listed(config: Path, csv_path: Path) -> set[tuple[str, str, int]]:
    """(learner, reason, course count) of the report command, checked against its CSV."""
    listed = run_cli("report", "unmatched-learners", "--config", config, "--csv", csv_path)
    assert listed.exit_code == 0, listed.stderr
    with csv_path.open(newline="") as handle:
        rows = {
            (row["learner"], row["reason"], int(row["course_count"]))
            for row in csv.DictReader(handle)
        }
    for learner, _reason, _count in rows:
        assert learner in listed.stdout
    return rows


@pytest.mark.parametrize("unknown_ratio", [0.3, 0.0], ids=["unknown-learners", "all-known"])
def test_unmatched_learners_are_the_current_state_after_later_runs(
    tmp_path: Path, unknown_ratio: float
) -> None:
    """Every later run lists exactly the learners still unmatched: a learner first seen runs
    ago stays listed, one whose rows now carry an e-mail 360Learning knows leaves the list.
    (With or without unknown learners the later runs are incremental reads: rejected items are
    retried on their own.)"""
    world = World(
        seed=3, catalog_size=30, learners=60, enrollments=400, unknown_learner_ratio=unknown_ratio
    )
    with running_stack(world) as stack:
        config = tmp_path / "learnsync.toml"
        config.write_text(stack.config_toml(f"sqlite:///{tmp_path / 's.db'}"))
        assert run_cli("sync", "content", "--config", config).exit_code == 0
        first = run_cli("sync", "stats", "--config", config, report=tmp_path / "1.json")
        assert first.exit_code == 0, first.stderr
        assert first.report is not None
        courses: dict[tuple[str, str], set[str]] = defaultdict(set)
        for f in first.report["failed"]:
            courses[(f["learner"], "unknown_learner")].add(f["externalId"])
        for s in first.report["skipped"]:
            if s["reason"] == "no_learner_email":
                courses[(s["learner"], "no_learner_email")].add(s["externalId"])
        expected = {(learner, reason, len(c)) for (learner, reason), c in courses.items()}
        assert any(reason == "no_learner_email" for _l, reason, _n in expected)
        assert (unknown_ratio > 0) == any(r == "unknown_learner" for _l, r, _n in expected)
        assert _listed(config, tmp_path / "1.csv") == expected

        # a second run with nothing changed: the same learners, however long ago first seen
        second = run_cli("sync", "stats", "--config", config, report=tmp_path / "2.json")
        assert second.exit_code == 0, second.stderr
        assert second.report is not None
        mode = "incremental"
        assert _stored_read_mode(tmp_path / "s.db") == mode
        assert _listed(config, tmp_path / "2.csv") == expected
        # a skip that did not change is not written again, nor its audit row
        first_audit, second_audit = _no_email_audit_rows(tmp_path / "s.db")
        assert first_audit == sum(n for _l, r, n in expected if r == "no_learner_email")
        assert second_audit == 0

        # a learner without an e-mail gets one (known to 360Learning) on every course
        learner, n = next(
            (ext, n)
            for (ext, reason), _c in sorted(courses.items())
            if reason == "no_learner_email"
            and (n := stack.coursera.report.resolve_learner(ext)) is not None
            and world.learner_known_to_360(n)
        )
        for external_id in sorted(courses[(learner, "no_learner_email")]):
            content_type, _, content_id = external_id.partition("~")
            stack.coursera.report.upsert(
                content_id=content_id,
                content_type=content_type,
                learner=learner,
                fields={"email": world.learner_email(n)},
                now_ms=stack.coursera.clock.now_ms(),
            )
        third = run_cli("sync", "stats", "--config", config, report=tmp_path / "3.json")
        assert third.exit_code == 0, third.stderr
        assert third.report is not None
        assert _stored_read_mode(tmp_path / "s.db") == mode
        assert third.report["sent"] == len(courses[(learner, "no_learner_email")])
        still = {row for row in expected if row[0] != learner}
        assert _listed(config, tmp_path / "3.csv") == still


def _no_email_audit_rows(db: Path) -> list[int]:
    """The ``no_learner_email`` audit rows of each statistics run, oldest first."""
    with Store.open(f"sqlite:///{db}") as store:
        runs = [r for r in store.list_runs(1) if r.kind == "stats"]
        return [
            sum(1 for i in store.list_run_items(r.id) if i.detail == "no_learner_email")
            for r in reversed(runs)
        ]


def _stored_read_mode(db: Path) -> str:
    with Store.open(f"sqlite:///{db}") as store:
        runs = [r for r in store.list_runs(1) if r.kind == "stats"]
    return str(runs[0].report["read"]["mode"])

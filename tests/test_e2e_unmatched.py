"""`learnsync report unmatched-learners` after a statistics sync, through the CLI (issue 4)."""

from __future__ import annotations

import csv
from pathlib import Path

from e2e_support import run_cli
from learnsync.sandbox.stack import running_stack
from learnsync.sandbox.world import World


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

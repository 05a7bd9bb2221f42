"""The benchmark's world and checks: a clean report, the mutate change digest, the 360Learning
simulator's applied-statistics digest, and its eager bulk worker."""

from __future__ import annotations

import time
from collections import Counter

from learnsync.sandbox.catalog import generate_catalog
from learnsync.sandbox.clock import SimClock
from learnsync.sandbox.enrollments import EnrollmentReport, ReportQuery, _mapped_learner
from learnsync.sandbox.threesixty.state import ThreeSixtySim
from learnsync.sandbox.world import World

ANCHOR = 1_760_000_000_000


def _report(**kwargs: object) -> EnrollmentReport:
    world = World(
        seed=3,
        catalog_size=400,
        learners=300,
        enrollments=6_000,
        **kwargs,  # type: ignore[arg-type]
    )
    return EnrollmentReport(world, generate_catalog(world), ANCHOR)


def _pairs(report: EnrollmentReport) -> Counter[tuple[str, str]]:
    return Counter(
        (f"{r['contentType']}~{r['contentId']}", _mapped_learner(r))
        for r in report.iter_rows(ReportQuery(include_s12n=True))
    )


def test_the_default_world_keeps_its_edge_rows() -> None:
    pairs = _pairs(_report())
    assert max(pairs.values()) > 1, "duplicate (course, learner) rows"
    assert pairs[next(p for p in pairs if p[1] == "")] >= 1, "learners without an e-mail"


def test_a_clean_report_has_one_deliverable_row_per_pair() -> None:
    report = _report(clean_report=True, unknown_learner_ratio=0.5)
    pairs = _pairs(report)
    assert sum(pairs.values()) == 6_000 and max(pairs.values()) == 1
    assert all(learner for _, learner in pairs)
    assert all(report.world.learner_known_to_360(n) for n in range(300))


def test_mutate_reports_exactly_the_rows_that_changed() -> None:
    report = _report(clean_report=True)
    before = {r["id"]: r for r in report.iter_rows(ReportQuery(include_s12n=True))}
    answer = report.mutate(0.05, "t", ANCHOR + 1_000, report_changes=True)
    after = {r["id"]: r for r in report.iter_rows(ReportQuery(include_s12n=True))}
    changed = [r for key, r in after.items() if before[key] != r]
    assert 0 < answer["changed"] == len(changed) < 0.05 * 6_000
    from learnsync.sandbox.enrollments import pairs_digest

    assert answer["changed_digest"] == pairs_digest(
        (f"{r['contentType']}~{r['contentId']}", _mapped_learner(r)) for r in changed
    )


def test_bulk_operations_are_applied_without_being_polled() -> None:
    world = World(seed=3, catalog_size=0, learners=10, enrollments=0)
    sim = ThreeSixtySim(world, SimClock(), phase_seconds=0.02)
    integration = sim.create_integration(
        {"externalPlatform": "x", "groupId": world.group_id, "authorId": world.author_id}
    )["_id"]
    op = sim.submit("importExternalCourses", integration, {"input": [{"externalId": "a"}]})
    assert sim.operations[op].describe(sim.clock.time())["status"] == "pending"
    deadline = time.monotonic() + 5
    while sim.operations[op].is_open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.operations[op].status == "completed"  # nobody asked: the worker applied it
    assert sim.operation(op)["status"] == "completed"
    assert sim.operation_results_body(op).startswith(b'[{"input":')

"""The seeded catalog and lazy enrollment-report generators of the Coursera sandbox."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from learnsync.sandbox.catalog import (
    EDGE_KINDS,
    UNKNOWN_CONTENT_TYPE,
    UNSUPPORTED_LANGUAGES,
    edge_kind,
    generate_catalog,
)
from learnsync.sandbox.enrollments import DAY_MS, EnrollmentReport, ReportQuery
from learnsync.sandbox.world import World

ANCHOR = 1_750_000_000_000 // DAY_MS * DAY_MS
WORLD = World(seed=7, catalog_size=600, learners=400, enrollments=5_000)


@pytest.fixture(scope="module")
def catalog() -> list[dict]:
    return generate_catalog(WORLD)


@pytest.fixture()
def report(catalog: list[dict]) -> EnrollmentReport:
    return EnrollmentReport(WORLD, catalog, ANCHOR)


# --- catalog --------------------------------------------------------------------------------


def test_catalog_is_deterministic_and_sized(catalog: list[dict]) -> None:
    assert len(catalog) == WORLD.catalog_size
    assert generate_catalog(WORLD) == catalog
    assert generate_catalog(World(seed=8, catalog_size=600)) != catalog
    assert len({item["id"] for item in catalog}) == len(catalog)


def test_catalog_ids_and_urls_have_the_reference_shapes(catalog: list[dict]) -> None:
    url = re.compile(
        r"^https://www\.coursera\.org/programs/[a-z0-9-]+-[a-z0-9]{5}"
        r"\?productId=(?P<id>[\w-]{22})&productType=(?P<type>course|s12n)&showMiniModal=true$"
    )
    for item in catalog:
        assert item["id"] == f"{item['contentType']}~{item['contentId']}"
        for program in item["programs"]:
            match = url.match(program["contentUrl"])
            assert match and match["id"] == item["contentId"]
            assert program["programId"] in WORLD.coursera_program_ids


def test_catalog_language_and_type_proportions() -> None:
    items = generate_catalog(World(seed=3, catalog_size=5_000))
    langs = Counter(item["languageCode"] for item in items)
    types = Counter(item["contentType"] for item in items)
    assert langs.most_common(1)[0][0] == "en" and 0.5 < langs["en"] / 5_000 < 0.7
    for code in ("es", "fr", "pt-BR", "de", "zh-CN", "zh-TW", "es-419", "ja", "ko", "ar"):
        assert langs[code] > 0, code
    unsupported = sum(langs[code] for code in UNSUPPORTED_LANGUAGES) / 5_000
    assert 0.003 < unsupported < 0.02
    assert types.most_common(1)[0][0] == "Course"
    for kind in ("Specialization", "GuidedProject", "ProfessionalCertificate", "Project", "Video"):
        assert types[kind] > 0, kind
    levels = Counter(item["difficultyLevel"] for item in items)
    assert set(levels) == {"BEGINNER", "INTERMEDIATE", "ADVANCED", "MIXED", None}
    logos = [p.get("logoUrl") for item in items for p in item["partners"]]
    assert any(logos) and None in logos
    assert any(not item["partners"] for item in items)
    durations = [item["extraMetadata"]["definition"].get("estimatedLearningTime") for item in items]
    assert None in durations and all(d is None or d >= 60 for d in durations)


@pytest.mark.parametrize("kind", EDGE_KINDS)
def test_every_edge_kind_is_present(catalog: list[dict], kind: str) -> None:
    items = [item for i, item in enumerate(catalog) if edge_kind(i) == kind]
    assert items, kind
    item = items[0]
    check = {
        "blank_name": lambda: item["name"].strip() == "",
        "no_programs": lambda: item["programs"] == [],
        "empty_description": lambda: item["description"] == "",
        "missing_definition_keys": lambda: item["extraMetadata"]["definition"] == {},
        "unknown_content_type": lambda: item["contentType"] == UNKNOWN_CONTENT_TYPE,
        "partner_without_name": lambda: item["partners"][0]["name"].strip() == "",
    }[kind]
    assert check()


def test_specializations_list_courses(catalog: list[dict]) -> None:
    courses = {item["contentId"] for item in catalog if item["contentType"] == "Course"}
    s12n = [item for item in catalog if item["contentType"] == "Specialization"]
    assert s12n
    for item in s12n:
        ids = item["extraMetadata"]["definition"].get("courseIds")
        assert ids is None or (ids and set(ids) <= courses)


# --- enrollment report -----------------------------------------------------------------------


def _all(report: EnrollmentReport, **query) -> list[dict]:
    return list(report.iter_rows(ReportQuery(**query)))


def test_report_is_deterministic_and_complete(report: EnrollmentReport, catalog) -> None:
    rows = _all(report, include_s12n=True)
    assert len(rows) == WORLD.enrollments
    again = EnrollmentReport(WORLD, catalog, ANCHOR)
    assert [again.row(i) for i in (0, 17, 4_999)] == [report.row(i) for i in (0, 17, 4_999)]


def test_report_rows_are_realistic(report: EnrollmentReport) -> None:
    rows = _all(report, include_s12n=True)
    completed = [r for r in rows if r["isCompleted"]]
    assert 0.15 < len(completed) / len(rows) < 0.35
    for row in rows:
        times = [row.get(k) for k in ("enrolledAt", "lastActivityAt", "completedAt")]
        present = [t for t in times if t is not None]
        assert present == sorted(present) and all(t <= ANCHOR for t in present), row
        assert row["updatedAt"] <= ANCHOR
        if row["isCompleted"]:
            assert row["completedAt"] and 0.6 <= row["grade"] <= 1.0
            assert row.get("overallProgress", 100) == 100
        else:
            assert "completedAt" not in row and "grade" not in row
            assert "contentCertificateUrl" not in row
    for key in ("overallProgress", "enrolledAt", "lastActivityAt"):
        missing = sum(key not in r for r in rows)
        assert 0 < missing < len(rows) * 0.1, key


def test_learner_identities(report: EnrollmentReport) -> None:
    rows = _all(report, include_s12n=True)
    emails = {WORLD.learner_email(n) for n in range(WORLD.learners)}
    by_email = sum(r["externalId"] in emails for r in rows)
    employee = [r for r in rows if re.fullmatch(r"EMP-\d{7}", r["externalId"])]
    neither = [r for r in rows if "@" not in r["externalId"] and not r.get("email")]
    assert by_email / len(rows) > 0.7
    assert employee and all(r["email"] in emails for r in employee)
    assert neither and len(neither) / len(rows) < 0.05
    assert any(not WORLD.learner_known_to_360(n) for n in range(WORLD.learners))


def test_duplicate_rows_for_the_same_content_in_two_programs(report: EnrollmentReport) -> None:
    rows = _all(report, include_s12n=True)
    programs = Counter((r["externalId"], r["contentId"]) for r in rows)
    pairs = [k for k, v in programs.items() if v > 1]
    assert pairs
    both = {r["programId"] for r in rows if (r["externalId"], r["contentId"]) == pairs[0]}
    assert len(both) == 2


@pytest.mark.parametrize("program_index", [None, 0, 1])
@pytest.mark.parametrize("include_s12n", [False, True])
def test_finders_agree_with_brute_force(
    report: EnrollmentReport, program_index: int | None, include_s12n: bool
) -> None:
    every = _all(report, include_s12n=True)
    pid = None if program_index is None else WORLD.coursera_program_ids[program_index]
    expected = [
        r
        for r in every
        if (pid is None or r["programId"] == pid)
        and (include_s12n or r["contentType"] not in ("Specialization", "ProfessionalCertificate"))
    ]
    got = _all(report, program_index=program_index, include_s12n=include_s12n)
    assert got == expected
    if not include_s12n:
        assert len(got) < len(_all(report, program_index=program_index, include_s12n=True))


def test_date_filters_agree_with_brute_force(report: EnrollmentReport) -> None:
    every = _all(report, include_s12n=True)
    after = ANCHOR - 30 * DAY_MS
    expected = [r for r in every if r.get("lastActivityAt", 0) > after]
    assert 0 < len(expected) < len(every)
    assert _all(report, include_s12n=True, last_activity_after=after) == expected
    done = [r for r in every if r.get("completedAt", 0) > after]
    assert _all(report, include_s12n=True, completed_at_after=after) == done


def test_by_user_program_id(report: EnrollmentReport) -> None:
    every = _all(report, include_s12n=True)
    target = every[10]
    expected = [
        r
        for r in every
        if r["externalId"] == target["externalId"] and r["programId"] == target["programId"]
    ]
    p = WORLD.coursera_program_ids.index(target["programId"])
    got = _all(report, program_index=p, learner=target["externalId"], include_s12n=True)
    assert got == expected
    assert _all(report, program_index=p, learner="nobody@else.org", include_s12n=True) == []


def test_mutate_advances_about_the_fraction_lazily(report: EnrollmentReport) -> None:
    before = _all(report, include_s12n=True)
    now = ANCHOR + 5 * DAY_MS
    report.mutate(0.05, "bench-1", now)
    after = _all(report, include_s12n=True)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert 0.02 * len(before) < len(changed) < 0.06 * len(before)
    for old, new in changed:
        assert not old["isCompleted"] and new["lastActivityAt"] == now
        assert new["isCompleted"] or new["overallProgress"] > old.get("overallProgress", 0)
    recent = _all(report, include_s12n=True, last_activity_after=ANCHOR)
    assert len(recent) == len(changed)
    report.mutate(0.05, "bench-2", now + 1)  # another salt selects other rows
    later = [r for r in _all(report, include_s12n=True) if r.get("lastActivityAt") == now + 1]
    assert later and {r["id"] for r in later} != {new["id"] for _, new in changed}


def test_upsert_existing_row_and_new_row(report: EnrollmentReport, catalog) -> None:
    target = report.row(42)
    assert target is not None
    now = ANCHOR + DAY_MS
    rows = report.upsert(
        content_id=target["contentId"],
        learner=target["externalId"],
        program_id=target["programId"],
        fields={"isCompleted": True},
        now_ms=now,
    )
    assert len(rows) == 1 and rows[0]["id"] == target["id"]
    assert rows[0]["isCompleted"] and rows[0]["overallProgress"] == 100
    assert rows[0]["completedAt"] == rows[0]["lastActivityAt"] == rows[0]["updatedAt"] == now
    assert report.row(42) == rows[0]

    total_before = len(_all(report, include_s12n=True))
    new = report.upsert(
        content_id=catalog[0]["contentId"],
        learner="newcomer@example.com",
        fields={"overallProgress": 12},
        now_ms=now,
    )
    assert new[0]["externalId"] == "newcomer@example.com" and new[0]["overallProgress"] == 12
    assert len(_all(report, include_s12n=True)) == total_before + 1
    again = report.upsert(
        content_id=catalog[0]["contentId"],
        learner="newcomer@example.com",
        fields={"overallProgress": 40},
        now_ms=now,
    )
    assert again[0]["overallProgress"] == 40
    assert len(_all(report, include_s12n=True)) == total_before + 1
    found = _all(report, include_s12n=True, learner="newcomer@example.com")
    assert [r["overallProgress"] for r in found] == [40]


def test_a_million_rows_stay_lazy() -> None:
    world = World(seed=1, catalog_size=400, learners=100_000, enrollments=1_000_000)
    report = EnrollmentReport(world, generate_catalog(world), ANCHOR)
    began = time.perf_counter()
    total, rows = report.count_and_rows(ReportQuery(include_s12n=False), 899_000, 1000)
    assert time.perf_counter() - began < 1.0
    assert len(rows) == 1000 and 850_000 < total < 1_000_000
    total_s12n, _ = report.count_and_rows(ReportQuery(include_s12n=True), 0, 1)
    assert total_s12n == 1_000_000

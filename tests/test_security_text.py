"""Untrusted text (issue 10, findings 7 and 8; docs/security.md#untrusted-text).

- the normalizer (:mod:`learnsync.model.untrusted`), table-driven and as properties;
- the tolerant converters and both mappings on any JSON: they never raise, and what they give
  is storable (UTF-8, no NUL, within the store's column sizes) and within the limits;
- the length limits, URL checks and number ranges of the mapping (docs/mapping.md#limits);
- page elements that are not objects, counted by the extract step;
- end to end through the simulators: a NUL title, a lone surrogate, a huge number, a non-object
  element, a ``javascript:`` logo URL, a multi-megabyte description each leave every other row
  synchronized;
- the unmatched-learners CSV against formula injection, and the terminal against escape sequences.

The NUL case on PostgreSQL is tests/test_security_text_pg.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from e2e_support import courses_of, run_cli
from learnsync.cli.output import error_line, item_failures, warning_line
from learnsync.extract.content import extract_catalog
from learnsync.extract.elements import with_non_objects
from learnsync.extract.stats import LightRow
from learnsync.mapping.content import MappedCourse, SkippedCourse, http_url, map_content
from learnsync.mapping.stats import (
    COURSE_NOT_SYNCHRONIZED,
    MISSING_CONTENT_ID,
    NO_LEARNER_EMAIL,
    Compact,
    SkippedStat,
    map_compact,
    time_spent,
)
from learnsync.model.bulk import BulkResult
from learnsync.model.coursera import Content, EnrollmentRow, loose_int, loose_number, loose_str
from learnsync.model.ports import OnPage
from learnsync.model.untrusted import (
    ELLIPSIS,
    INT64_MAX,
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SOURCE_NAME_LENGTH,
    MAX_SOURCES,
    MAX_SUBJECT_LENGTH,
    MAX_SUBJECTS,
    MAX_URL_LENGTH,
    clean_json,
    clean_line,
    clean_text,
    csv_cell,
    terminal_text,
    truncate,
)
from learnsync.sandbox.faults import Fault
from learnsync.sandbox.stack import Stack, running_stack
from learnsync.sandbox.world import World
from learnsync.store import Store
from learnsync.sync.unmatched import UnmatchedLearner, write_csv

CONTENTS = r"/businesses\.v1/[^/]+/contents$"
REPORTS = r"/businesses\.v1/[^/]+/enrollmentReports$"


def storable(text: str) -> bool:
    """What every store (PostgreSQL included) and every JSON encoder takes: valid UTF-8, no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def controls(text: str) -> set[str]:
    return {c for c in text if unicodedata.category(c) == "Cc"}


# --- the normalizer, table-driven ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "line", "text"),
    [
        ("plain ascii", "plain ascii", "plain ascii"),
        ("Économie – 経済", "Économie – 経済", "Économie – 経済"),
        ("nul\x00 inside", "nul inside", "nul inside"),
        ("\x00\x00", "", ""),
        ("bell\x07 and esc\x1b[31mred", "bell and esc[31mred", "bell and esc[31mred"),
        ("del\x7f c1\x85\x9b", "del c1", "del c1"),
        ("tab\there", "tab here", "tab\there"),
        ("two\nlines", "two lines", "two\nlines"),
        ("crlf\r\nend", "crlf end", "crlf\nend"),
        ("old mac\rend", "old mac end", "old mac\nend"),
        ("lone \ud800 high", "lone \ufffd high", "lone \ufffd high"),
        ("lone \udfff low", "lone \ufffd low", "lone \ufffd low"),
        ("split pair \ud83d\ude00", "split pair 😀", "split pair 😀"),
        ("reversed \ude00\ud83d", "reversed \ufffd\ufffd", "reversed \ufffd\ufffd"),
        ("nbsp\u00a0kept", "nbsp\u00a0kept", "nbsp\u00a0kept"),
        ("bidi \u202e kept inbound", "bidi \u202e kept inbound", "bidi \u202e kept inbound"),
    ],
)
def test_clean_line_and_clean_text(raw: str, line: str, text: str) -> None:
    assert clean_line(raw) == line
    assert clean_text(raw) == text


def test_a_clean_string_is_returned_as_it_is() -> None:
    value = "Machine Learning Specialization"
    assert clean_line(value) is value
    assert clean_text(value) is value


def test_clean_json_cleans_every_string_and_cuts_deep_nesting() -> None:
    raw = {"k\x00ey": ["a\x00", {"b": "\ud800"}, 1, 2.5, None, True], "n": 10**400}
    assert clean_json(raw) == {"key": ["a", {"b": "\ufffd"}, 1, 2.5, None, True], "n": 10**400}
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    flat = json.dumps(clean_json({"d": deep}))
    assert flat.count("[") <= 32 and "leaf" not in flat


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven chars", 10, "eleven ch…"),
        ("word then   spaces", 12, "word then…"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),  # cleaned first: a carriage return is a line feed
        (" =1", " =1"),  # a leading blank is text for a spreadsheet already
        ("a=1", "a=1"),
        ("nul\x00", "nul"),
        ("\ud800", "\ufffd"),
    ],
)
def test_csv_cell(value: str, expected: str) -> None:
    assert csv_cell(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("csi \x9b31m", "csi \\x9b31m"),
        ("line\nbreak\r\ttab", "line\\nbreak\\r\\ttab"),
        ("nul\x00 del\x7f", "nul\\x00 del\\x7f"),
        ("rtl \u202egnp.exe", "rtl \\u202egnp.exe"),
        ("isolate \u2066x\u2069 lrm \u200e", "isolate \\u2066x\\u2069 lrm \\u200e"),
        ("separator \u2028", "separator \\u2028"),
        ("surrogate \ud800", "surrogate \\ud800"),
        ("Économie 経済 😀", "Économie 経済 😀"),
    ],
)
def test_terminal_text(value: str, expected: str) -> None:
    assert terminal_text(value) == expected


# --- the normalizer, as properties ------------------------------------------------------------

# any code point, surrogates and controls included (JSON can carry each as a \u escape)
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=60)
ANY_TEXT_OR_NOISE = st.one_of(
    ANY_TEXT,
    st.text(st.sampled_from("\x00\x1b\x7f\x9b\t\n\r\ud800\udc00\u202e a=+-@é"), max_size=30),
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT_OR_NOISE,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT_OR_NOISE, children, max_size=4)
    ),
    max_leaves=20,
)


@given(ANY_TEXT_OR_NOISE)
@example("\ud83d\ude00\ud800")
def test_clean_line_is_storable_one_line_and_idempotent(value: str) -> None:
    cleaned = clean_line(value)
    assert storable(cleaned)
    assert not controls(cleaned)
    assert clean_line(cleaned) == cleaned
    assert len(cleaned) <= len(value)


@given(ANY_TEXT_OR_NOISE)
def test_clean_text_keeps_only_tab_and_line_feed(value: str) -> None:
    cleaned = clean_text(value)
    assert storable(cleaned)
    assert controls(cleaned) <= {"\t", "\n"}
    assert clean_text(cleaned) == cleaned


@given(st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"])))
def test_clean_text_without_controls_is_unchanged(value: str) -> None:
    assert clean_line(value) == value
    assert clean_text(value) == value


@given(JSON)
def test_clean_json_leaves_no_unstorable_string(value: Any) -> None:
    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for k, v in node.items():
                yield k
                yield from strings(v)
        elif isinstance(node, list):
            for v in node:
                yield from strings(v)

    assert all(storable(s) and not controls(s) for s in strings(clean_json(value)))


@given(ANY_TEXT_OR_NOISE)
def test_terminal_text_shows_nothing_invisible(value: str) -> None:
    shown = terminal_text(value)
    assert storable(shown)
    assert not controls(shown)
    assert not {c for c in shown if unicodedata.bidirectional(c) in ("RLO", "LRO", "RLE", "LRE")}
    if value.isprintable():
        assert shown == value


@given(ANY_TEXT_OR_NOISE)
def test_csv_cell_never_starts_a_formula(value: str) -> None:
    cell = csv_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    buffer = io.StringIO()
    csv.writer(buffer).writerow([cell])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == [cell]


@given(ANY_TEXT, st.integers(min_value=1, max_value=80))
def test_truncate_is_bounded_and_a_prefix(text: str, limit: int) -> None:
    cut = truncate(text, limit)
    assert len(cut) <= limit
    assert cut == text or (cut.endswith(ELLIPSIS) and text.startswith(cut[:-1]))


# --- the converters and the mappings on any JSON ------------------------------------------------


@given(JSON)
def test_converters_never_raise(value: Any) -> None:
    text = loose_str(value)
    assert text is None or (storable(text) and not controls(text))
    number = loose_number(value)
    assert number is None or math.isfinite(number)
    integer = loose_int(value)
    assert integer is None or -(2**63) <= integer <= INT64_MAX


CONTENT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "contentId": JSON,
        "contentType": JSON,
        "name": JSON,
        "description": JSON,
        "languageCode": st.sampled_from(["en", "fr-FR", "e\x00n", "x" * 80]) | JSON,
        "lastUpdatedAt": JSON,
        "partners": st.lists(st.dictionaries(st.sampled_from(["name", "logoUrl"]), JSON)) | JSON,
        "programs": st.lists(
            st.fixed_dictionaries(
                {"contentUrl": st.sampled_from(["https://c.test/x", "javascript:alert(1)"]) | JSON}
            )
        )
        | JSON,
        "extraMetadata": st.fixed_dictionaries(
            {"definition": st.dictionaries(st.sampled_from(["skills", "promoPhoto"]), JSON)}
        )
        | JSON,
    },
)


def _check_mapped(row: MappedCourse | SkippedCourse) -> None:
    assert len(row.external_id) <= MAX_ID_LENGTH and storable(row.external_id)
    for value in (row.language_code, row.content_type):
        assert value is None or (len(value) <= MAX_CODE_LENGTH and storable(value))
    if isinstance(row, SkippedCourse):
        assert row.name is None or len(row.name) <= MAX_NAME_LENGTH
        return
    payload = row.payload
    orjson.dumps(payload)  # encodable: no lone surrogate
    assert "\x00" not in orjson.dumps(payload).decode()
    assert len(payload["name"]) <= MAX_NAME_LENGTH
    assert len(payload.get("description", "")) <= MAX_DESCRIPTION_LENGTH
    assert len(payload["subjects"]) <= MAX_SUBJECTS
    assert all(len(s) <= MAX_SUBJECT_LENGTH for s in payload["subjects"])
    assert len(payload["sources"]) <= MAX_SOURCES
    for source in payload["sources"]:
        assert len(source["name"]) <= MAX_SOURCE_NAME_LENGTH
        assert "logoUrl" not in source or http_url(source["logoUrl"]) == source["logoUrl"]
    for key in ("launchUrl", "imageUrl"):
        assert key not in payload or http_url(payload[key]) == payload[key]


@given(CONTENT_FIELDS)
def test_any_catalog_element_maps_to_something_storable(raw: dict[str, Any]) -> None:
    _check_mapped(map_content(Content.model_validate(raw)))


ROW_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON,
        "externalId": st.sampled_from(["a@b.co", "a\x00@b.co", "\ud800@b.co", "x" * 400]) | JSON,
        "email": JSON,
        "contentId": st.sampled_from(["abc", "a\x00bc", "y" * 300]) | JSON,
        "contentType": st.sampled_from(["Course", "Co\x00urse", "z" * 100]) | JSON,
        "isCompleted": JSON,
        "overallProgress": JSON,
        "approxTotalCourseHrs": JSON | st.floats(min_value=1e9, max_value=1e300),
        "enrolledAt": JSON,
        "lastActivityAt": JSON,
    },
)


@given(ROW_FIELDS)
@example({"contentType": "Course", "contentId": "abc", "externalId": "a@b.co",
          "approxTotalCourseHrs": 1e16})  # fmt: skip
def test_any_report_row_maps_to_something_storable(raw: dict[str, Any]) -> None:
    row = LightRow(raw)
    for name in LightRow.__slots__:  # the very same converters as the pydantic row
        assert getattr(row, name) == getattr(EnrollmentRow.model_validate(raw), name)
    item = map_compact(row, synchronized={"Course~abc"}, moments=lambda *_: (None, None), now_ms=0)
    assert storable(item.external_id) and len(item.external_id) <= MAX_ID_LENGTH
    assert storable(item.learner) and len(item.learner) <= MAX_EMAIL_LENGTH
    if type(item) is Compact:
        assert 1 <= item.time_spent <= 2**53 - 1
        for value in (item.progress, item.first, item.last):
            assert -(2**63) <= value <= INT64_MAX


# --- the mapping's limits, table-driven ----------------------------------------------------------

GOOD: dict[str, Any] = {
    "id": "Course~abc",
    "contentId": "abc",
    "contentType": "Course",
    "name": "A course",
    "languageCode": "en",
    "programs": [{"contentUrl": "https://www.coursera.org/learn/abc"}],
    "partners": [{"name": "Yale", "logoUrl": "https://x.test/yale.png"}],
}


def mapped(**fields: Any) -> MappedCourse | SkippedCourse:
    return map_content(Content.model_validate({**GOOD, **fields}))


def payload(**fields: Any) -> dict[str, Any]:
    row = mapped(**fields)
    assert isinstance(row, MappedCourse), row
    return row.payload


@pytest.mark.parametrize(
    "logo",
    ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:image/png;base64,xx", "//x.test/a.png",
     "ftp://x.test/a.png", "/relative.png", "https://", "https://x.test/" + "a" * MAX_URL_LENGTH],
)  # fmt: skip
def test_a_logo_url_that_is_not_http_is_dropped(logo: str) -> None:
    assert payload(partners=[{"name": "Yale", "logoUrl": logo}])["sources"] == [{"name": "Yale"}]


def test_a_launch_url_too_long_is_missing() -> None:
    long = "https://www.coursera.org/learn/" + "a" * MAX_URL_LENGTH
    row = mapped(programs=[{"contentUrl": long}])
    assert isinstance(row, SkippedCourse) and row.reason == "missing_launch_url"


def test_texts_are_truncated_to_the_limits() -> None:
    sent = payload(
        name="N" * 5_000,
        description="line\n" * 1_000_000,
        partners=[{"name": "P" * 1_000}] * 50,
        extraMetadata={
            "definition": {"skills": [{"skillName": f"s{i}" * 200} for i in range(500)]}
        },
    )
    assert len(sent["name"]) == MAX_NAME_LENGTH and sent["name"].endswith(ELLIPSIS)
    assert len(sent["description"]) <= MAX_DESCRIPTION_LENGTH
    assert sent["description"].startswith("line\nline\n") and sent["description"].endswith(ELLIPSIS)
    assert len(sent["sources"]) == MAX_SOURCES
    assert all(len(s["name"]) == MAX_SOURCE_NAME_LENGTH for s in sent["sources"])
    assert len(sent["subjects"]) == MAX_SUBJECTS
    assert all(len(s) <= MAX_SUBJECT_LENGTH for s in sent["subjects"])


def test_a_name_cleaned_to_nothing_is_missing() -> None:
    row = mapped(name="\x00\x01\x1b")
    assert isinstance(row, SkippedCourse) and row.reason == "missing_name"


def test_identifiers_and_codes_that_do_not_fit_the_store_count_as_missing() -> None:
    too_long = mapped(id=None, contentId="a" * MAX_ID_LENGTH)
    assert isinstance(too_long, SkippedCourse)
    assert (too_long.reason, too_long.external_id) == ("missing_id", "")
    fits = mapped(contentId="a" * (MAX_ID_LENGTH - len("Course~")))
    assert isinstance(fits, MappedCourse) and len(fits.external_id) == MAX_ID_LENGTH
    language = mapped(languageCode="en" + "-x" * 40)
    assert isinstance(language, SkippedCourse) and language.reason == "unsupported_language"
    assert language.language_code is None
    kind = mapped(contentType="T" * 65)  # the id's prefix is the type then
    assert isinstance(kind, MappedCourse)
    assert (kind.external_id, kind.content_type) == ("Course~abc", "Course")


@pytest.mark.parametrize("value", [10**400, -(10**400), 1e308 * 10, "1e999", float("nan")])
def test_a_number_out_of_range_is_invalid(value: Any) -> None:
    sent = payload(
        extraMetadata={"definition": {"estimatedLearningTime": value}}, lastUpdatedAt=value
    )
    assert "duration" not in sent
    assert Content.model_validate({"lastUpdatedAt": value}).last_updated_at is None
    assert loose_int(2**63) is None and loose_int(2**62) == 2**62


def stat(**fields: Any) -> Compact | SkippedStat:
    raw = {"contentType": "Course", "contentId": "abc", "externalId": "ann@example.com", **fields}
    return map_compact(
        LightRow(raw), synchronized={"Course~abc"}, moments=lambda *_: (5, 5), now_ms=7
    )


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(1.0, 3_600_000), (2_500_000.0, 9_000_000_000_000), (1e10, 1), (1e16, 1), (1e300, 1),
     (10**400, 1)],
)  # fmt: skip
def test_time_spent_beyond_an_exact_json_integer_is_unusable(hours: Any, expected: int) -> None:
    item = stat(approxTotalCourseHrs=hours)
    assert type(item) is Compact and item.time_spent == expected
    assert time_spent(LightRow({"approxTotalCourseHrs": hours})) == expected


def test_dates_out_of_range_fall_back() -> None:
    item = stat(enrolledAt=10**30, lastActivityAt=-(10**400))
    assert type(item) is Compact and (item.first, item.last) == (5, 5)


def test_learners_that_do_not_fit_the_store() -> None:
    long_mail = "a" * MAX_EMAIL_LENGTH + "@example.com"
    skipped = stat(externalId=long_mail)
    assert isinstance(skipped, SkippedStat) and skipped.reason == NO_LEARNER_EMAIL
    assert len(skipped.learner) == MAX_EMAIL_LENGTH and skipped.learner.endswith(ELLIPSIS)
    other = stat(externalId="x" * 1_000, contentId="zzz")
    assert isinstance(other, SkippedStat) and other.reason == COURSE_NOT_SYNCHRONIZED
    assert len(other.learner) == MAX_EMAIL_LENGTH
    no_id = stat(contentId="c" * MAX_ID_LENGTH)
    assert isinstance(no_id, SkippedStat) and no_id.reason == MISSING_CONTENT_ID
    cleaned = stat(externalId="ann\x00@example.com\x00")
    assert type(cleaned) is Compact and cleaned.learner == "ann@example.com"


def test_a_content_type_over_64_characters_joins_like_content() -> None:
    # content: a contentType too long counts as missing, the id's prefix is used; statistics too
    row = {"id": "ann@example.com~Course~abc", "contentType": "T" * 65, "contentId": "abc"}
    item = stat(**row)
    assert type(item) is Compact and item.external_id == "Course~abc"


def test_a_360learning_result_is_cleaned() -> None:
    result = BulkResult({}, False, resource_id=" 6463973f\x00 ", error="no\x00 user\ud800" * 500)
    assert result.resource_id == "6463973f"
    assert result.error is not None and len(result.error) == 1_000 and storable(result.error)
    assert BulkResult({}, True, resource_id="r" * 65).resource_id is None


# --- elements that are not objects -------------------------------------------------------------


class PagedSource:
    """A client's paging as the real one does it: rows of the objects of each page, then
    ``on_page(elements so far, total)``."""

    def __init__(self, pages: list[list[Any]]) -> None:
        self.pages = pages

    def read(self, on_page: OnPage) -> Iterator[Content]:
        fetched = 0
        for elements in self.pages:
            for element in elements:
                if isinstance(element, dict):
                    yield Content.model_validate(element)
            fetched += len(elements)
            on_page(fetched, None)

    def iter_contents(
        self, program_id: str | None = None, *, on_page: OnPage | None = None
    ) -> Iterator[Content]:
        return self.read(on_page or (lambda *_: None))


def test_every_non_object_element_becomes_a_placeholder() -> None:
    pages = [[GOOD, 42, "text"], [None, GOOD], [[1, 2]]]
    seen: list[int] = []
    rows = list(with_non_objects(PagedSource(pages).read, Content, lambda f, _t: seen.append(f)))
    assert seen == [3, 5, 6]
    assert [r.content_id for r in rows] == ["abc", "abc", None, None, None, None]
    results = [map_content(r) for r in rows]
    assert [r.reason for r in results if isinstance(r, SkippedCourse)] == ["missing_id"] * 4


def test_extract_catalog_counts_non_objects_and_its_progress() -> None:
    class Progress:
        advanced = 0

        def stage(self, name: str, total: int | None = None) -> None: ...

        def advance(self, units: int = 1, total: int | None = None) -> None:
            self.advanced += units

    progress = Progress()
    rows = extract_catalog(PagedSource([[GOOD, 1], [2]]), progress=progress)  # type: ignore[arg-type]
    assert len(rows) == 3 and progress.advanced == 3


# --- end to end through the simulators: content -------------------------------------------------

SMALL = World(seed=5, catalog_size=20, learners=30, enrollments=60, unknown_learner_ratio=0.0)


@pytest.fixture
def small_stack() -> Iterator[Stack]:
    with running_stack(SMALL) as running:
        yield running


def _config(tmp_path: Path, stack: Stack, url: str | None = None) -> Path:
    path = tmp_path / "learnsync.toml"
    path.write_text(stack.config_toml(url or f"sqlite:///{tmp_path / 's.db'}"), encoding="utf-8")
    return path


def serve_catalog(stack: Stack, elements: list[Any]) -> Fault:
    """The next catalog read answers exactly ``elements`` (one page), JSON-encoded with escapes:
    a lone surrogate travels as ``\\ud800``, as on the wire."""
    body = {"elements": elements, "paging": {"total": len(elements)}, "linked": {}}
    return stack.coursera.faults.add(Fault(path=CONTENTS, status=200, body=body, times=1))


def bad_item(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    item = json.loads(json.dumps(base))
    item["id"] = "Course~bad-item"
    item["contentId"] = "bad-item"
    item["contentType"] = "Course"
    item.update(fields)
    return item


CONTENT_CASES: dict[str, tuple[dict[str, Any], Any]] = {
    # case: (fields of the bad item, what 360Learning gets of it: a payload check or None)
    "NUL in the title": ({"name": "Nul\x00 title"}, {"name": "Nul title"}),
    "NUL in the description": (
        {"description": "one\x00\nline two"},
        {"description": "one\nline two"},
    ),
    "lone surrogate in the title": ({"name": "Sur\ud800rogate"}, {"name": "Sur\ufffdrogate"}),
    "lone surrogate in a skill": (
        {"extraMetadata": {"definition": {"skills": [{"skillName": "Py\udc00thon"}]}}},
        {"subjects": ["Py\ufffdthon"]},
    ),
    "huge numbers": (
        {
            "lastUpdatedAt": 10**30,
            "extraMetadata": {"definition": {"estimatedLearningTime": 10**400}},
        },
        {"duration": None},
    ),
    "javascript: logo URL": (
        {"partners": [{"name": "Evil U", "logoUrl": "javascript:alert(document.cookie)"}]},
        {"sources": [{"name": "Evil U"}]},
    ),
    "multi-megabyte description": (
        {"description": "x" * 3_000_000},
        {"description": "x" * (MAX_DESCRIPTION_LENGTH - 1) + ELLIPSIS},
    ),
    "terminal escape in the name": ({"name": "\x1b]0;owned\x07Title"}, {"name": "]0;ownedTitle"}),
}


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_a_bad_catalog_item_leaves_every_other_item_synchronized(
    case: str, small_stack: Stack, tmp_path: Path
) -> None:
    fields, expected = CONTENT_CASES[case]
    items = small_stack.coursera.catalog_items()
    good = {
        r.external_id: r
        for r in (map_content(Content.model_validate(i)) for i in items)
        if isinstance(r, MappedCourse)
    }
    template = next(i for i in items if f"{i['contentType']}~{i['contentId']}" in good)
    fault = serve_catalog(small_stack, [*items, bad_item(template, **fields)])
    result = run_cli(
        "sync", "content", "--config", _config(tmp_path, small_stack), report=tmp_path / "r.json"
    )
    assert result.exit_code == 0, result.stderr
    assert fault.hits == 1
    assert result.report is not None and result.report["failed"] == []
    courses = courses_of(small_stack)
    assert set(courses) == {*good, "Course~bad-item"}
    for external_id, row in good.items():
        assert courses[external_id].data == row.payload
    sent = courses["Course~bad-item"].data
    for key, value in expected.items():
        assert sent.get(key) == value, key
    assert result.report["created"] == len(good) + 1


def test_non_object_elements_are_reported_and_the_page_still_goes_through(
    small_stack: Stack, tmp_path: Path
) -> None:
    items = small_stack.coursera.catalog_items()
    good = {
        r.external_id
        for r in (map_content(Content.model_validate(i)) for i in items)
        if isinstance(r, MappedCourse)
    }
    serve_catalog(small_stack, [42, *items[:5], "a string", None, *items[5:], [1, 2], True])
    result = run_cli(
        "sync", "content", "--config", _config(tmp_path, small_stack), report=tmp_path / "r.json"
    )
    assert result.exit_code == 0, result.stderr
    assert set(courses_of(small_stack)) == good
    assert result.report is not None
    # the contract's report for an element without an id: its warning (docs/contract.md)
    missing = sum(1 for i in items if not map_content(Content.model_validate(i)).external_id)
    assert (
        f"{missing + 5} Coursera catalog rows had neither contentType/contentId nor id and were "
        "ignored"
    ) in result.report["warnings"]


def test_filters_show_prints_catalog_codes_escaped(small_stack: Stack, tmp_path: Path) -> None:
    """``filters show`` with nothing synchronized reads the catalog now and prints its codes."""
    items = small_stack.coursera.catalog_items()
    tricky = bad_item(items[0], languageCode="e\u202en", contentType="Cour\u2066se")
    serve_catalog(small_stack, [*items, tricky])
    result = run_cli("filters", "show", "--config", _config(tmp_path, small_stack))
    assert result.exit_code == 0, result.stderr
    assert "\u202e" not in result.stdout and "\u2066" not in result.stdout
    assert "e\\u202en" in result.stdout and "Cour\\u2066se" in result.stdout


# --- end to end through the simulators: statistics ----------------------------------------------


def stats_rows(stack: Stack, count: int) -> list[dict[str, Any]]:
    """``count`` deliverable rows, each a distinct (synchronized course, known learner) pair."""
    world = stack.world
    keys = sorted(courses_of(stack))
    rows = []
    for k in range(count):
        kind, _, content_id = keys[k % len(keys)].partition("~")
        mail = world.learner_email(k // len(keys))
        rows.append(
            {
                "id": f"{mail}~{kind}~{content_id}",
                "externalId": mail,
                "contentId": content_id,
                "contentType": kind,
                "isCompleted": False,
                "overallProgress": 40,
                "approxTotalCourseHrs": 1.5,
                "enrolledAt": 1_750_000_000_000,
                "lastActivityAt": 1_751_000_000_000,
            }
        )
    return rows


def serve_report(stack: Stack, elements: list[Any]) -> Fault:
    body = {"elements": elements, "paging": {"total": len(elements)}, "linked": {}}
    return stack.coursera.faults.add(Fault(path=REPORTS, status=200, body=body, times=1))


GOOD_ROWS = 120

STATS_CASES: dict[str, tuple[dict[str, Any] | list[Any], int, list[tuple[str, str, str]]]] = {
    # case: (the bad row's fields — or non-object elements —, items sent, skips)
    "NUL in the learner id": ({"externalId": "{mail}\x00"}, GOOD_ROWS + 1, []),
    "NUL in the content id": ({"contentId": "\x00{content}"}, GOOD_ROWS + 1, []),
    "lone surrogate in the learner id": (
        {"externalId": "no-mail-\ud800", "email": None},
        GOOD_ROWS,
        [("{key}", "no-mail-\ufffd", NO_LEARNER_EMAIL)],
    ),
    "number too large for SQLite": ({"approxTotalCourseHrs": 1e16}, GOOD_ROWS + 1, []),
    "numbers beyond 64 bits": (
        {"enrolledAt": 10**30, "lastActivityAt": 10**400, "overallProgress": -(10**400)},
        GOOD_ROWS + 1,
        [],
    ),
    "non-object elements": (
        [7, "row", None, [1], False],
        GOOD_ROWS,
        [("", "", MISSING_CONTENT_ID)],
    ),
}


@pytest.mark.parametrize("case", sorted(STATS_CASES))
def test_a_bad_report_row_leaves_every_other_row_delivered(
    case: str, small_stack: Stack, tmp_path: Path
) -> None:
    config = _config(tmp_path, small_stack)
    assert run_cli("sync", "content", "--config", config).exit_code == 0
    rows = stats_rows(small_stack, GOOD_ROWS + 1)
    bad, sent, skips = STATS_CASES[case]
    spare = rows.pop()  # a pair of its own for the bad row
    key = f"{spare['contentType']}~{spare['contentId']}"
    if isinstance(bad, list):
        elements: list[Any] = [*rows[:60], *bad, *rows[60:]]
    else:
        fields = {
            k: v.format(mail=spare["externalId"], content=spare["contentId"])
            if isinstance(v, str)
            else v
            for k, v in bad.items()
        }
        elements = [*rows[:60], {**spare, **fields}, *rows[60:]]
    fault = serve_report(small_stack, elements)
    result = run_cli("sync", "stats", "--config", config, report=tmp_path / "stats.json")
    assert result.exit_code == 0, result.stderr
    assert fault.hits == 1
    assert result.report is not None
    assert (result.report["sent"], result.report["failed"]) == (sent, [])
    expected = [{"externalId": e.format(key=key), "learner": lr, "reason": r} for e, lr, r in skips]
    assert result.report["skipped"] == expected
    assert len(small_stack.threesixty.attempts) == sent


# --- the CSV and the terminal -----------------------------------------------------------------


def test_unmatched_learners_csv_neutralizes_formulas(tmp_path: Path) -> None:
    learners = ['=HYPERLINK("http://evil","x")', "+1", "-2", "@SUM(A1)", "\tx", "ok@x.co"]
    rows = [UnmatchedLearner(v, NO_LEARNER_EMAIL, ["=cmd|' /C calc'!A0"]) for v in learners]
    path = tmp_path / "u.csv"
    assert write_csv(rows, path) == len(rows)
    with path.open(newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert [r["learner"] for r in read] == [
        "'=HYPERLINK(\"http://evil\",\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "ok@x.co"
    ]  # fmt: skip
    assert {r["courses"] for r in read} == {"'=cmd|' /C calc'!A0"}


def test_stderr_lines_show_upstream_text_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    error_line("360Learning said \x1b[2Jboom\nsecond line")
    warning_line("unknown content type 'Vid\u202eoe'")
    item_failures([{"externalId": "Course~\x1b[31mx", "learner": "a\u2066@b.co", "error": "e\r"}])
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "learnsync: error: 360Learning said \\x1b[2Jboom\\nsecond line",
        "learnsync: warning: unknown content type 'Vid\\u202eoe'",
        "learnsync: failed: Course~\\x1b[31mx / a\\u2066@b.co: e\\r",
    ]


def test_unmatched_learners_report_through_the_cli(small_stack: Stack, tmp_path: Path) -> None:
    """Learners without an e-mail whose ids are a formula and a bidi trick: the CSV neutralizes
    the one, the terminal shows the other escaped."""
    config = _config(tmp_path, small_stack)
    assert run_cli("sync", "content", "--config", config).exit_code == 0
    rows = stats_rows(small_stack, 3)
    rows[0].update(externalId='=HYPERLINK("http://evil","x")', email=None)
    rows[1].update(externalId="\u202egnp.exe\x1b[8m", email=None)
    serve_report(small_stack, rows)
    assert run_cli("sync", "stats", "--config", config).exit_code == 0
    listed = run_cli(
        "report", "unmatched-learners", "--config", config, "--csv", tmp_path / "u.csv"
    )
    assert listed.exit_code == 0, listed.stderr
    assert "\u202e" not in listed.stdout and "\x1b" not in listed.stdout
    assert "\\u202egnp.exe[8m" in listed.stdout  # ESC removed inbound, bidi shown escaped
    with (tmp_path / "u.csv").open(newline="", encoding="utf-8") as handle:
        learners = {r["learner"] for r in csv.DictReader(handle)}
    assert learners == {'\'=HYPERLINK("http://evil","x")', "\u202egnp.exe[8m"}
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        record = store.get_integration(1)
        assert record is not None
        stored = {s.learner for s in store.iter_stat_items(record.id) if s.state == "skipped"}
    assert "\u202egnp.exe[8m" in stored

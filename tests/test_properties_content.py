"""Properties of the content mapping (docs/mapping.md#content-mapping) on any JSON a Coursera
catalog page could hold.

- The tolerant model and :func:`~learnsync.mapping.content.map_content` never raise: every JSON
  object becomes a course to send or a skip with a reason (the client never drops a row and the
  run never crashes on one).
- A course to send carries the required fields, valid, and nothing outside the content table.
- A skip names the first reason that applies in the documented precedence (docs/mapping.md):
  ``missing_id``, ``missing_name``, ``unsupported_language``, ``missing_launch_url`` — each one
  judged here on its own, from the row.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from learnsync.mapping.content import (
    CONTENT_RULES,
    MISSING_ID,
    MISSING_LAUNCH_URL,
    MISSING_NAME,
    UNSUPPORTED_LANGUAGE,
    MappedCourse,
    SkippedCourse,
    content_external_id,
    http_url,
    map_content,
)
from learnsync.mapping.hashing import payload_hash
from learnsync.mapping.languages import THREESIXTY_LANGUAGES, to_threesixty_language
from learnsync.model.coursera import Content

URL = "https://www.coursera.org/programs/p1?productId=abc&productType=course"
VALID: dict[str, Any] = {
    "id": "Course~abc",
    "contentId": "abc",
    "contentType": "Course",
    "name": "The Science of Well-Being",
    "description": "A course.",
    "languageCode": "en",
    "difficultyLevel": "BEGINNER",
    "partners": [{"name": "Yale University", "logoUrl": "https://x.test/yale.png"}],
    "programs": [
        {"programId": "p1", "contentUrl": URL},
        {"programId": "p2", "contentUrl": "https://www.coursera.org/learn/abc"},
    ],
    "extraMetadata": {
        "typeName": "courseMetadata",
        "definition": {
            "promoPhoto": "https://x.test/photo.png",
            "estimatedLearningTime": 3600,
            "skills": [{"skillName": "Happiness"}, {"skillName": " happiness "}],
            "skillTags": [{"skillName": "Clips"}],
        },
    },
}
# every place of a catalog row the mapping reads
PATHS: list[tuple[Any, ...]] = [
    ("id",),
    ("contentId",),
    ("contentType",),
    ("name",),
    ("description",),
    ("languageCode",),
    ("difficultyLevel",),
    ("partners",),
    ("partners", 0),
    ("partners", 0, "name"),
    ("partners", 0, "logoUrl"),
    ("programs",),
    ("programs", 0),
    ("programs", 0, "programId"),
    ("programs", 0, "contentUrl"),
    ("programs", 1, "contentUrl"),
    ("extraMetadata",),
    ("extraMetadata", "definition"),
    ("extraMetadata", "definition", "promoPhoto"),
    ("extraMetadata", "definition", "estimatedLearningTime"),
    ("extraMetadata", "definition", "skills"),
    ("extraMetadata", "definition", "skills", 0),
    ("extraMetadata", "definition", "skills", 0, "skillName"),
    ("extraMetadata", "definition", "skillTags"),
]
FIELD_NAMES = sorted({str(p[0]) for p in PATHS} | {"typeName", "slug", "translations"})

# values that are nearly right: the edges of each rule
EDGES = [
    "", "  ", "en", "EN-us", "zh-Hant-TW", "xx", "Course", "Course~", "~", "~abc", "http://",
    "https://x", " https://x.test/a b ", "ftp://x.test", "3600", "-1", "NaN", "inf", "BEGINNER",
    "mixed", "p1", "p2",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(EDGES),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
ANY_ROW = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), JSON, max_size=12
)
OPTIONS = st.fixed_dictionaries(
    {
        "program_id": st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3", ""])),
        "content_types": st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["Course", "course", "Clip", "Weird"]),
                st.sampled_from(["course", "video", "linkedcontent", "nonsense", ""]),
                max_size=3,
            ),
        ),
    }
)


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    """Set (``value`` is ``...``: delete) ``path`` in ``data`` when its parents are still there."""
    *parents, last = path
    for key in parents:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(data, dict) and isinstance(last, str):
        if value is ...:
            data.pop(last, None)
        else:
            data[last] = value
    elif isinstance(data, list) and isinstance(last, int) and last < len(data):
        if value is ...:
            del data[last]
        else:
            data[last] = value


@st.composite
def broken_rows(draw: st.DrawFn) -> dict[str, Any]:
    """The valid row with a few of its fields deleted or replaced by any JSON value."""
    row = copy.deepcopy(VALID)
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=4, unique=True)):
        _set(row, path, draw(st.one_of(st.just(...), JSON)))
    return row


def _expected_reason(content: Content, program_id: str | None) -> str | None:
    """The first skip reason that applies, each judged on its own (docs/mapping.md)."""
    name = content.name
    programs = content.programs
    chosen = next((p for p in programs if program_id and p.program_id == program_id), None)
    if chosen is None and programs:
        chosen = programs[0]
    applies = [
        (MISSING_ID, content_external_id(content) is None),
        (MISSING_NAME, not isinstance(name, str) or not name.strip()),
        (UNSUPPORTED_LANGUAGE, to_threesixty_language(content.language_code) is None),
        (MISSING_LAUNCH_URL, chosen is None or http_url(chosen.content_url) is None),
    ]
    return next((reason for reason, holds in applies if holds), None)


def _check(raw: dict[str, Any], options: dict[str, Any]) -> None:
    content = Content.model_validate(raw)
    result = map_content(content, **options)
    reason = _expected_reason(content, options["program_id"] or None)
    if reason is None:
        assert isinstance(result, MappedCourse), (raw, result)
        payload = result.payload
        assert set(payload) <= {"externalId", *(r.field for r in CONTENT_RULES)}
        assert payload["externalId"] == result.external_id == content_external_id(content)
        assert isinstance(payload["name"], str) and payload["name"] == payload["name"].strip()
        assert payload["name"]
        assert payload["defaultLang"] in THREESIXTY_LANGUAGES
        assert http_url(payload["launchUrl"]) == payload["launchUrl"]
        assert isinstance(payload["subjects"], list) and payload["sources"]
        assert 1 <= payload.get("duration", 1) <= 100_000
        payload_hash(payload)  # the diff fingerprints it: it must encode
    else:
        assert isinstance(result, SkippedCourse), (raw, result)
        assert result.reason == reason, (raw, result)
        assert (result.external_id == "") is (reason == MISSING_ID)


@given(raw=ANY_ROW, options=OPTIONS)
def test_any_json_object_maps_or_skips_in_the_documented_order(
    raw: dict[str, Any], options: dict[str, Any]
) -> None:
    _check(raw, options)


@given(raw=broken_rows(), options=OPTIONS)
def test_a_valid_row_with_broken_fields_maps_or_skips_in_the_documented_order(
    raw: dict[str, Any], options: dict[str, Any]
) -> None:
    _check(raw, options)

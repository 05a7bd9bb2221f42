"""docs/mapping.md#content-mapping: one table row per rule, boundaries included."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from learnsync.mapping.content import (
    CONTENT_RULES,
    MappedCourse,
    SkippedCourse,
    content_external_id,
    map_content,
)
from learnsync.mapping.content_types import (
    DEFAULT_CONTENT_TYPES,
    to_threesixty_content_type,
    validate_content_type_overrides,
)
from learnsync.mapping.hashing import payload_hash
from learnsync.model.coursera import Content

# every field learnsync may ever send
PAYLOAD_FIELDS = frozenset({"externalId", *(r.field for r in CONTENT_RULES)})

URL = "https://www.coursera.org/programs/p1?productId=abc&productType=course"

BASE: dict[str, Any] = {
    "id": "Course~abc",
    "contentId": "abc",
    "contentType": "Course",
    "name": "The Science of Well-Being",
    "description": "A course.",
    "languageCode": "en",
    "difficultyLevel": "BEGINNER",
    "partners": [{"name": "Yale University", "logoUrl": "https://x.test/yale.png"}],
    "programs": [{"programId": "p1", "contentUrl": URL}],
    "extraMetadata": {
        "typeName": "courseMetadata",
        "definition": {
            "promoPhoto": "https://x.test/photo.png",
            "estimatedLearningTime": 3600,
            "skills": [{"skillName": "Happiness", "skillId": "happiness"}],
        },
    },
}


def row(**changes: Any) -> Content:
    """BASE with top-level changes; ``definition`` merges into extraMetadata.definition; a value of
    ``...`` removes the key."""
    data = copy.deepcopy(BASE)
    definition = changes.pop("definition", None)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    if definition is not None:
        target = data["extraMetadata"]["definition"]
        for key, value in definition.items():
            if value is ...:
                target.pop(key, None)
            else:
                target[key] = value
    return Content.model_validate(data)


def mapped(**changes: Any) -> MappedCourse:
    result = map_content(row(**changes))
    assert isinstance(result, MappedCourse), result
    return result


def test_full_example_maps_to_exactly_the_table_fields() -> None:
    result = mapped()
    assert result.payload == {
        "externalId": "Course~abc",
        "name": "The Science of Well-Being",
        "description": "A course.",
        "imageUrl": "https://x.test/photo.png",
        "duration": 60,
        "defaultLang": "en",
        "launchUrl": URL,
        "subjects": ["Happiness"],
        "difficultyLevel": "beginner",
        "sources": [{"name": "Yale University", "logoUrl": "https://x.test/yale.png"}],
        "contentType": "course",
    }
    assert result.external_id == "Course~abc"
    assert result.language_code == "en"
    assert result.content_type == "Course"
    assert result.warnings == ()


def test_never_sends_fields_outside_the_table() -> None:
    extra = row(
        translations=[{"lang": "fr"}],
        mobileLaunchUrl=URL,
        authorId="x",
        tags=["a"],
        slug="s",
        instructors=[{"name": "I"}],
    )
    payload = map_content(extra).payload  # type: ignore[union-attr]
    assert set(payload) <= PAYLOAD_FIELDS
    assert {
        "externalId", "name", "description", "imageUrl", "duration", "defaultLang",
        "launchUrl", "subjects", "difficultyLevel", "sources", "contentType",
    } == PAYLOAD_FIELDS  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "Course~abc"),
        ({"contentId": ...}, "Course~abc"),  # part of id after ~
        ({"contentId": ..., "id": "bareid"}, "Course~bareid"),  # whole id without ~
        ({"contentId": "zzz", "id": "Course~other"}, "Course~zzz"),  # contentId wins over id
        ({"contentType": "Specialization", "contentId": "s1", "id": ...}, "Specialization~s1"),
        ({"contentType": ..., "contentId": ...}, "Course~abc"),  # type from the id prefix
        ({"contentId": " abc "}, "Course~abc"),  # trimmed
        ({"contentId": "Course~abc"}, "Course~abc"),  # a prefixed contentId is not doubled
        ({"contentType": ..., "id": "bare"}, None),  # no type at all
        ({"contentId": ..., "id": ...}, None),  # no id at all
        ({"contentId": "", "id": " "}, None),
    ],
)
def test_external_id(changes: dict[str, Any], expected: str | None) -> None:
    assert content_external_id(row(**changes)) == expected


def test_missing_id_is_a_skip_with_empty_external_id() -> None:
    result = map_content(row(contentId=..., id=...))
    assert isinstance(result, SkippedCourse)
    assert (result.external_id, result.reason, result.name) == ("", "missing_id", BASE["name"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("  Padded  ", "Padded"),
        ("Été", "Été"),
        ("", None),
        ("   ", None),
        (..., None),
        (None, None),
        (123, "123"),  # the tolerant model turns a number into text
    ],
)
def test_name(name: Any, expected: str | None) -> None:
    result = map_content(row(name=name))
    if expected is None:
        assert isinstance(result, SkippedCourse)
        assert result.reason == "missing_name"
        assert result.external_id == "Course~abc"
    else:
        assert isinstance(result, MappedCourse)
        assert result.payload["name"] == expected


@pytest.mark.parametrize(
    ("description", "expected"),
    [("  text \n", "text"), ("", None), (" \n ", None), (..., None), (None, None)],
)
def test_description(description: Any, expected: str | None) -> None:
    assert mapped(description=description).payload.get("description") == expected


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("https://x.test/a.png", "https://x.test/a.png"),
        ("http://x.test/a.png", "http://x.test/a.png"),
        ("HTTPS://X.test/a.png", "HTTPS://X.test/a.png"),
        (" https://x.test/a.png ", "https://x.test/a.png"),
        ("ftp://x.test/a.png", None),
        ("//x.test/a.png", None),
        ("x.test/a.png", None),
        ("https://", None),
        ("https:///path", None),
        ("https://x.test/a b.png", None),
        ("", None),
        (..., None),
        (None, None),
        (42, None),
        ({"url": "https://x.test"}, None),
    ],
)
def test_image_url(photo: Any, expected: str | None) -> None:
    assert mapped(definition={"promoPhoto": photo}).payload.get("imageUrl") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (3600, 60),
        (61, 2),  # ceil
        (60, 1),
        (59, 1),
        (1, 1),
        (0.5, 1),  # clamped up to 1
        (6_000_000, 100_000),  # upper boundary exactly
        (6_000_001, 100_000),  # clamped
        (10**12, 100_000),
        (0, None),
        (-60, None),
        ("3600", 60),  # a numeric string counts as a number
        (" 90 ", 2),
        ("abc", None),
        ("", None),
        (True, None),
        (None, None),
        (..., None),
        ([3600], None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_duration(seconds: Any, expected: int | None) -> None:
    assert mapped(definition={"estimatedLearningTime": seconds}).payload.get("duration") == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "en"),
        ("pt-BR", "pt_BR"),
        ("en-GB", "en_GB"),
        ("zh-TW", "zh_tw"),
        ("zh-Hant", "zh_HANT"),
        ("zh-HK", "zh_HANT"),
        ("zh-MO", "zh_HANT"),
        ("zh-CN", "zh"),
        ("zh-SG", "zh"),
        ("zh-Hans", "zh"),
        ("de-AT", "de"),
        ("es-419", "es"),
        ("en-US", "en"),
    ],
)
def test_default_lang(code: str, expected: str) -> None:
    assert mapped(languageCode=code).payload["defaultLang"] == expected


@pytest.mark.parametrize("code", ["xx", "eo", "he", "", "  ", None, ...])
def test_unsupported_language_is_skipped(code: Any) -> None:
    result = map_content(row(languageCode=code))
    assert isinstance(result, SkippedCourse)
    assert result.reason == "unsupported_language"
    assert result.name == BASE["name"]


@pytest.mark.parametrize(
    ("programs", "program_id", "expected"),
    [
        ([{"programId": "p1", "contentUrl": URL}], None, URL),
        (
            [{"programId": "p1", "contentUrl": URL}, {"programId": "p2", "contentUrl": URL + "2"}],
            "p2",
            URL + "2",
        ),
        (
            [{"programId": "p1", "contentUrl": URL}, {"programId": "p2", "contentUrl": URL + "2"}],
            None,
            URL,
        ),
        # the named program is not listed for this item: the first one
        ([{"programId": "p1", "contentUrl": URL}], "p9", URL),
        # the named program's URL is unusable: skipped even if another program has one
        (
            [{"programId": "p1", "contentUrl": URL}, {"programId": "p2", "contentUrl": ""}],
            "p2",
            None,
        ),
        ([{"programId": "p1", "contentUrl": "ftp://x.test"}], None, None),
        ([{"programId": "p1"}], None, None),
        ([{"programId": "p1", "contentUrl": " "}], None, None),
        ([], None, None),
        (None, None, None),
    ],
)
def test_launch_url(programs: Any, program_id: str | None, expected: str | None) -> None:
    result = map_content(row(programs=programs), program_id=program_id)
    if expected is None:
        assert isinstance(result, SkippedCourse)
        assert result.reason == "missing_launch_url"
    else:
        assert isinstance(result, MappedCourse)
        assert result.payload["launchUrl"] == expected


@pytest.mark.parametrize(
    ("skills", "expected"),
    [
        ([{"skillName": "A"}, {"skillName": "B"}], ["A", "B"]),
        ([{"skillName": " A "}, {"skillName": ""}, {"skillName": "  "}], ["A"]),
        ([{"skillName": "Python"}, {"skillName": "python"}, {"skillName": "PYTHON"}], ["Python"]),
        ([{"skillName": "b"}, {"skillName": "a"}, {"skillName": "B"}], ["b", "a"]),
        ([{"skillName": None}, {"skillId": "x"}, "text", 3, {"skillName": 5}], []),
        ([], []),
        (None, []),
        ("Happiness", []),
        (..., []),
    ],
)
def test_subjects(skills: Any, expected: list[str]) -> None:
    assert mapped(definition={"skills": skills}).payload["subjects"] == expected


def test_subjects_fall_back_to_clip_skill_tags() -> None:
    result = mapped(definition={"skills": ..., "skillTags": [{"skillName": "Clip skill"}]})
    assert result.payload["subjects"] == ["Clip skill"]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("BEGINNER", "beginner"),
        ("Intermediate", "intermediate"),
        ("advanced", "advanced"),
        (" ADVANCED ", "advanced"),
        ("MIXED", None),
        ("", None),
        (None, None),
        (..., None),
    ],
)
def test_difficulty_level(level: Any, expected: str | None) -> None:
    assert mapped(difficultyLevel=level).payload.get("difficultyLevel") == expected


@pytest.mark.parametrize(
    ("partners", "expected"),
    [
        ([{"name": "Yale", "logoUrl": "https://x/y.png"}], [{"name": "Yale", "logoUrl": "https://x/y.png"}]),
        ([{"name": " Yale ", "logoUrl": None}], [{"name": "Yale"}]),
        ([{"name": "Yale", "logoUrl": "  "}], [{"name": "Yale"}]),
        ([{"name": "Yale", "logoUrl": "javascript:alert(1)"}], [{"name": "Yale"}]),  # http(s) only
        ([{"name": "Yale", "logoUrl": " https://x/y.png "}], [{"name": "Yale", "logoUrl": "https://x/y.png"}]),
        ([{"name": "Yale"}, {"name": "  "}, {"logoUrl": "https://x"}, {"name": "IBM"}],
         [{"name": "Yale"}, {"name": "IBM"}]),
        ([{"name": ""}], [{"name": "Coursera"}]),
        ([], [{"name": "Coursera"}]),
        (None, [{"name": "Coursera"}]),
        (..., [{"name": "Coursera"}]),
    ],
)  # fmt: skip
def test_sources(partners: Any, expected: list[dict[str, str]]) -> None:
    assert mapped(partners=partners).payload["sources"] == expected


@pytest.mark.parametrize(
    ("coursera", "expected"),
    [
        ("Course", "course"),
        ("Specialization", "specialization"),
        ("ProfessionalCertificate", "certificate"),
        ("Program", "program"),
        ("GuidedProject", "labs"),
        ("Project", "labs"),
        ("Video", "video"),
        ("Clip", "video"),
        ("COURSE", "course"),  # case-insensitive lookup
    ],
)
def test_content_type_default_table(coursera: str, expected: str) -> None:
    result = mapped(contentType=coursera, id=f"{coursera}~abc")
    assert result.payload["contentType"] == expected
    assert result.warnings == ()
    assert result.content_type == coursera  # as received, for the filters


def test_default_table_is_the_spec_table() -> None:
    assert dict(DEFAULT_CONTENT_TYPES) == {
        "Course": "course", "Specialization": "specialization",
        "ProfessionalCertificate": "certificate", "Program": "program", "GuidedProject": "labs",
        "Project": "labs", "Video": "video", "Clip": "video",
    }  # fmt: skip


def test_unknown_content_type_is_course_with_warning() -> None:
    result = mapped(contentType="Podcast", id="Podcast~abc")
    assert result.payload["contentType"] == "course"
    assert result.external_id == "Podcast~abc"
    assert len(result.warnings) == 1
    assert "Podcast" in result.warnings[0]
    # the same text for every item of that type, so a report can list it once
    other = mapped(contentType="Podcast", contentId="zzz")
    assert other.warnings == result.warnings


@pytest.mark.parametrize(
    ("coursera", "overrides", "expected"),
    [
        ("GuidedProject", {"GuidedProject": "course"}, ("course", None)),
        ("guidedproject", {"GuidedProject": "mooc"}, ("mooc", None)),
        ("Course", {"Course": "MOOC"}, ("mooc", None)),  # target spelled canonically
        ("Podcast", {"Podcast": "podcast"}, ("podcast", None)),
        ("Program", {"Program": "linkedcontent"}, ("linkedContent", None)),
        ("Course", {"Course": "not-a-type"}, ("course", None)),  # invalid target ignored
        ("Video", {"Course": "mooc"}, ("video", None)),
    ],
)
def test_content_type_overrides(
    coursera: str, overrides: dict[str, str], expected: tuple[str, str | None]
) -> None:
    assert to_threesixty_content_type(coursera, overrides) == expected


def test_overrides_reach_the_payload() -> None:
    result = map_content(row(), content_types={"Course": "mooc"})
    assert isinstance(result, MappedCourse)
    assert result.payload["contentType"] == "mooc"


def test_validate_overrides() -> None:
    assert validate_content_type_overrides({"Course": "mooc", "Clip": "linkedContent"}) == []
    assert validate_content_type_overrides(None) == []
    errors = validate_content_type_overrides({"Course": "moocs", " ": "course"})
    assert len(errors) == 2
    assert any("'moocs'" in e for e in errors)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"name": " ", "languageCode": "xx", "programs": []}, "missing_name"),
        ({"name": " ", "languageCode": "xx"}, "missing_name"),
        ({"name": " ", "programs": []}, "missing_name"),
        ({"languageCode": "xx", "programs": []}, "unsupported_language"),
        ({"programs": []}, "missing_launch_url"),
        ({"contentId": ..., "id": ..., "name": " "}, "missing_id"),
    ],
)
def test_skip_precedence(changes: dict[str, Any], reason: str) -> None:
    result = map_content(row(**changes))
    assert isinstance(result, SkippedCourse)
    assert result.reason == reason
    assert result.language_code == changes.get("languageCode", "en")
    assert result.content_type == "Course"


def test_the_payload_hash_is_stable_and_sensitive() -> None:
    first = mapped().payload
    again = mapped().payload
    reordered = dict(reversed(list(first.items())))
    assert payload_hash(first) == payload_hash(again) == payload_hash(reordered)
    # a fixed value: the hash is stored, so it must not change between releases or processes
    assert payload_hash({"b": [1, "é"], "a": None}) == (
        "f8f17faab95c024891d173fa43442b0e52007736a1f36715ac721ab22deeefc5"
    )
    assert payload_hash(mapped(name="Other").payload) != payload_hash(first)

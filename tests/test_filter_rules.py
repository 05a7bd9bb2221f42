"""The filters, and every row of the article's filter table (docs/mapping.md#filters)."""

from __future__ import annotations

import pytest

from learnsync.filter.rules import Filters

EN = frozenset({"en"})
EN_FR = frozenset({"en", "fr"})
COURSE = frozenset({"Course"})
COURSE_SPEC = frozenset({"Course", "Specialization"})


@pytest.mark.parametrize(
    ("languages", "types", "language", "kind", "expected"),
    [
        # empty filters do not restrict
        (frozenset(), frozenset(), "en", "Course", True),
        (frozenset(), frozenset(), None, None, True),
        (frozenset(), frozenset(), "xx", "Anything", True),
        # one language
        (EN, frozenset(), "en", "Course", True),
        (EN, frozenset(), "EN", "Course", True),
        (EN, frozenset(), "en-US", "Course", False),  # rule (1) only: not the base language
        (EN, frozenset(), "fr", "Course", False),
        (EN, frozenset(), None, "Course", False),  # no language never matches a language filter
        (frozenset({"pt_BR"}), frozenset(), "pt-BR", "Course", True),
        (frozenset({"pt-br"}), frozenset(), "PT_BR", "Course", True),
        (frozenset({"pt-BR"}), frozenset(), "pt", "Course", False),
        (frozenset({"zh-Hant"}), frozenset(), "zh-HK", "Course", False),
        # article row "Multiple languages: OR"
        (EN_FR, frozenset(), "en", "Course", True),
        (EN_FR, frozenset(), "fr", "Specialization", True),
        (EN_FR, frozenset(), "de", "Course", False),
        # one content type, case-insensitive
        (frozenset(), COURSE, "en", "Course", True),
        (frozenset(), COURSE, "de", "course", True),
        (frozenset(), frozenset({"COURSE"}), "de", "Course", True),
        (frozenset(), COURSE, "en", "Specialization", False),
        (frozenset(), COURSE, "en", None, False),
        (frozenset(), COURSE, None, "Course", True),  # no language, but no language filter
        # article row "Multiple content types: OR"
        (frozenset(), COURSE_SPEC, "en", "Course", True),
        (frozenset(), COURSE_SPEC, "en", "Specialization", True),
        (frozenset(), COURSE_SPEC, "en", "Video", False),
        # article row "Language + content type: AND"
        (EN, COURSE, "en", "Course", True),
        (EN, COURSE, "en", "Specialization", False),
        (EN, COURSE, "fr", "Course", False),
        (EN, COURSE, "fr", "Specialization", False),
        (EN, COURSE, None, "Course", False),
        (EN, COURSE, "en", None, False),
        # several of both: OR inside, AND across
        (EN_FR, COURSE_SPEC, "fr", "Specialization", True),
        (EN_FR, COURSE_SPEC, "en", "Course", True),
        (EN_FR, COURSE_SPEC, "de", "Course", False),
        (EN_FR, COURSE_SPEC, "fr", "Video", False),
    ],
)
def test_matches(
    languages: frozenset[str],
    types: frozenset[str],
    language: str | None,
    kind: str | None,
    expected: bool,
) -> None:
    assert Filters(languages, types).matches(language, kind) is expected


def test_values_are_kept_as_chosen_and_equality_ignores_caches() -> None:
    filters = Filters(frozenset({"EN"}), frozenset({"course"}))
    assert filters.languages == {"EN"}
    assert filters == Filters(frozenset({"EN"}), frozenset({"course"}))
    assert hash(filters) == hash(Filters(frozenset({"EN"}), frozenset({"course"})))
    assert filters != Filters(EN, COURSE)  # different choices, even if they match alike
    assert "_language_keys" not in repr(filters)


def test_any_iterable_becomes_a_frozenset() -> None:
    filters = Filters(["en", "en"], ("Course",))  # type: ignore[arg-type]
    assert filters.languages == frozenset({"en"})
    assert filters.matches("EN", "course")

"""``defaultLang``: the 360Learning list and rules (1), (2), (3) of docs/mapping.md#languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learnsync.mapping.content_types import THREESIXTY_CONTENT_TYPES
from learnsync.mapping.languages import (
    THREESIXTY_LANGUAGES,
    normalize_language_code,
    to_threesixty_language,
)


def test_the_list_is_reference_5_1() -> None:
    assert len(THREESIXTY_LANGUAGES) == 79
    for code in ("en", "el", "zh", "zh_tw", "zh_HANT", "pt_BR", "kar_MM", "he_IL", "sr", "vi"):
        assert code in THREESIXTY_LANGUAGES
    for code in ("en_US", "zh_TW", "zh_hant", "pt-BR", "nb", "he"):
        assert code not in THREESIXTY_LANGUAGES


@pytest.mark.parametrize(
    ("code", "expected"),
    [("en", "en"), ("EN", "en"), (" pt-BR ", "pt_br"), ("zh-Hant", "zh_hant"), ("a_b-c", "a_b_c")],
)
def test_normalize(code: str, expected: str) -> None:
    assert normalize_language_code(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # rule (1): the same code, case-insensitive, '-' == '_'
        ("en", "en"),
        ("EN", "en"),
        ("pt-BR", "pt_BR"),
        ("pt_br", "pt_BR"),
        ("en-GB", "en_GB"),
        ("en-ca", "en_CA"),
        ("zh-TW", "zh_tw"),
        ("ZH_TW", "zh_tw"),
        ("zh-Hant", "zh_HANT"),
        ("zh_hant", "zh_HANT"),
        ("nl-BE", "nl_BE"),
        ("he-IL", "he_IL"),
        ("es-MX", "es_MX"),
        ("zh", "zh"),
        # rule (2): other Chinese
        ("zh-HK", "zh_HANT"),
        ("zh-MO", "zh_HANT"),
        ("zh-hk", "zh_HANT"),
        ("zh-Hant-TW", "zh_HANT"),  # decision: a Traditional script subtag is Traditional
        ("zh-CN", "zh"),
        ("zh-SG", "zh"),
        ("zh-Hans", "zh"),
        ("zh-Hans-CN", "zh"),
        # rule (3): the base language
        ("de-AT", "de"),
        ("es-419", "es"),
        ("en-US", "en"),
        ("EN-us", "en"),
        ("fr-CH", "fr"),
        ("pt-PT", "pt"),
        ("sr-Latn", "sr"),
        ("ar_EG", "ar"),
        # no match: unsupported
        ("xx", None),
        ("eo", None),
        ("nb", None),
        ("he", None),  # 360Learning only has he_IL; rule (3) cannot reach it
        ("kar", None),
        ("xx-GB", None),
        ("-en", None),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_to_threesixty_language(code: str | None, expected: str | None) -> None:
    assert to_threesixty_language(code) == expected


def test_every_360_code_maps_to_itself() -> None:
    for code in THREESIXTY_LANGUAGES:
        assert to_threesixty_language(code) == code
        assert to_threesixty_language(code.upper().replace("_", "-")) == code


def _enums_containing(marker: str) -> list[set[str]]:
    """Every enum of 360Learning's bulk OpenAPI file that contains ``marker``."""
    path = Path(__file__).parent / "openapi" / "360learning-bulk-api.json"  # in the repository
    found: list[set[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and marker in enum:
                found.append(set(enum))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text()))
    assert found
    return found


def test_languages_and_content_types_match_the_openapi_enums() -> None:
    for enum in _enums_containing("zh_HANT"):
        assert enum == THREESIXTY_LANGUAGES
    for enum in _enums_containing("linkedContent"):
        assert enum == THREESIXTY_CONTENT_TYPES

"""Coursera ``contents`` element → 360Learning ``ExternalCourseDTO``: the content table as code
(docs/mapping.md#content-mapping).

``CONTENT_RULES`` below is the table, one row per 360Learning field, in the table's order, each with
the Coursera source and a named rule function. A rule returns the value to send, or ``None`` to omit
an optional field; a required field whose rule returns ``None`` skips the item with that row's
reason. Because the rows are evaluated in order, the skip precedence (``missing_name``,
then ``unsupported_language``, then ``missing_launch_url``) is the table's order. Exactly the
table's fields are ever sent (never ``translations``, ``mobileLaunchUrl``, ``authorId`` or tags).

Pure and fast: no I/O, no clock, no pydantic re-validation (the client already built the tolerant
``Content`` rows); the content pipeline maps and diffs tens of thousands of items per second.

The rows' text is already clean (:mod:`learnsync.model.untrusted`: no control character, no lone
surrogate); the rules here apply the length limits (docs/mapping.md#limits): identifiers and codes
that do not fit count as missing, texts are truncated, URLs too long are not URLs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from learnsync.mapping.content_types import to_threesixty_content_type
from learnsync.mapping.languages import to_threesixty_language
from learnsync.model.coursera import Content
from learnsync.model.untrusted import (
    MAX_CODE_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SOURCE_NAME_LENGTH,
    MAX_SOURCES,
    MAX_SUBJECT_LENGTH,
    MAX_SUBJECTS,
    MAX_URL_LENGTH,
    truncate,
)

MISSING_ID = "missing_id"
MISSING_NAME = "missing_name"
UNSUPPORTED_LANGUAGE = "unsupported_language"
MISSING_LAUNCH_URL = "missing_launch_url"

DURATION_MAX_MINUTES = 100_000
DIFFICULTY_LEVELS = frozenset({"beginner", "intermediate", "advanced"})
DEFAULT_SOURCES: tuple[dict[str, str], ...] = ({"name": "Coursera"},)


@dataclass(frozen=True, slots=True)
class MappedCourse:
    """A catalog item ready to upsert, plus the Coursera metadata filters judge on."""

    external_id: str
    payload: dict[
        str, Any
    ]  # exactly the ExternalCourseDTO fields of the content table, optional ones omitted
    language_code: str | None  # Coursera languageCode as received
    content_type: str | None  # Coursera contentType as received (or from ``id`` when absent)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedCourse:
    """A catalog item that is never sent, with the first skip reason that applies."""

    external_id: str  # "" only when no id can be built at all
    reason: str  # missing_name | unsupported_language | missing_launch_url | missing_id
    language_code: str | None
    content_type: str | None
    name: str | None


# --- shared helpers ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Trimmed text, ``None`` when missing, blank or not a string."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


# scheme, then a host (no ":" first, no blank, no "/?#"), then anything without blanks
_HTTP_URL = re.compile(r"https?://[^\s/?#:@][^\s/?#]*(?:[/?#]\S*)?", re.IGNORECASE)


def _limited(value: Any, limit: int) -> str | None:
    """Trimmed text (:func:`_text`), cut to ``limit`` characters ending with ``…``."""
    text = _text(value)
    return None if text is None else truncate(text, limit)


def code(value: str | None) -> str | None:
    """A Coursera ``languageCode`` / ``contentType`` as received, or ``None`` when it is longer
    than 64 characters (no real code is; the store keeps it as received, 64 at most)."""
    if value is None or len(value) > MAX_CODE_LENGTH:
        return None
    return value


def http_url(value: Any) -> str | None:
    """The trimmed URL when it is an absolute http(s) URL with a host and no blanks, of 2,048
    characters at most; else None (``javascript:``, ``data:``, relative or over-long URLs)."""
    text = _text(value)
    if text is None or len(text) > MAX_URL_LENGTH or _HTTP_URL.fullmatch(text) is None:
        return None
    return text


def number(value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string (``"3600"``); ``None`` otherwise
    (an integer too large for a float included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:
            return None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def course_key(content_type: str | None, content_id: str | None) -> str | None:
    """``"{contentType}~{contentId}"``, the key content and statistics share; ``None`` if a part is
    missing, or the type is longer than 64 characters, or the key longer than 255 (the store's
    key). A ``contentId`` that already carries its ``"{contentType}~"`` prefix is not prefixed
    twice (prefixed vs bare ids caused duplicate rows in other connectors:
    docs/api-notes.md#coursera-pain-points)."""
    kind = _text(content_type)
    ident = _text(content_id)
    if kind is None or ident is None or len(kind) > MAX_CODE_LENGTH:
        return None
    if ident.startswith(kind + "~"):
        ident = ident[len(kind) + 1 :] or None
        if ident is None:
            return None
    key = f"{kind}~{ident}"
    return key if len(key) <= MAX_ID_LENGTH else None


def _effective_type(content: Content) -> str | None:
    """``contentType`` as received; when absent (or over 64 characters), the type prefix of
    ``id`` (``Course~x``)."""
    kind = _text(code(content.content_type))
    if kind is not None:
        return content.content_type
    raw_id = _text(content.id)
    if raw_id is not None and "~" in raw_id:
        return code(_text(raw_id.partition("~")[0]))
    return None


def content_external_id(content: Content) -> str | None:
    """The ``externalId``: ``"{contentType}~{contentId}"``; when ``contentId`` is absent, the
    part of ``id`` after ``~`` (or the whole ``id`` without one). ``None``: no id can be built."""
    content_id = _text(content.content_id)
    if content_id is None:
        raw_id = _text(content.id)
        if raw_id is not None:
            content_id = raw_id.partition("~")[2] if "~" in raw_id else raw_id
    return course_key(_effective_type(content), content_id)


# --- one named rule per row of the content table ----------------------------------------------


@dataclass(slots=True)
class _Context:
    content: Content
    definition: Mapping[str, Any]
    program_id: str | None
    content_types: Mapping[str, str] | None
    content_type: str | None
    warnings: list[str] = field(default_factory=list)


def _name(ctx: _Context) -> str | None:
    # name (required): trimmed, cut to 500 characters; missing or blank → missing_name
    return _limited(ctx.content.name, MAX_NAME_LENGTH)


def _description(ctx: _Context) -> str | None:
    # description: trimmed, cut to 10,000 characters; omitted when missing or blank (360Learning
    # rejects "")
    return _limited(ctx.content.description, MAX_DESCRIPTION_LENGTH)


def _image_url(ctx: _Context) -> str | None:
    # imageUrl ← extraMetadata.definition.promoPhoto: omitted when missing or not http(s)
    return http_url(ctx.definition.get("promoPhoto"))


def _duration(ctx: _Context) -> int | None:
    # duration (minutes) ← definition.estimatedLearningTime (seconds): ceil(s/60) clamped to
    # 1..100000; omitted when missing, not a number (a numeric string counts), or ≤ 0
    seconds = number(ctx.definition.get("estimatedLearningTime"))
    if seconds is None or seconds <= 0:
        return None
    return min(max(math.ceil(seconds / 60), 1), DURATION_MAX_MINUTES)


def _default_lang(ctx: _Context) -> str | None:
    # defaultLang (required) ← languageCode: rules (1) (2) (3); no match (or a code over 64
    # characters) → unsupported_language
    return to_threesixty_language(code(ctx.content.language_code))


def _launch_url(ctx: _Context) -> str | None:
    # launchUrl (required) ← the configured program's contentUrl, else programs[0].contentUrl;
    # missing or not http(s) → missing_launch_url
    programs = ctx.content.programs
    if not programs:
        return None
    chosen = programs[0]
    if ctx.program_id:
        for program in programs:
            if program.program_id == ctx.program_id:
                chosen = program
                break
    return http_url(chosen.content_url)


def _skill_names(definition: Mapping[str, Any]) -> list[Any]:
    skills = definition.get("skills")
    if not isinstance(skills, list):
        # clips carry their skills as ``skillTags`` (docs/api-notes.md#coursera-extrametadata)
        skills = definition.get("skillTags")
    if not isinstance(skills, list):
        return []
    return [item.get("skillName") for item in skills if isinstance(item, dict)]


def _subjects(ctx: _Context) -> list[str]:
    # subjects (required array) ← definition.skills[].skillName: trimmed, cut to 255 characters,
    # blanks dropped, de-duplicated case-insensitively keeping the first spelling, order kept, the
    # first 100; [] when none
    subjects: list[str] = []
    seen: set[str] = set()
    for raw in _skill_names(ctx.definition):
        name = _limited(raw, MAX_SUBJECT_LENGTH)
        if name is None:
            continue
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            subjects.append(name)
            if len(subjects) == MAX_SUBJECTS:
                break
    return subjects


def _difficulty_level(ctx: _Context) -> str | None:
    # difficultyLevel: BEGINNER/INTERMEDIATE/ADVANCED in any case → lower case; else omitted
    level = _text(ctx.content.difficulty_level)
    if level is None:
        return None
    level = level.lower()
    return level if level in DIFFICULTY_LEVELS else None


def _sources(ctx: _Context) -> list[dict[str, str]]:
    # sources (required array) ← partners[]: {name, logoUrl} per partner with a non-blank name
    # (cut to 255 characters), the first 20; logoUrl omitted when missing or not http(s), as
    # imageUrl; none → [{"name": "Coursera"}]
    sources: list[dict[str, str]] = []
    for partner in ctx.content.partners:
        name = _limited(partner.name, MAX_SOURCE_NAME_LENGTH)
        if name is None:
            continue
        logo = http_url(partner.logo_url)
        sources.append({"name": name, "logoUrl": logo} if logo is not None else {"name": name})
        if len(sources) == MAX_SOURCES:
            break
    return sources or [dict(source) for source in DEFAULT_SOURCES]


def _content_type(ctx: _Context) -> str:
    # contentType ← contentType: default table, overridable per integration; unknown → "course"
    # with a warning in the run report
    kind, warning = to_threesixty_content_type(ctx.content_type, ctx.content_types)
    if warning is not None:
        ctx.warnings.append(warning)
    return kind


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One row of the content table."""

    field: str  # the ExternalCourseDTO field
    source: str  # the Coursera field it comes from (documentation)
    rule: Callable[[_Context], Any]
    skip_reason: str | None = None  # required field: the reason when ``rule`` gives None


# The content table (``externalId`` is computed first: without it nothing can be reported).
CONTENT_RULES: tuple[FieldRule, ...] = (
    FieldRule("name", "name", _name, MISSING_NAME),
    FieldRule("description", "description", _description),
    FieldRule("imageUrl", "extraMetadata.definition.promoPhoto", _image_url),
    FieldRule("duration", "extraMetadata.definition.estimatedLearningTime", _duration),
    FieldRule("defaultLang", "languageCode", _default_lang, UNSUPPORTED_LANGUAGE),
    FieldRule("launchUrl", "programs[].contentUrl", _launch_url, MISSING_LAUNCH_URL),
    FieldRule("subjects", "extraMetadata.definition.skills[].skillName", _subjects),
    FieldRule("difficultyLevel", "difficultyLevel", _difficulty_level),
    FieldRule("sources", "partners[]", _sources),
    FieldRule("contentType", "contentType", _content_type),
)


def map_content(
    content: Content,
    *,
    program_id: str | None = None,
    content_types: Mapping[str, str] | None = None,
) -> MappedCourse | SkippedCourse:
    """Map one catalog element, or say why it is skipped (the first reason that applies)."""
    content_type = _effective_type(content)
    language_code = code(content.language_code)
    external_id = content_external_id(content)
    if external_id is None:
        return SkippedCourse(
            "", MISSING_ID, language_code, content_type, _limited(content.name, MAX_NAME_LENGTH)
        )
    definition = content.extra_metadata.definition
    ctx = _Context(content, definition, program_id, content_types, content_type)
    payload: dict[str, Any] = {"externalId": external_id}
    for row in CONTENT_RULES:
        value = row.rule(ctx)
        if value is None:
            if row.skip_reason is not None:
                return SkippedCourse(
                    external_id,
                    row.skip_reason,
                    language_code,
                    content_type,
                    payload.get("name") or _limited(content.name, MAX_NAME_LENGTH),
                )
            continue
        payload[row.field] = value
    return MappedCourse(external_id, payload, language_code, content_type, tuple(ctx.warnings))

"""Coursera ``contentType`` → 360Learning ``contentType`` (docs/mapping.md#content-mapping).

A default table, overridable per integration (``[sync.content_types]`` in the config). Coursera
types are looked up exactly first, then case-insensitively, so ``COURSE`` and ``course`` behave like
``Course``. An unknown type is sent as ``course`` (360Learning's own default) with a warning whose
text is the same for every item of that type, so a report can list it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The 360Learning ``contentType`` enum (docs/api-notes.md#content-types-and-difficulty-levels).
THREESIXTY_CONTENT_TYPES: frozenset[str] = frozenset(
    {
        "article", "assessment", "audiobook", "book", "certificate", "channel", "course",
        "curriculum", "interactive", "journey", "labs", "linkedContent", "mooc", "podcast",
        "program", "roleplay", "specialization", "topvoice", "video",
    }
)  # fmt: skip

# The default table (docs/mapping.md#content-mapping).
DEFAULT_CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "Course": "course",
        "Specialization": "specialization",
        "ProfessionalCertificate": "certificate",
        "Program": "program",
        "GuidedProject": "labs",
        "Project": "labs",
        "Video": "video",
        "Clip": "video",
    }
)

FALLBACK_CONTENT_TYPE = "course"

_ENUM_BY_LOWER = {t.lower(): t for t in THREESIXTY_CONTENT_TYPES}
_DEFAULTS_BY_LOWER = {k.lower(): v for k, v in DEFAULT_CONTENT_TYPES.items()}


def canonical_content_type(value: str) -> str | None:
    """The 360Learning enum spelling of ``value`` (case-insensitive), ``None`` when not in it."""
    return _ENUM_BY_LOWER.get(value.strip().lower())


def validate_content_type_overrides(overrides: Mapping[str, str] | None) -> list[str]:
    """Errors in a per-integration override table (empty list = valid), for config loading."""
    errors: list[str] = []
    for source, target in (overrides or {}).items():
        if not isinstance(source, str) or not source.strip():
            errors.append("[sync.content_types]: a Coursera content type must not be empty")
            continue
        if not isinstance(target, str) or canonical_content_type(target) is None:
            allowed = ", ".join(sorted(THREESIXTY_CONTENT_TYPES))
            errors.append(
                f"[sync.content_types]: {source} = {target!r} is not a 360Learning content type "
                f"(choose one of: {allowed})"
            )
    return errors


def _lookup(table: Mapping[str, str], coursera_type: str) -> str | None:
    found = table.get(coursera_type)
    if found is not None:
        return found
    lowered = coursera_type.strip().lower()
    for key, value in table.items():
        if key.strip().lower() == lowered:
            return value
    return None


def _override(overrides: Mapping[str, str], coursera_type: str) -> str | None:
    target = _lookup(overrides, coursera_type)
    # an invalid target is reported by validate_content_type_overrides; never sent
    return None if not isinstance(target, str) else canonical_content_type(target)


def to_threesixty_content_type(
    coursera_type: str | None, overrides: Mapping[str, str] | None = None
) -> tuple[str, str | None]:
    """``(360Learning contentType, warning or None)``; unknown or missing → ``course`` + warning."""
    if coursera_type is None or not coursera_type.strip():
        return FALLBACK_CONTENT_TYPE, "Coursera content without a content type was sent as 'course'"
    if overrides:
        chosen = _override(overrides, coursera_type)
        if chosen is not None:
            return chosen, None
    found = DEFAULT_CONTENT_TYPES.get(coursera_type)
    if found is None:
        found = _DEFAULTS_BY_LOWER.get(coursera_type.strip().lower())
    if found is not None:
        return found, None
    return FALLBACK_CONTENT_TYPE, (
        f"unknown Coursera content type {coursera_type!r} was sent as 'course' "
        "(map it in [sync.content_types] to choose another 360Learning type)"
    )

"""Per-item validation of bulk inputs: courses (docs/api-notes.md#upsert-external-courses) and
statistics (docs/api-notes.md#import-statistics).

Every function returns ``None`` for a valid item or a human-readable message for an invalid one:
a bad item becomes an ``error`` result of its bulk operation, never an HTTP error and never a
crash. The rules mirror 360Learning's published schemas (``ExternalCourseDTO``,
``ImportExternalStatisticsDTO``); the contract tests check them against the OpenAPI files.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# docs/api-notes.md#language-codes: 80 entries in the spec, "el" twice, so 79 distinct codes
_LANG_LIST = (
    "bg cs da de el en es fi fr hr ht_HT hu id it ja kar_MM ko lt mh_MH nl nl_BE no pl pt ro ru "
    "rw_RW sk sl so_SO sv sw_KE th ti_ET tr uk zh am_ET bn bs ca cy en_CA en_GB es_AR es_MX et "
    "fr_CA gu he_IL hy kk km lo lv mi mn_MN mr ms my_MM nn_NO or pa pt_BR pt_MZ rn_BI si ta te "
    "tl_PH ur uz yo_NG zh_tw el hi sr ar vi zh_HANT"
)
LANGS: tuple[str, ...] = tuple(dict.fromkeys(_LANG_LIST.split()))
LANG_INDEX: dict[str, int] = {code: i for i, code in enumerate(LANGS)}
_CONTENT_TYPES = (
    "article assessment audiobook book certificate channel course curriculum interactive journey "
    "labs linkedContent mooc podcast program roleplay specialization topvoice video"
)
CONTENT_TYPES = frozenset(_CONTENT_TYPES.split())
DIFFICULTY_LEVELS = frozenset({"advanced", "beginner", "intermediate"})
OBJECT_ID = re.compile(r"^[a-fA-F0-9]{24}$")

_COURSE_FIELDS = (
    "defaultLang externalId launchUrl name sources subjects contentType description "
    "difficultyLevel duration imageUrl mobileLaunchUrl authorId translations"
)
COURSE_FIELDS = frozenset(_COURSE_FIELDS.split())
_STAT_FIELDS = (
    "courseIdentifier userIdentifier progress timeSpent firstActivityAt lastActivityAt forceNew "
    "score result lang"
)
STAT_FIELDS = frozenset(_STAT_FIELDS.split())
TRANSLATED_FIELDS = frozenset({"name", "description", "launchUrl", "mobileLaunchUrl", "subjects"})
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_date_time(value: Any) -> datetime | None:
    """An RFC 3339 date-time (the OpenAPI ``date-time`` format) as aware UTC, else ``None``."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def format_ms(ms: int) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ``, the format of every 360Learning timestamp."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nonempty_str(item: dict[str, Any], key: str, *, required: bool) -> str | None:
    if key not in item:
        return f"{key} is required" if required else None
    value = item[key]
    if not isinstance(value, str):
        return f"{key} must be a string"
    if not value:
        return f"{key} must not be empty (minLength 1)"
    return None


def _unknown(item: dict[str, Any], allowed: frozenset[str], where: str = "") -> str | None:
    extra = sorted(set(item) - allowed)
    return f"unknown property {where}{extra[0]}" if extra else None


def validate_course(item: Any, *, reject_unknown: bool) -> str | None:
    """Check one ``ExternalCourseDTO``."""
    if not isinstance(item, dict):
        return "each input item must be an object"
    if reject_unknown and (msg := _unknown(item, COURSE_FIELDS)):
        return msg
    for key in ("externalId", "name", "launchUrl"):
        if msg := _nonempty_str(item, key, required=True):
            return msg
    if "defaultLang" not in item:
        return "defaultLang is required"
    if item["defaultLang"] not in LANGS:
        return f"defaultLang must be one of the supported languages, got {item['defaultLang']!r}"
    if msg := _check_sources(item):
        return msg
    if msg := _check_subjects(item, "subjects", required=True):
        return msg
    for key in ("description", "imageUrl", "mobileLaunchUrl"):
        if msg := _nonempty_str(item, key, required=False):
            return msg
    if "contentType" in item and item["contentType"] not in CONTENT_TYPES:
        return f"contentType must be one of {sorted(CONTENT_TYPES)}"
    if "difficultyLevel" in item and item["difficultyLevel"] not in DIFFICULTY_LEVELS:
        return f"difficultyLevel must be one of {sorted(DIFFICULTY_LEVELS)}"
    if "duration" in item:
        duration = item["duration"]
        if not _is_int(duration) and not (isinstance(duration, float) and duration.is_integer()):
            return "duration must be an integer (minutes)"
        if not 1 <= duration <= 100_000:
            return "duration must be between 1 and 100000"
    if "authorId" in item and (
        not isinstance(item["authorId"], str) or not OBJECT_ID.match(item["authorId"])
    ):
        return "authorId must be an ObjectId (24 hexadecimal digits)"
    if "translations" in item:
        return _check_translations(item["translations"], reject_unknown=reject_unknown)
    return None


def _check_sources(item: dict[str, Any]) -> str | None:
    if "sources" not in item:
        return "sources is required"
    sources = item["sources"]
    if not isinstance(sources, list):
        return "sources must be an array"
    for i, source in enumerate(sources):
        if not isinstance(source, dict):
            return f"sources[{i}] must be an object"
        if msg := _nonempty_str(source, "name", required=True):
            return f"sources[{i}].{msg}"
        if msg := _nonempty_str(source, "logoUrl", required=False):
            return f"sources[{i}].{msg}"
    return None


def _check_subjects(item: dict[str, Any], key: str, *, required: bool) -> str | None:
    if key not in item:
        return f"{key} is required" if required else None
    subjects = item[key]
    if not isinstance(subjects, list):
        return f"{key} must be an array"
    for i, subject in enumerate(subjects):
        if not isinstance(subject, str) or not subject:
            return f"{key}[{i}] must be a non-empty string"
    return None


def _check_translations(translations: Any, *, reject_unknown: bool) -> str | None:
    if not isinstance(translations, list):
        return "translations must be an array"
    for i, tr in enumerate(translations):
        if not isinstance(tr, dict):
            return f"translations[{i}] must be an object"
        if tr.get("lang") not in LANGS:
            return f"translations[{i}].lang must be one of the supported languages"
        fields = tr.get("translatedFields")
        if not isinstance(fields, dict):
            return f"translations[{i}].translatedFields is required and must be an object"
        if reject_unknown and (msg := _unknown(fields, TRANSLATED_FIELDS, "translatedFields.")):
            return f"translations[{i}]: {msg}"
        for key in ("name", "description", "launchUrl", "mobileLaunchUrl"):
            if msg := _nonempty_str(fields, key, required=False):
                return f"translations[{i}].translatedFields.{msg}"
        if msg := _check_subjects(fields, "subjects", required=False):
            return f"translations[{i}].translatedFields.{msg}"
    return None


def validate_archive(item: Any, *, reject_unknown: bool) -> str | None:
    """Check one archive item ``{"externalId": ...}``."""
    if not isinstance(item, dict):
        return "each input item must be an object"
    if reject_unknown and (msg := _unknown(item, frozenset({"externalId"}))):
        return msg
    return _nonempty_str(item, "externalId", required=True)


def _check_identifier(item: dict[str, Any], key: str, types: tuple[str, ...]) -> str | None:
    ident = item.get(key)
    if key not in item:
        return f"{key} is required"
    if not isinstance(ident, dict):
        return f"{key} must be an object"
    if ident.get("type") not in types:
        return f"{key}.type must be one of {list(types)}"
    if msg := _nonempty_str(ident, "value", required=True):
        return f"{key}.{msg}"
    return None


def validate_stat(item: Any, *, reject_unknown: bool, reject_reversed_dates: bool) -> str | None:
    """Check one ``ImportExternalStatisticsDTO``."""
    if not isinstance(item, dict):
        return "each input item must be an object"
    if reject_unknown and (msg := _unknown(item, STAT_FIELDS)):
        return msg
    if msg := _check_identifier(item, "courseIdentifier", ("externalId", "internalId")):
        return msg
    if msg := _check_identifier(item, "userIdentifier", ("mail", "internalId")):
        return msg
    for key in ("progress", "timeSpent", "firstActivityAt", "lastActivityAt"):
        if key not in item:
            return f"{key} is required"
    progress = item["progress"]
    if not _is_number(progress) or not 0 <= progress <= 100:
        return "progress must be a number between 0 and 100"
    spent = item["timeSpent"]
    if not _is_number(spent) or spent < 1:
        return "timeSpent must be a number of milliseconds, at least 1"
    first = parse_date_time(item["firstActivityAt"])
    if first is None:
        return "firstActivityAt must be an ISO 8601 date-time"
    last = parse_date_time(item["lastActivityAt"])
    if last is None:
        return "lastActivityAt must be an ISO 8601 date-time"
    if reject_reversed_dates and last < first:
        return "lastActivityAt must not be earlier than firstActivityAt"
    if "forceNew" in item and not isinstance(item["forceNew"], bool):
        return "forceNew must be a boolean"
    if "score" in item and (not _is_number(item["score"]) or not 0 <= item["score"] <= 100):
        return "score must be a number between 0 and 100"
    if "result" in item and item["result"] not in ("success", "failed"):
        return "result must be one of ['success', 'failed']"
    if "lang" in item and item["lang"] not in LANGS:
        return "lang must be one of the supported languages"
    return None

"""Tolerant models of the rows the Coursera for Business API returns (docs/api-notes.md).

Unknown fields are ignored, every field is optional, and a field of the wrong JSON type becomes
``None`` (or is coerced where the meaning is unambiguous: a numeric ``externalId`` becomes a
string, ``"true"`` becomes ``True``) instead of failing the row. Deciding whether a row is usable
is the mapping's job, which reports a reason; the client never drops a row.

The converters are also where Coursera's text enters learnsync, so they apply the untrusted-text
rules (:mod:`learnsync.model.untrusted`, docs/security.md#untrusted-text): every string cleaned
(control characters removed, lone surrogates replaced; ``description`` keeps its line feeds and
tabs), the raw ``extraMetadata.definition`` cleaned throughout, and a number that no float or
64-bit integer holds is invalid (``None``). No converter raises, whatever the JSON value.

The converters (``loose_str`` …) are public: :class:`learnsync.extract.stats.LightRow` applies the
very same ones without pydantic. :class:`EnrollmentFields` is what the statistics mapping reads of
a row, met by :class:`EnrollmentRow` and by ``LightRow``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from learnsync.model.untrusted import INT64_MAX, INT64_MIN, clean_json, clean_line, clean_text


def loose_str(value: Any) -> str | None:
    """A one-line string (:func:`~learnsync.model.untrusted.clean_line`); a JSON number becomes
    its text; anything else ``None``."""
    if isinstance(value, str):
        return value if value.isprintable() else clean_line(value)  # the common case inline
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def loose_text(value: Any) -> str | None:
    """A multi-line text (:func:`~learnsync.model.untrusted.clean_text`: line feeds and tabs
    kept); anything but a string ``None``."""
    return clean_text(value) if isinstance(value, str) else None


def loose_number(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; ``None`` otherwise — an integer too
    large for a float (``1e400`` written out) included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def loose_int(value: Any) -> int | None:
    """As :func:`loose_number`, truncated to an integer; ``None`` outside the signed 64-bit
    range (no timestamp or count fits there)."""
    number = loose_number(value)
    if number is None:
        return None
    integer = int(number)
    return integer if INT64_MIN <= integer <= INT64_MAX else None  # untrusted.bounded_int, inline


def loose_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _loose_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _loose_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _clean_dict(value: Any) -> dict[str, Any]:
    """A raw JSON object kept as it is, its strings cleaned (``extraMetadata.definition``)."""
    if not isinstance(value, dict):
        return {}
    cleaned: dict[str, Any] = clean_json(value)
    return cleaned


LooseStr = Annotated[str | None, BeforeValidator(loose_str)]
LooseText = Annotated[str | None, BeforeValidator(loose_text)]
LooseFloat = Annotated[float | None, BeforeValidator(loose_number)]
LooseInt = Annotated[int | None, BeforeValidator(loose_int)]
LooseBool = Annotated[bool | None, BeforeValidator(loose_bool)]
LooseDict = Annotated[dict[str, Any], BeforeValidator(_clean_dict)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Partner(_Row):
    name: LooseStr = None
    logo_url: LooseStr = Field(default=None, alias="logoUrl")


class ContentProgram(_Row):
    program_id: LooseStr = Field(default=None, alias="programId")
    content_url: LooseStr = Field(default=None, alias="contentUrl")


def _rows_of(model: type[_Row]) -> BeforeValidator:
    def convert(value: Any) -> list[Any]:
        return [item for item in _loose_list(value) if isinstance(item, dict)]

    return BeforeValidator(convert)


class ExtraMetadata(_Row):
    type_name: LooseStr = Field(default=None, alias="typeName")
    # kept raw: keys differ per content type and the mapping checks each one it uses
    definition: LooseDict = Field(default_factory=dict)


class Content(_Row):
    """One element of ``GET /businesses.v1/{orgId}/contents``."""

    id: LooseStr = None
    content_id: LooseStr = Field(default=None, alias="contentId")
    content_type: LooseStr = Field(default=None, alias="contentType")
    name: LooseStr = None
    description: LooseText = None
    slug: LooseStr = None
    language_code: LooseStr = Field(default=None, alias="languageCode")
    difficulty_level: LooseStr = Field(default=None, alias="difficultyLevel")
    last_updated_at: LooseInt = Field(default=None, alias="lastUpdatedAt")
    partners: Annotated[list[Partner], _rows_of(Partner)] = Field(default_factory=list)
    programs: Annotated[list[ContentProgram], _rows_of(ContentProgram)] = Field(
        default_factory=list
    )
    extra_metadata: Annotated[ExtraMetadata, BeforeValidator(_loose_dict)] = Field(
        default_factory=ExtraMetadata, alias="extraMetadata"
    )


class EnrollmentRow(_Row):
    """One element of ``GET /businesses.v1/{orgId}/enrollmentReports`` (timestamps in epoch ms)."""

    id: LooseStr = None
    program_id: LooseStr = Field(default=None, alias="programId")
    external_id: LooseStr = Field(default=None, alias="externalId")
    email: LooseStr = None
    full_name: LooseStr = Field(default=None, alias="fullName")
    content_id: LooseStr = Field(default=None, alias="contentId")
    content_type: LooseStr = Field(default=None, alias="contentType")
    content_name: LooseStr = Field(default=None, alias="contentName")
    is_completed: LooseBool = Field(default=None, alias="isCompleted")
    overall_progress: LooseFloat = Field(default=None, alias="overallProgress")
    approx_total_course_hrs: LooseFloat = Field(default=None, alias="approxTotalCourseHrs")
    enrolled_at: LooseInt = Field(default=None, alias="enrolledAt")
    completed_at: LooseInt = Field(default=None, alias="completedAt")
    last_activity_at: LooseInt = Field(default=None, alias="lastActivityAt")
    updated_at: LooseInt = Field(default=None, alias="updatedAt")
    deleted_at: LooseInt = Field(default=None, alias="deletedAt")
    membership_state: LooseStr = Field(default=None, alias="membershipState")


class EnrollmentFields(Protocol):
    """What the statistics mapping reads of an ``enrollmentReports`` row (read-only).

    Met by :class:`EnrollmentRow` and by :class:`learnsync.extract.stats.LightRow`, the
    pydantic-free row the statistics pipeline reads a million of.
    """

    @property
    def id(self) -> str | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def content_id(self) -> str | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def is_completed(self) -> bool | None: ...
    @property
    def overall_progress(self) -> float | None: ...
    @property
    def approx_total_course_hrs(self) -> float | None: ...
    @property
    def enrolled_at(self) -> int | None: ...
    @property
    def last_activity_at(self) -> int | None: ...

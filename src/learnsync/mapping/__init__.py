"""The two mapping tables as code: content and statistics (docs/mapping.md).

- :mod:`learnsync.mapping.content` — ``contents`` element → ``ExternalCourseDTO``;
- :mod:`learnsync.mapping.stats` — ``enrollmentReports`` row → ``ImportExternalStatisticsDTO``;
- :mod:`learnsync.mapping.languages`, :mod:`learnsync.mapping.content_types` — lookup tables;
- :mod:`learnsync.mapping.hashing` — the stable payload fingerprint the diff compares.
"""

from learnsync.mapping.content import (
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
from learnsync.mapping.languages import (
    THREESIXTY_LANGUAGES,
    normalize_language_code,
    to_threesixty_language,
)
from learnsync.mapping.stats import Compact, SkippedStat, map_compact

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "THREESIXTY_LANGUAGES",
    "Compact",
    "MappedCourse",
    "SkippedCourse",
    "SkippedStat",
    "content_external_id",
    "map_compact",
    "map_content",
    "normalize_language_code",
    "payload_hash",
    "to_threesixty_content_type",
    "to_threesixty_language",
    "validate_content_type_overrides",
]

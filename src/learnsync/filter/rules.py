"""Which Coursera content an integration synchronizes (docs/mapping.md#filters).

Both filters judge on Coursera's own metadata (``languageCode``, ``contentType``), not on the mapped
360Learning values. Several values of one filter combine with OR, the two filters with AND, and an
empty filter does not restrict. Languages compare in rule (1)'s form (case-insensitive, ``-`` ==
``_``): a filter on ``en`` matches ``en`` and ``EN`` but not ``en-US``. Content types compare
case-insensitively. Content without a language (or type) never matches a non-empty filter on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from learnsync.mapping.languages import normalize_language_code


def _type_key(value: str) -> str:
    return value.strip().casefold()


@dataclass(frozen=True)
class Filters:
    """The saved filters of one integration; the values are kept as the administrator chose them."""

    languages: frozenset[str] = frozenset()  # Coursera languageCodes
    content_types: frozenset[str] = frozenset()  # Coursera contentTypes
    _language_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _type_keys: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # accept any iterable of strings (a list from JSON, a set) and precompute comparison forms
        object.__setattr__(self, "languages", frozenset(self.languages))
        object.__setattr__(self, "content_types", frozenset(self.content_types))
        object.__setattr__(
            self, "_language_keys", frozenset(normalize_language_code(v) for v in self.languages)
        )
        object.__setattr__(self, "_type_keys", frozenset(_type_key(v) for v in self.content_types))

    def matches(self, language_code: str | None, content_type: str | None) -> bool:
        """Whether content with this Coursera metadata is synchronized."""
        if self._language_keys and (
            language_code is None
            or normalize_language_code(language_code) not in self._language_keys
        ):
            return False
        return not self._type_keys or (
            content_type is not None and _type_key(content_type) in self._type_keys
        )

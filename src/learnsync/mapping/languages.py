"""Coursera ``languageCode`` → 360Learning ``defaultLang`` (docs/mapping.md#languages).

360Learning's language enum (docs/api-notes.md#language-codes) is not BCP-47: it mixes ``xx``,
``xx_YY`` and the odd ``zh_tw`` / ``zh_HANT``. Coursera sends BCP-47-ish codes (``en``, ``pt-BR``,
``zh-CN``). The three rules are applied in order; the first that yields a 360Learning code wins.
"""

from __future__ import annotations

from functools import lru_cache

# The bulk OpenAPI file's enum has 80 entries with ``el`` twice, so 79 distinct codes.
THREESIXTY_LANGUAGES: frozenset[str] = frozenset(
    {
        "bg", "cs", "da", "de", "el", "en", "es", "fi", "fr", "hr",
        "ht_HT", "hu", "id", "it", "ja", "kar_MM", "ko", "lt", "mh_MH", "nl",
        "nl_BE", "no", "pl", "pt", "ro", "ru", "rw_RW", "sk", "sl", "so_SO",
        "sv", "sw_KE", "th", "ti_ET", "tr", "uk", "zh", "am_ET", "bn", "bs",
        "ca", "cy", "en_CA", "en_GB", "es_AR", "es_MX", "et", "fr_CA", "gu", "he_IL",
        "hy", "kk", "km", "lo", "lv", "mi", "mn_MN", "mr", "ms", "my_MM",
        "nn_NO", "or", "pa", "pt_BR", "pt_MZ", "rn_BI", "si", "ta", "te", "tl_PH",
        "ur", "uz", "yo_NG", "zh_tw", "hi", "sr", "ar", "vi", "zh_HANT",
    }
)  # fmt: skip

# Rule (2): Chinese subtags that mean Traditional script (Hong Kong, Macau, or the script itself).
_TRADITIONAL_CHINESE_SUBTAGS = frozenset({"hk", "mo", "hant"})


def normalize_language_code(code: str) -> str:
    """Rule (1)'s comparison form: trimmed, lower-cased, ``-`` and ``_`` made equal (``_``)."""
    return code.strip().lower().replace("-", "_")


# comparison form → the exact 360Learning spelling (``zh_hant`` → ``zh_HANT``)
_BY_NORMALIZED: dict[str, str] = {normalize_language_code(c): c for c in THREESIXTY_LANGUAGES}


@lru_cache(maxsize=1024)
def to_threesixty_language(code: str | None) -> str | None:
    """The 360Learning ``defaultLang`` for a Coursera ``languageCode``; ``None`` = unsupported.

    (1) the same code, case-insensitive, ``-`` == ``_`` (``pt-BR`` → ``pt_BR``, ``zh-Hant`` →
    ``zh_HANT``); (2) other Chinese: a ``Hant``, ``HK`` or ``MO`` subtag → ``zh_HANT``, anything
    else ``zh-…`` → ``zh``; (3) the base language before the first ``-``/``_`` (``es-419`` →
    ``es``). Cached: a catalog has a handful of distinct codes and millions of rows may ask.
    """
    if code is None:
        return None
    normalized = normalize_language_code(code)
    if not normalized:
        return None
    exact = _BY_NORMALIZED.get(normalized)  # rule (1)
    if exact is not None:
        return exact
    base, _, rest = normalized.partition("_")
    if base == "zh" and rest:  # rule (2)
        subtags = set(rest.split("_"))
        return "zh_HANT" if subtags & _TRADITIONAL_CHINESE_SUBTAGS else "zh"
    return base if base in THREESIXTY_LANGUAGES else None  # rule (3); base codes are lower-case

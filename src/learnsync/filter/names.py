"""English names of the language codes found in Coursera's catalog (for the filter choices)."""

from __future__ import annotations

_BASE = {
    "am": "Amharic", "ar": "Arabic", "az": "Azerbaijani", "bg": "Bulgarian", "bn": "Bengali",
    "bs": "Bosnian", "ca": "Catalan", "cs": "Czech", "cy": "Welsh", "da": "Danish",
    "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "gu": "Gujarati", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian", "hy": "Armenian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh",
    "km": "Khmer", "ko": "Korean", "lo": "Lao", "lt": "Lithuanian", "lv": "Latvian",
    "mi": "Maori", "mn": "Mongolian", "mr": "Marathi", "ms": "Malay", "my": "Burmese",
    "nl": "Dutch", "nn": "Norwegian Nynorsk", "no": "Norwegian", "or": "Odia", "pa": "Punjabi",
    "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "si": "Sinhala",
    "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish", "sw": "Swahili",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "yo": "Yoruba",
    "zh": "Chinese",
}  # fmt: skip

_VARIANTS = {
    "pt-br": "Portuguese (Brazil)", "pt-pt": "Portuguese (Portugal)", "en-gb": "English (UK)",
    "en-us": "English (US)", "en-ca": "English (Canada)", "es-419": "Spanish (Latin America)",
    "es-mx": "Spanish (Mexico)", "es-ar": "Spanish (Argentina)", "fr-ca": "French (Canada)",
    "zh-cn": "Chinese (Simplified)", "zh-hans": "Chinese (Simplified)",
    "zh-tw": "Chinese (Traditional)", "zh-hant": "Chinese (Traditional)",
    "zh-hk": "Chinese (Hong Kong)", "nl-be": "Dutch (Belgium)",
}  # fmt: skip


def language_name(code: str) -> str:
    """``"pt-BR"`` → ``"Portuguese (Brazil)"``; an unknown code → the code itself."""
    key = code.strip().lower().replace("_", "-")
    if key in _VARIANTS:
        return _VARIANTS[key]
    base, _, region = key.partition("-")
    name = _BASE.get(base)
    if name is None:
        return code
    return f"{name} ({region.upper()})" if region else name

"""The language of a page: Slovenian by default, Italian second (Koper, Izola and Piran are
bilingual), chosen by ?lang=, a cookie or Accept-Language; and texts looked up by key."""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT = "sl"
LANGUAGES = ("sl", "it")
LANG_COOKIE = "obvo_lang"

Texts = Mapping[str, Mapping[str, str]]


def pick_language(*candidates: str | None) -> str:
    """The first supported language among explicit choices, else Slovenian."""
    for candidate in candidates:
        if candidate and candidate[:2].lower() in LANGUAGES:
            return candidate[:2].lower()
    return DEFAULT


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an Accept-Language header, by q-value."""
    if not header:
        return None
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = tag.strip()[:2].lower()
        if code in LANGUAGES and quality > 0:
            ranked.append((quality, code))
    return max(ranked, key=lambda item: item[0])[1] if ranked else None


class Translator:
    """`t("key", name=…)`: the text in the page's language, Slovenian where it lacks one."""

    def __init__(self, texts: Texts, language: str) -> None:
        self.texts = texts
        self.language = language if language in texts else DEFAULT

    def __call__(self, key: str, **values: object) -> str:
        text = self.texts[self.language].get(key) or self.texts[DEFAULT][key]
        return text.format(**values) if values else text

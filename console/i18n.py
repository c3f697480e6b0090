"""The console's words: one JSON catalogue per language (i18n/en.json, i18n/zh-Hant.json), the same keys in each."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request

from console.session import LANG_COOKIE

FOLDER = Path(__file__).parent / "i18n"
LANGUAGES = ("en", "zh-Hant")
DEFAULT = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    return json.loads((FOLDER / f"{language}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def language_of(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen  # type: ignore[return-value]
    accept = request.headers.get("accept-language", "").lower()
    return "zh-Hant" if accept.startswith(("zh-hk", "zh-tw", "zh-hant")) else DEFAULT


class Translator:
    """`t("key", n=3)`: the label in the request's language, `{n}` placeholders filled in."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.words = catalogue(language)

    def __call__(self, key: str, **values: object) -> str:
        text = self.words.get(key) or catalogue(DEFAULT).get(key) or key
        return text.format(**values) if values else text

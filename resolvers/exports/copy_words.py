"""The words of a person's copy (`index.html`): one catalogue per language (copy_text/en.json, zh-Hant.json, the
same keys in each) and how values are written for a layperson: dates and times in the workspace's time zone
("3 Dec 2026 14:05" / "2026年12月3日 14:05"), Yes/No, codes as plain labels, lists joined as a sentence."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

FOLDER = Path(__file__).parent / "copy_text"
CATALOGUES = {"EN": "en", "ZH": "zh-Hant"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ZONES = {"Asia/Hong_Kong": ("Hong Kong", "香港")}


@cache
def catalogue(language: str) -> dict[str, str]:
    name = CATALOGUES.get(language, "en")
    return json.loads((FOLDER / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


class Words:
    def __init__(self, language: str, zone: ZoneInfo) -> None:
        self.language = "ZH" if language == "ZH" else "EN"
        self.zh = self.language == "ZH"
        self.zone = zone
        self._text = catalogue(self.language)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._text.get(key, key)
        return text.format(**values) if values else text

    def get(self, key: str) -> str | None:
        return self._text.get(key)

    def entries(self, prefix: str) -> list[tuple[str, str]]:
        """(key without the prefix, text) of every catalogue entry under `prefix`, in catalogue order."""
        return [(k.removeprefix(prefix), v) for k, v in self._text.items() if k.startswith(prefix)]

    def code(self, group: str, value: Any) -> str:
        return self._text.get(f"code.{group}.{value}", str(value))

    def field(self, name: str) -> str:
        return self._text.get(f"field.{name}", name)

    def noun(self, name: str) -> str:
        return self._text.get(f"noun.{name}") or self._text.get(f"field.{name}", name)

    @property
    def zone_name(self) -> str:
        key = getattr(self.zone, "key", str(self.zone))
        names = ZONES.get(key)
        return key if names is None else names[1 if self.zh else 0]

    def date(self, value: Any) -> str:
        day = _as_date(value)
        if day is None:
            return self.plain(value)
        return f"{day.year}年{day.month}月{day.day}日" if self.zh else f"{day.day} {MONTHS[day.month - 1]} {day.year}"

    def time(self, value: Any) -> str:
        at = _as_datetime(value)
        if at is None:
            return self.plain(value)
        local = at.astimezone(self.zone)
        return f"{self.date(local)} {local:%H:%M}"

    def yes_no(self, value: bool) -> str:
        return self("text.yes") if value else self("text.no")

    def join(self, items: Sequence[str]) -> str:
        items = [i for i in items if i]
        if len(items) <= 1:
            return "".join(items)
        return self("text.list_sep").join(items[:-1]) + self("text.list_and") + items[-1]

    def plain(self, value: Any) -> str:
        """Any value as text, without quotes or codes."""
        if value is None or value == "" or value == [] or value == {}:
            return self("text.empty")
        if isinstance(value, bool):
            return self.yes_no(value)
        if isinstance(value, datetime):
            return self.time(value)
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, int | float):
            return f"{value:,}"
        if isinstance(value, list | tuple):
            return self("text.list_sep").join(self.plain(v) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{k}: {self.plain(v)}" for k, v in value.items())
        return str(value)

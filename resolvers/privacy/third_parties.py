"""Leaving other people out of a person's data-access copy (PDPO s.20(2)): in activity text, e-mail addresses,
phone numbers and HKIDs that are not the person's own, and the full names of other contacts of the workspace,
are replaced by a placeholder.

Names are found in two steps: candidate "Given Family" (and three-word) sequences are collected from the
text, then looked up among the workspace's other contacts (either name order). Single-word mentions and
names written without spaces (e.g. Chinese characters) are not detected.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s-]?)?\d{4}[\s-]?\d{4}(?!\w)")
HKID_RE = re.compile(r"\b[A-Z]{1,2}\d{6}\s?\(?[0-9A]\)?")
WORD = r"[A-Z][a-z]+(?:[-'][A-Za-z]+)?"
NAME_RE = re.compile(rf"\b{WORD}(?:\s+{WORD}){{1,2}}\b")
MAX_CANDIDATES = 50_000
PLACEHOLDER = {"EN": "[another person]", "ZH": "[其他人士]"}


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _hkid(value: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", value.upper())


def candidates(texts: Iterable[str | None], into: set[str]) -> None:
    """Add the lower-cased two- and three-word capitalised sequences of `texts` to `into`."""
    for text in texts:
        if not text or len(into) >= MAX_CANDIDATES:
            continue
        for match in NAME_RE.finditer(text):
            words = match.group(0).split()
            for i in range(len(words) - 1):
                into.add(f"{words[i]} {words[i + 1]}".lower())
            if len(words) == 3:
                into.add(" ".join(words).lower())


async def other_names(session: AsyncSession, contact_ids: Sequence[uuid.UUID], found: set[str]) -> set[str]:
    """Which candidates are full names of other contacts (either order)."""
    if not found:
        return set()
    first, last = func.lower(Contact.first_name), func.lower(Contact.last_name)
    given_family, family_given = first + " " + last, last + " " + first
    wanted = list(found)
    rows = await session.execute(
        select(given_family, family_given).where(
            Contact.id.not_in(list(contact_ids)),
            Contact.first_name.is_not(None),
            Contact.last_name.is_not(None),
            or_(given_family.in_(wanted), family_given.in_(wanted)),
        )
    )
    return {name for row in rows for name in row if name in found}


class Redactor:
    def __init__(self, owns: Iterable[dict[str, str | None]], names: set[str], language: str) -> None:
        """`owns`: the identifiers of each of the person's own records (kept), `names`: other people's."""
        owns = list(owns)
        self._emails = {(o.get("email") or "").lower() for o in owns} - {""}
        self._phones = {_digits(o.get("phone") or "")[-8:] for o in owns} - {""}
        self._hkids = {_hkid(o.get("hkid") or "") for o in owns} - {""}
        pairs = [(o.get("firstName"), o.get("lastName")) for o in owns]
        self._own_names = {" ".join(filter(None, p)).lower() for pair in pairs for p in (pair, pair[::-1])}
        self._names = names - self._own_names
        self.placeholder = PLACEHOLDER.get(language, PLACEHOLDER["EN"])
        self.redactions = 0

    def _sub(self, keep: set[str], norm: Callable[[str], str]) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            if norm(match.group(0)) in keep:
                return match.group(0)
            self.redactions += 1
            return self.placeholder

        return replace

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        value = EMAIL_RE.sub(self._sub(self._emails, str.lower), value)
        value = HKID_RE.sub(self._sub(self._hkids, _hkid), value)
        value = PHONE_RE.sub(self._sub(self._phones, lambda v: _digits(v)[-8:]), value)
        if self._names:
            value = NAME_RE.sub(self._names_in, value)
        return value

    def _names_in(self, match: re.Match[str]) -> str:
        text = match.group(0)
        words = text.split()
        spans = [" ".join(words[i:j]) for i in range(len(words)) for j in range(len(words), i + 1, -1)]
        for span in spans:
            if span.lower() in self._names:
                self.redactions += 1
                return text.replace(span, self.placeholder, 1)
        return text

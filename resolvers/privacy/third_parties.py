"""Leaving other people out of a person's data-access copy (PDPO s.20(2)): in free text (activity subjects and
bodies, notes, free-text custom fields and their history), e-mail addresses, phone numbers and HKIDs that are
not the person's own, and the names of other people the workspace knows (its other contacts and its users), are
replaced by a placeholder. What is left that still looks like a name is listed for the operator to review
before the copy is released (`review_candidates`).

Names are found in two steps: candidates are collected from the text (capitalised "Given Family" and three-word
sequences; runs of 2-4 Chinese characters), then looked up among the workspace's other contacts (either name
order, with or without a space) and users (display name). Single-word Latin mentions are not detected.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact, User

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s-]?)?\d{4}[\s-]?\d{4}(?!\w)")
HKID_RE = re.compile(r"\b[A-Z]{1,2}\d{6}\s?\(?[0-9A]\)?")
WORD = r"[A-Z][a-z]+(?:[-'][A-Za-z]+)?"
NAME_RE = re.compile(rf"\b{WORD}(?:\s+{WORD}){{1,2}}\b")
HAN = "\u3400-\u4dbf\u4e00-\u9fff"
HAN_RUN = re.compile(f"[{HAN}]{{2,}}")
# The commonest family names in Hong Kong: a Chinese-name candidate starts with one of them.
SURNAMES = frozenset("陳李張黃王何林吳劉蔡楊梁鄭謝郭曾羅周葉徐蘇馮許鄧朱盧潘馬胡袁麥彭余莫鍾關杜簡區江譚鄺趙孫曹高伍"
                     "范方姚廖施溫蕭鄒湯石岑容歐司")
MAX_CANDIDATES = 50_000
MAX_REVIEW = 500
PLACEHOLDER = {"EN": "[another person]", "ZH": "[其他人士]"}


_NOT_DIGIT = re.compile(r"\D")
_NOT_HKID = re.compile(r"[^A-Z0-9]")
_HAN_CHAR = re.compile(f"[{HAN}]")


def _digits(value: str) -> str:
    return _NOT_DIGIT.sub("", value)


def _hkid(value: str) -> str:
    return _NOT_HKID.sub("", value.upper())


def is_han(name: str) -> bool:
    return _HAN_CHAR.search(name) is not None


def candidates(texts: Iterable[str | None], into: set[str]) -> None:
    """Add to `into` what may be a name in `texts`: the lower-cased two- and three-word capitalised sequences,
    and every 2-4 character part of a run of Chinese characters."""
    for text in texts:
        if not text or len(into) >= MAX_CANDIDATES:
            continue
        for match in NAME_RE.finditer(text):
            words = match.group(0).split()
            for i in range(len(words) - 1):
                into.add(f"{words[i]} {words[i + 1]}".lower())
            if len(words) == 3:
                into.add(" ".join(words).lower())
        for run in HAN_RUN.finditer(text):
            chars = run.group(0)
            into.update(chars[i:i + n] for i in range(len(chars)) for n in (2, 3, 4) if i + n <= len(chars))


async def other_names(session: AsyncSession, contact_ids: Sequence[uuid.UUID], found: set[str]) -> set[str]:
    """Which candidates are names of other people the workspace knows: the full names of its other contacts
    (either order; Chinese names also without a space) and the display names of its users."""
    if not found:
        return set()
    first, last = func.lower(Contact.first_name), func.lower(Contact.last_name)
    forms = (first + " " + last, last + " " + first, func.concat(last, first), func.concat(first, last))
    wanted = list(found)
    rows = await session.execute(
        select(*forms).where(
            Contact.id.not_in(list(contact_ids)),
            Contact.first_name.is_not(None),
            Contact.last_name.is_not(None),
            or_(*(form.in_(wanted) for form in forms)),
        )
    )
    names = {name for row in rows for name in row if name in found}
    users = await session.execute(select(func.lower(User.display_name)).where(func.lower(User.display_name)
                                                                               .in_(wanted)))
    names.update(users.scalars())
    # Latin forms without a space ("peterlee") are not names anyone writes.
    return {n for n in names if " " in n or is_han(n)}


def own_names(owns: Iterable[dict[str, str | None]]) -> set[str]:
    """The person's own names (lower case) in every form other_names looks for."""
    out: set[str] = set()
    for o in owns:
        first, last = (o.get("firstName") or "").strip(), (o.get("lastName") or "").strip()
        if first and last:
            out.update({f"{first} {last}".lower(), f"{last} {first}".lower()})
            if is_han(first + last):
                out.update({last + first, first + last})
        for part in (first, last):
            if part and is_han(part) and len(part) > 1:
                out.add(part)
    return out


class Redactor:
    def __init__(self, owns: Iterable[dict[str, str | None]], names: set[str], language: str,
                 chosen: Sequence[str] = ()) -> None:
        """`owns`: the identifiers of each of the person's own records (kept), `names`: other people's known to
        the workspace, `chosen`: names the operator chose to replace after reviewing the first copy."""
        owns = list(owns)
        self._emails = {(o.get("email") or "").lower() for o in owns} - {""}
        self._phones = {_digits(o.get("phone") or "")[-8:] for o in owns} - {""}
        self._hkids = {_hkid(o.get("hkid") or "") for o in owns} - {""}
        self.own_names = own_names(owns)
        self._names = {n for n in names - self.own_names if not is_han(n)}
        han = sorted((n for n in names - self.own_names if is_han(n)), key=len, reverse=True)
        self._han = re.compile("|".join(map(re.escape, han))) if han else None
        words = sorted({c.strip() for c in chosen if c.strip()}, key=len, reverse=True)
        self._chosen = re.compile("|".join(rf"(?<!\w){re.escape(c)}(?!\w)" for c in words), re.IGNORECASE) \
            if words else None
        self.placeholder = PLACEHOLDER.get(language, PLACEHOLDER["EN"])
        self.redactions = 0
        # the replacers of the person's own identifiers, made once: `text` runs for every free-text value
        self._own_email = self._sub(self._emails, str.lower)
        self._own_hkid = self._sub(self._hkids, _hkid)
        self._own_phone = self._sub(self._phones, lambda v: _digits(v)[-8:])

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
        value = EMAIL_RE.sub(self._own_email, value)
        value = HKID_RE.sub(self._own_hkid, value)
        value = PHONE_RE.sub(self._own_phone, value)
        if self._names:
            value = NAME_RE.sub(self._names_in, value)
        if self._han is not None:
            value = self._han.sub(self._han_name, value)
        if self._chosen is not None:
            value = self._chosen.sub(self._han_name, value)
        return value

    def _han_name(self, match: re.Match[str]) -> str:  # a whole match is a name
        self.redactions += 1
        return self.placeholder

    def _names_in(self, match: re.Match[str]) -> str:
        text = match.group(0)
        words = text.split()
        spans = [" ".join(words[i:j]) for i in range(len(words)) for j in range(len(words), i + 1, -1)]
        for span in spans:
            if span.lower() in self._names:
                self.redactions += 1
                return text.replace(span, self.placeholder, 1)
        return text


def review_candidates(texts: Iterable[str | None], own: set[str]) -> list[str]:
    """What still looks like someone's name in (already redacted) `texts`, for the operator to check before the
    copy is released: capitalised two- and three-word sequences and Chinese names (a common family name and
    up to two more characters) that are not the person's own. Over-inclusive on purpose."""
    seen: dict[str, None] = {}
    own_han = sorted((n for n in own if is_han(n)), key=len, reverse=True)
    own_han_re = re.compile("|".join(map(re.escape, own_han))) if own_han else None
    for text in texts:
        if not text or len(seen) >= MAX_REVIEW:
            continue
        for match in NAME_RE.finditer(text):
            words = match.group(0).split()
            spans = {" ".join(words[i:j]).lower() for i in range(len(words)) for j in range(i + 2, len(words) + 1)}
            if not spans & own:
                seen.setdefault(match.group(0))
        for run in HAN_RUN.finditer(text):
            chars = own_han_re.sub(" ", run.group(0)) if own_han_re is not None else run.group(0)
            for part in chars.split():
                i = 0
                while i < len(part) - 1:
                    if part[i] in SURNAMES:
                        seen.setdefault(part[i:i + 3])
                        i += 3
                    else:
                        i += 1
    return list(seen)[:MAX_REVIEW]

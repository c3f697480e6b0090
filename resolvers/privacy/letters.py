"""Reply letters to a data request, written in English and Traditional Chinese and stored on the request.

Kinds: ACCESS_REPLY (s.19(1): the copy is supplied), NO_DATA_HELD (s.19(1)(a): a request naming no record: "we
hold no personal data about you"), CORRECTION_REPLY (s.23(1)), PARTIAL_COMPLIANCE (s.19(2) notice) and
REFUSAL (s.21 for access, s.25 for correction, with the ground from `refusal_grounds`). `fulfilment` writes
them when the request is answered; each letter names the business and its data protection officer from the
workspace settings, and gives dates in the workspace's time zone.

Rendered by a Jinja2 template with autoescape (the requester's name and the operator's reasons are text, never
markup); the plain-text version is built from the same parts. A letter holds the requester's name: reading its
text or HTML is audited as a READ of the request's `requesterName`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import DataRequest
from resolvers.errors import NotFound
from resolvers.privacy import data_requests, letter_text, refusal_grounds
from resolvers.runtime import Caller
from resolvers.workspaces import settings as workspace_settings

KINDS = ("ACCESS_REPLY", "NO_DATA_HELD", "CORRECTION_REPLY", "PARTIAL_COMPLIANCE", "REFUSAL")
LANGUAGES = ("EN", "ZH")
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Letter:
    id: uuid.UUID
    kind: str
    language: str
    created_at: datetime
    text: str
    html: str

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "kind": self.kind, "language": self.language,
                "createdAt": self.created_at.isoformat(), "text": self.text, "html": self.html}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Letter:
        return cls(uuid.UUID(data["id"]), data["kind"], data["language"], datetime.fromisoformat(data["createdAt"]),
                   data["text"], data["html"])


def _date(at: datetime, settings: workspace_settings.Settings, language: str) -> str:
    local = settings.local(at)
    if language == "ZH":
        return f"{local.year}年{local.month}月{local.day}日"
    return f"{local.day} {local:%B %Y}"


def _parts(request: DataRequest, settings: workspace_settings.Settings, kind: str, language: str,
           now: datetime) -> dict[str, Any]:
    t = letter_text.TEXT[language]
    received = _date(request.received_at, settings, language)
    what = t[f"request.{request.kind}"]
    paragraphs: list[str] = []
    notice_section = letter_text.NOTICE_SECTION.get(request.kind)
    under = t["under"].format(section=letter_text.section(notice_section, language)) if notice_section else ""
    if kind == "ACCESS_REPLY":
        paragraphs.append(t["access.body"].format(received=received))
        if request.delivery_method and request.delivered_at:
            paragraphs.append(t["access.delivered"].format(method=request.delivery_method,
                                                           delivered=_date(request.delivered_at, settings, language)))
        paragraphs.append(t["access.copy"])
    elif kind == "NO_DATA_HELD":
        paragraphs.append(t["nodata.body"].format(received=received))
    elif kind == "CORRECTION_REPLY":
        paragraphs.append(t["correction.body"].format(received=received, correction=request.correction or ""))
        paragraphs.append(t["correction.passed_on"])
    elif kind == "PARTIAL_COMPLIANCE":
        paragraphs.append(t["partial.body"].format(received=received, request=what, notice=request.partial_notice))
        paragraphs.append(t["partial.rest"])
    else:  # REFUSAL
        ground = refusal_grounds.GROUNDS[request.refusal_ground or ""]
        section = letter_text.section(refusal_grounds.citation(ground, request.kind), language)
        paragraphs.append(t["refusal.body"].format(received=received, request=what, section=section,
                                                   ground=ground.en if language == "EN" else ground.zh))
        if request.refusal_reason:
            paragraphs.append(t["refusal.reason"].format(reason=request.refusal_reason))
        if ground.code == "CONTROLLED_BY_ANOTHER_DATA_USER":
            paragraphs.append(t["refusal.other_user"])
        paragraphs.append(t["complaint"])
    contact = [t["questions"]]
    if settings.dpo_name:
        contact.append(t["dpo.name"].format(name=settings.dpo_name))
    for key, value in (("email", settings.dpo_email), ("phone", settings.dpo_phone_display),
                       ("address", settings.dpo_address)):
        if value:
            contact.append(t[f"dpo.{key}"].format(**{key: value}))
    if len(contact) == 1:
        contact.append(t["dpo.missing"])
    return {
        "lang": "en" if language == "EN" else "zh-Hant",
        "title": t["title"].format(business=settings.business_name),
        "business": settings.business_name,
        "meta": [t["date"].format(date=_date(now, settings, language)), t["to"].format(name=request.requester_name),
                 t["ref"].format(ref=str(request.id)[:8].upper(), received=received)],
        "greeting": t["dear"].format(name=request.requester_name),
        "subject": t[f"subject.{kind}"].format(request=what, under=under),
        "paragraphs": paragraphs,
        "contact": contact,
        "signoff": t["signoff"],
        "signer": t["signer"].format(business=settings.business_name),
    }


def render(request: DataRequest, settings: workspace_settings.Settings, kind: str, language: str,
           now: datetime) -> Letter:
    parts = _parts(request, settings, kind, language, now)
    html = _ENV.get_template("letter.html").render(**parts)
    lines = [parts["business"], "", *parts["meta"], "", parts["greeting"], "", parts["subject"], ""]
    for paragraph in parts["paragraphs"]:
        lines += [paragraph, ""]
    lines += [*parts["contact"], "", parts["signoff"], parts["signer"]]
    return Letter(uuid.uuid4(), kind, language, now, "\n".join(lines) + "\n", html)


async def write(session: AsyncSession, caller: Caller, request: DataRequest, kind: str) -> list[Letter]:
    """The letter in both languages, appended to the request's letters (the request's own language first)."""
    settings = await workspace_settings.load(session, caller.tenant.name)
    now = caller.runtime.now()
    languages = sorted(LANGUAGES, key=lambda lang: lang != request.language)
    new = [render(request, settings, kind, language, now) for language in languages]
    request.letters = [*(request.letters or []), *(letter.to_json() for letter in new)]
    await session.flush()
    caller.audit.event("CREATE", entity_type="data_request_letter", entity_id=str(request.id),
                       details={"kind": kind, "letterIds": [str(letter.id) for letter in new]})
    return new


def stored(request: DataRequest, language: str | None = None) -> list[Letter]:
    letters = [Letter.from_json(d) for d in request.letters or []]
    return [letter for letter in letters if language is None or letter.language == language]


def find(request: DataRequest, letter_id: uuid.UUID) -> Letter:
    for letter in stored(request):
        if letter.id == letter_id:
            return letter
    raise NotFound("no such letter")


async def download(session: AsyncSession, caller: Caller, request_id: uuid.UUID, letter_id: uuid.UUID) -> Letter:
    """One letter of a request the caller may see (`data_request read`); audited as a READ of the requester's name
    and an EXPORT of the letter (it leaves the CRM as a file)."""
    request = await data_requests.get(session, caller, request_id)
    letter = find(request, letter_id)
    data_requests.audit_requester(caller, [request], ["requesterName"])
    caller.audit.event("EXPORT", entity_type="data_request", entity_id=str(request.id),
                       details={"letter": str(letter.id), "kind": letter.kind, "language": letter.language})
    return letter

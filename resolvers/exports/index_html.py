"""`index.html` of a data-access copy, the page a layperson reads: the business and whom to ask, the copy's date,
every record of the person with plain labels, consents, requests, every message and activity in time order,
the history of changes, who accessed the data and when (in sentences), the files of the archive (attachments
linked inside the ZIP) and what each code in the JSON files means. English or Traditional Chinese (PDPO
s.19(3)(c): the language of the request), times in the workspace's time zone, print CSS, no scripts. Rendered
by a Jinja2 template with autoescape: every value is HTML-escaped (a note may hold `<script>`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from authz.fields import FieldRegistry, FieldSpec
from resolvers.exports.copy_words import Words
from resolvers.workspaces.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
HK_PHONE = re.compile(r"\+852(\d{4})(\d{4})")
TIME_FIELDS = frozenset({"createdAt", "updatedAt", "lastActivityAt", "anonymisedAt", "archivedAt", "occurredAt",
                         "grantedAt", "withdrawnAt", "expiresAt", "receivedAt", "dueAt", "fulfilledAt"})
DATE_FIELDS = frozenset({"dateOfBirth"})
STAFF_FIELDS = frozenset({"ownerId", "owner", "authorId"})
TEAM_FIELDS = frozenset({"teamId", "team"})
# Shown elsewhere on the page, or a masked duplicate of a value shown in full.
NOT_IN_DETAILS = frozenset({"customFields", "consents", "dataRequests", "withheld", "otherRecords",
                            "dateOfBirthMasked", "salaryMasked", "correctionPending"})
FILES = ("contact.json", "activities.json", "history.json", "audit.json", "attachments/")
CODE_GROUPS = ("stage", "kind", "purpose", "action", "actorKind", "status", "dataRequestKind")


@dataclass
class CopyData:
    """Everything the page shows, gathered by contact_copy.build (free text already redacted)."""

    language: str
    settings: Settings
    made_at: datetime
    records: list[dict[str, Any]]  # the named record first
    consents: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    activities: list[dict[str, Any]]
    history: list[dict[str, Any]]  # with `actorId`
    audit: list[dict[str, Any]] | None  # None: the requester may not read the audit log
    staff: Mapping[uuid.UUID, str] = field(default_factory=dict)  # user id -> display name
    staff_roles: Mapping[uuid.UUID, Sequence[str]] = field(default_factory=dict)
    teams: Mapping[uuid.UUID, str] = field(default_factory=dict)
    api_keys: Mapping[uuid.UUID, str] = field(default_factory=dict)
    counts: Mapping[str, int] = field(default_factory=dict)
    files: Sequence[str] = ()


# The page's activities as objects, not dicts: the template reads a dozen attributes of each, and Jinja2 looks an
# attribute up with getattr first (for a dict, an AttributeError before the item is found: a tenth of a 10,000
# activity copy's time went there).
@dataclass(frozen=True, slots=True)
class AttachmentItem:
    name: str
    href: str  # the file inside the ZIP, or "" when it is not in it
    size: str


@dataclass(frozen=True, slots=True)
class ActivityItem:
    when: str
    kind: str
    record: str
    subject: str
    body: str
    private: bool
    by: str
    amount: str
    attachments: list[AttachmentItem]


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def phone(value: str) -> str:
    """A Hong Kong number as people write it (+852 9123 4567); others as stored (E.164)."""
    match = HK_PHONE.fullmatch(value)
    return f"+852 {match.group(1)} {match.group(2)}" if match else value


def _uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class _Page:
    def __init__(self, data: CopyData, registry: FieldRegistry) -> None:
        self.d = data
        self.w = Words(data.language, data.settings.zone)
        self.custom: dict[str, FieldSpec] = {s.name: s for s in registry.custom("contact")}
        self.numbers = {r["id"]: i + 1 for i, r in enumerate(data.records)}
        self.several = len(data.records) > 1

    def staff_name(self, value: Any) -> str:
        user = _uuid(value)
        if value is None:
            return self.w("text.empty")
        return self.d.staff.get(user, self.w("text.unknown_user")) if user else str(value)

    def value(self, name: str, value: Any) -> str:
        w = self.w
        if value is None or value == "":
            return w("text.empty")
        if name in STAFF_FIELDS:
            return self.staff_name(value)
        if name in TEAM_FIELDS:
            team = _uuid(value)
            return self.d.teams.get(team, w("text.empty")) if team else str(value)
        if name == "phone" and isinstance(value, str):
            return phone(value)
        if name == "stage":
            return w.code("stage", value)
        if name == "kind":
            return w.code("kind", value)
        if name in TIME_FIELDS:
            return w.time(value)
        if name in DATE_FIELDS:
            return w.date(value)
        if name == "amount" and isinstance(value, int):
            return f"HK$ {value / 100:,.2f}"
        if name == "salary" and isinstance(value, int):
            return f"HK$ {value:,}"
        spec = self.custom.get(name.removeprefix("customFields."))
        if spec is not None and spec.type == "Date":
            return w.date(value)
        return w.plain(value)

    def label(self, name: str) -> str:
        spec = self.custom.get(name.removeprefix("customFields."))
        if name.startswith("customFields.") or (spec is not None and self.w.get(f"field.{name}") is None):
            return (spec.purpose or spec.name) if spec is not None else name.removeprefix("customFields.")
        return self.w.field(name)

    def record_of(self, item: Mapping[str, Any]) -> str:
        number = self.numbers.get(item.get("contactId"), 1)
        return self.w("text.record", n=number) if self.several else ""

    def records(self) -> list[dict[str, Any]]:
        out = []
        for i, record in enumerate(self.d.records):
            rows = [(self.label(k), self.value(k, v)) for k, v in record.items()
                    if k not in NOT_IN_DETAILS and v is not None and v != ""]
            values = record.get("customFields") or {}
            custom = [(s.purpose or s.name, self.value(f"customFields.{n}", values.get(n)))
                      for n, s in sorted(self.custom.items()) if values.get(n) not in (None, "")]
            custom += [(n, self.w.plain(v)) for n, v in sorted(values.items()) if n not in self.custom]
            withheld = record.get("withheld")
            out.append({"title": self.w("text.record", n=i + 1) if self.several else "", "rows": rows,
                        "custom": custom, "correction": bool(record.get("correctionPending")),
                        "withheld": self.w("text.withheld", items=self.w.join([self.label(f) for f in withheld]))
                        if withheld else ""})
        return out

    def consents(self) -> list[list[str]]:
        w = self.w
        return [[self.record_of(c), w.code("purpose", c["purpose"]), w.yes_no(bool(c["granted"])),
                 w.plain(c.get("source")), w.time(c["grantedAt"]) if c.get("grantedAt") else w("text.empty"),
                 w.time(c["withdrawnAt"]) if c.get("withdrawnAt") else w("text.empty")] for c in self.d.consents]

    def requests(self) -> list[list[str]]:
        w = self.w
        return [[w.code("dataRequestKind", r["kind"]), w.code("status", r["status"]), self.value("receivedAt",
                 r.get("receivedAt")), self.value("dueAt", r.get("dueAt")), self.value("fulfilledAt",
                 r.get("fulfilledAt"))] for r in self.d.requests]

    def activities(self) -> list[ActivityItem]:
        rows = sorted(self.d.activities, key=lambda a: (str(a.get("occurredAt") or ""), str(a["id"])))
        present = set(self.d.files)
        return [ActivityItem(when=self.value("occurredAt", a.get("occurredAt")), kind=self.w.code("kind", a["kind"]),
                             record=self.record_of(a), subject=a.get("subject") or "", body=a.get("body") or "",
                             private=bool(a.get("private")),
                             by=self.staff_name(a["authorId"]) if a.get("authorId") else "",
                             amount=self.value("amount", a["amount"]) if a.get("amount") is not None else "",
                             attachments=[AttachmentItem(name=f["filename"],
                                                         href=f["file"] if f["file"] in present else "",
                                                         size=f"{int(f['sizeBytes'] or 0):,}")
                                          for f in a.get("attachments") or []])
                for a in rows]

    def actor(self, kind: str, actor_id: Any) -> str:
        w = self.w
        if kind == "user":
            name = self.staff_name(actor_id) if actor_id else w("text.unknown_user")
            roles = [w.get(f"role.{r}") or r for r in self.d.staff_roles.get(_uuid(actor_id) or uuid.UUID(int=0), ())]
            return w("text.with_role", name=name, roles=w("text.list_sep").join(roles)) if roles else name
        if kind == "api_key" and _uuid(actor_id) in self.d.api_keys:
            return w("text.with_role", name=w.code("actorKind", kind), roles=self.d.api_keys[_uuid(actor_id)])  # type: ignore[index]
        return w.code("actorKind", kind)

    def history(self) -> list[list[str]]:
        w = self.w
        out = []
        for h in self.d.history:
            name = h["field"]
            withheld = w("text.not_included")
            old = withheld if h.get("withheld") and h.get("oldValue") is None else self.value(name, h.get("oldValue"))
            new = withheld if h.get("withheld") and h.get("newValue") is None else self.value(name, h.get("newValue"))
            out.append([self.record_of(h), self.value("occurredAt", h["occurredAt"]), self.label(name), old, new,
                        self.actor(h["changedBy"], h.get("actorId"))])
        return out

    def noun(self, name: str) -> str:
        """A field inside a sentence: "phone number", "consent (Marketing by e-mail)", "message subjects"."""
        w = self.w
        head, _, rest = name.partition(".")
        if rest and head == "consents":
            return w("text.consent_for", purpose=w.code("purpose", rest))
        if rest and head == "customFields":
            return self.label(name)
        if rest and w.get(f"noun.{name}"):
            return w(f"noun.{name}")
        name = rest or name
        return w.noun(name) if w.get(f"noun.{name}") or w.get(f"field.{name}") else self.label(name)

    def sentence(self, event: Mapping[str, Any]) -> str:
        w = self.w
        fields = w.join([self.noun(f) for f in event.get("fields") or []])
        if event.get("entityType") == "activity":
            obj = w("text.of_activity_fields", fields=fields) if fields else w("text.of_activity")
        else:
            obj = w("text.of_fields", fields=fields) if fields else w("text.of_record")
        action = event["action"]
        if action == "EXPORT" and event["actorKind"] == "link":
            action = "DOWNLOAD"  # the holder of a copy's link fetched it
        template = f"audit.{action}" if w.get(f"audit.{action}") else "audit.OTHER"
        return w(template, actor=self.actor(event["actorKind"], event.get("actorId")), object=obj,
                 when=w.time(event["occurredAt"]), action=w.code("action", action))

    def files(self) -> list[list[str]]:
        counted = {"contact.json": len(self.d.records), "activities.json": self.d.counts.get("activities", 0),
                   "history.json": self.d.counts.get("history", 0), "audit.json": self.d.counts.get("audit", 0),
                   "attachments/": self.d.counts.get("attachments", 0)}
        names = set(self.d.files)
        listed = [n for n in FILES if n in names or (n == "attachments/" and any(f.startswith(n) for f in names))]
        return [[self.w(f"file.{n}"), n, str(counted[n])] for n in listed]

    def glossary(self) -> tuple[list[tuple[str, str]], list[tuple[str, list[tuple[str, str]]]]]:
        w = self.w
        fields = [(text, code) for code, text in w.entries("field.")]
        fields += [(s.purpose or s.name, f"customFields.{s.name}") for s in self.custom.values()]
        groups = []
        for group in CODE_GROUPS:
            prefix = f"code.{group}."
            groups.append((w.field(group) if group != "dataRequestKind" else w("text.requests"),
                           [(text, code) for code, text in w.entries(prefix)]))
        return fields, groups

    def context(self) -> dict[str, Any]:
        w, s = self.w, self.d.settings
        dpo = [line for line in (s.dpo_name or w("text.dpo_unknown"), s.dpo_email,
                                 phone(s.dpo_phone) if s.dpo_phone else None, s.dpo_address) if line]
        fields, groups = self.glossary()
        return {
            "w": w, "lang": "zh-Hant-HK" if w.zh else "en", "business": s.business_name,
            "made": w("text.made", date=w.date(self.d.made_at.astimezone(s.zone))),
            "intro": w("text.intro", business=s.business_name, date=w.date(self.d.made_at.astimezone(s.zone))),
            "times": w("text.times", zone=w.zone_name), "dpo": dpo,
            "several": w("text.several", count=len(self.d.records)) if self.several else "",
            "records": self.records(), "show_record": self.several, "consents": self.consents(),
            "requests": self.requests(), "activities": self.activities(), "history": self.history(),
            "access": None if self.d.audit is None else [self.sentence(e) for e in self.d.audit],
            "files": self.files(), "glossary_fields": fields, "glossary_codes": groups,
        }


def render(data: CopyData, registry: FieldRegistry) -> str:
    return _environment().get_template("index.html").render(_Page(data, registry).context())

"""Finding a person: contacts by name, e-mail, phone or HKID through the contacts resolver (scoped, projected)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from resolvers.contacts import contacts
from resolvers.projection import Record, Selection
from resolvers.runtime import Caller

FIELDS = ("firstName", "lastName", "email", "phone", "hkid", "company")
SELECTION = Selection(frozenset(FIELDS))
BY = ("name", "email", "phone", "hkid")


def person(record: Record) -> dict[str, Any]:
    """A contact as the resolver projected it (masked or denied values as they are), as plain values."""
    values = {name: record.get(name) for name in FIELDS}
    values["id"] = str(record.id)
    values["name"] = " ".join(v for v in (record.get("firstName"), record.get("lastName")) if v) or "—"
    return values


async def find(session: AsyncSession, caller: Caller, by: str, text: str, first: int = 20) -> list[dict[str, Any]]:
    """Up to `first` visible contacts matching `text` on `by` (name and company, or an exact e-mail, phone, HKID)."""
    key = "search" if by not in BY or by == "name" else by
    flt = contacts.ContactFilter(
        search=text if key == "search" else None,
        email=text if key == "email" else None,
        phone=text if key == "phone" else None,
        hkid=text if key == "hkid" else None,
    )
    found = await contacts.list_contacts(
        session, caller, first=first, after=None, flt=flt, order=None, selection=SELECTION, want_total=False
    )
    return [person(r) for r in found.items]


async def one(session: AsyncSession, caller: Caller, contact_id: uuid.UUID) -> dict[str, Any] | None:
    found = (await contacts.contacts_by_ids(session, caller, [contact_id], SELECTION))[0]
    return None if found is None else person(found)

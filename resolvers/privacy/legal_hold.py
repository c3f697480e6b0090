"""Legal hold: a contact under hold is left alone by retention and cannot be erased until the hold is released.

Placing or releasing a hold needs `retention_policy` `write` (admins by default) and a reason; it is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Contact
from resolvers.errors import BadInput, NotFound
from resolvers.privacy import data_requests
from resolvers.runtime import Caller


async def set_hold(session: AsyncSession, caller: Caller, contact_id: uuid.UUID, hold: bool, reason: str) -> uuid.UUID:
    access = caller.access
    visible = select(Contact.legal_hold).where(access.record_filter("contact"), Contact.id == contact_id)
    current = (await session.execute(visible)).scalar_one_or_none()
    if current is None:
        raise NotFound("no such contact")
    access.require(Resource.RETENTION_POLICY, Action.WRITE)
    reason = reason.strip()
    if not reason:
        raise BadInput("a legal hold needs a reason (e.g. the matter or case number)", field="reason")
    if current != hold:
        await session.execute(update(Contact).where(Contact.id == contact_id).values(legal_hold=hold))
    caller.audit.event(
        "UPDATE",
        entity_type="contact",
        entity_id=str(contact_id),
        fields=["legalHold"],
        details={"legalHold": hold, "reason": reason[:500]},
    )
    return contact_id


async def holds(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    rows = await session.execute(select(Contact.id, Contact.legal_hold).where(Contact.id.in_(contact_ids)))
    return {row.id: bool(row.legal_hold) for row in rows}


@dataclass(frozen=True)
class PrivacyFlags:
    legal_hold: bool | None  # None: the caller may not know (a hold can reveal litigation)
    correction_pending: bool


async def flags(session: AsyncSession, caller: Caller, contact_ids: list[uuid.UUID]) -> list[PrivacyFlags]:
    """Per visible contact (in key order): under legal hold, shown to those who may read retention policies;
    an OPEN CORRECTION request (its data is disputed), shown to everyone who sees the contact."""
    held = await holds(session, contact_ids) if caller.access.can(Resource.RETENTION_POLICY, Action.READ) else None
    disputed = await data_requests.correction_pending(session, contact_ids)
    return [PrivacyFlags(None if held is None else held.get(i, False), i in disputed) for i in contact_ids]

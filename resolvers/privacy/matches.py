"""Possible matches for a data request: other records that may be the same person (DPP6 covers all of them).

A contact matches when it shares an e-mail address (case-insensitive), a phone number or an HKID (through
the keyed blind index, never in clear) with a record the request names, or the requester's own e-mail.
Only fields the caller may read on every record take part (filtering by a field needs read on it), and
only contacts the caller can see are returned; erased records are left out.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact
from resolvers.privacy import data_requests
from resolvers.runtime import Caller

LIMIT = 50


async def possible_matches(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> list[uuid.UUID]:
    request = await data_requests.get(session, caller, request_id)
    named = (await data_requests.contacts_of(session, [request.id]))[0]
    emails: set[str] = {request.requester_email.lower()} if request.requester_email else set()
    phones: set[str] = set()
    hkids: set[bytes] = set()
    if named:
        for email, phone, hkid in (await session.execute(
            select(Contact.email, Contact.phone, Contact.hkid_bidx).where(Contact.id.in_(named))
        )).all():
            emails.update([email.lower()] if email else [])
            phones.update([phone] if phone else [])
            hkids.update([hkid] if hkid else [])
    readable = caller.access.readable_everywhere
    tests: list[ColumnElement[bool]] = []
    if emails and readable("contact", "email"):
        tests.append(func.lower(Contact.email).in_(emails))
    if phones and readable("contact", "phone"):
        tests.append(Contact.phone.in_(phones))
    if hkids and readable("contact", "hkid"):
        tests.append(Contact.hkid_bidx.in_(hkids))
    if not tests:
        return []
    stmt = (
        select(Contact.id)
        .where(caller.access.record_filter("contact"), Contact.anonymised_at.is_(None), or_(*tests),
               Contact.id.not_in(named) if named else Contact.id.is_not(None))
        .order_by(Contact.created_at, Contact.id)
        .limit(LIMIT)
    )
    return list((await session.execute(stmt)).scalars())

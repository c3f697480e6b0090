"""Which contacts a pending data request holds on to: erasure and retention must not destroy what an OPEN
ACCESS or CORRECTION request is about (the person would be answered with an empty copy), and an open
correction marks the contact's data as disputed in every export."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.models import DataRequest, DataRequestContact
from resolvers.errors import Conflict

HOLDING_KINDS = ("ACCESS", "CORRECTION")


def _named(
    contact_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID] | uuid.UUID, kinds: Sequence[str]
) -> ColumnElement[bool]:
    return exists(
        select(DataRequestContact.data_request_id)
        .join(DataRequest, DataRequest.id == DataRequestContact.data_request_id)
        .where(DataRequestContact.contact_id == contact_id, DataRequest.status == "OPEN", DataRequest.kind.in_(kinds))
    )


def held(contact_id: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]) -> ColumnElement[bool]:
    """SQL: the contact is named by an OPEN ACCESS or CORRECTION request (for retention's set-based runs)."""
    return _named(contact_id, HOLDING_KINDS)


async def holding(session: AsyncSession, contact_ids: Sequence[uuid.UUID],
                  kinds: Sequence[str] = HOLDING_KINDS) -> set[uuid.UUID]:
    if not contact_ids:
        return set()
    stmt = (
        select(DataRequestContact.contact_id)
        .join(DataRequest, DataRequest.id == DataRequestContact.data_request_id)
        .where(DataRequestContact.contact_id.in_(set(contact_ids)), DataRequest.status == "OPEN",
               DataRequest.kind.in_(kinds))
    )
    return set((await session.execute(stmt)).scalars())


async def refuse_if_held(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> None:
    """CONFLICT / OPEN_DATA_REQUEST while an ACCESS or CORRECTION request naming one of them is OPEN."""
    if await holding(session, contact_ids):
        raise Conflict("an access or correction request about this person is still open: answer it first",
                       detail="OPEN_DATA_REQUEST")

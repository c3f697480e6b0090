"""The records merged into a contact (`contacts.merged_into_id`): a data access request about the primary covers
them too (their audit trail, their disclosures), since they were the same person.

Merges keep the pointer flat (a record merged into a contact that is merged later points at the final
primary), so one level is the whole set."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Contact


async def merged_into(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Ids of the records merged into any of `contact_ids`, oldest first (not including them)."""
    if not contact_ids:
        return []
    stmt = (
        select(Contact.id)
        .where(Contact.merged_into_id.in_(list(contact_ids)))
        .order_by(Contact.created_at, Contact.id)
    )
    return list((await session.execute(stmt)).scalars())


async def with_merged(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """`contact_ids` followed by the records merged into them."""
    merged = [i for i in await merged_into(session, contact_ids) if i not in contact_ids]
    return [*contact_ids, *merged]

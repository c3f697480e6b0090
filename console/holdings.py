"""What an erasure will touch, for its confirmation page: per record the caller can see, how many activities and
attachments (not deleted) it holds. Counts only; the records themselves are read through the contacts resolver."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Activity, Attachment


async def counts(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """contact id -> (activities, attachments); the ids must be records the caller already saw (lookup.one)."""
    if not contact_ids:
        return {}
    activities: dict[uuid.UUID, int] = {row[0]: row[1] for row in (await session.execute(
        select(Activity.contact_id, func.count()).where(Activity.contact_id.in_(contact_ids))
        .group_by(Activity.contact_id)
    )).all()}
    attachments: dict[uuid.UUID, int] = {row[0]: row[1] for row in (await session.execute(
        select(Activity.contact_id, func.count(Attachment.id)).join(Attachment, Attachment.activity_id == Activity.id)
        .where(Activity.contact_id.in_(contact_ids), Attachment.deleted_at.is_(None)).group_by(Activity.contact_id)
    )).all()}
    return {c: (int(activities.get(c, 0)), int(attachments.get(c, 0))) for c in contact_ids}

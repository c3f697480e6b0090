"""The requester's name does not stay beside an erased record forever (DPP2): once a request is closed and its
log-book period (4 years, s.27) has passed, its requester name becomes a pseudonym ("Requester 1a2b3c4d") and
its requester e-mail is dropped, in the register and in the log book, and the reply letters (which are addressed to
the requester by name) are deleted. Part of the daily retention job;
idempotent (a pseudonymised request is not selected again)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditBuffer
from db.models import DataRequest, LogBookEntry

LOG_BOOK_PERIOD = timedelta(days=4 * 365 + 1)


def _pseudonym(request_id: object) -> object:
    return literal("Requester ") + func.left(cast(request_id, String), 8)


async def pseudonymise_requesters(session: AsyncSession, audit: AuditBuffer, now: datetime) -> int:
    cutoff = now - LOG_BOOK_PERIOD
    refused_at = select(func.max(LogBookEntry.refused_at)).where(
        LogBookEntry.data_request_id == DataRequest.id).scalar_subquery()
    closed_at = func.coalesce(DataRequest.fulfilled_at, refused_at, DataRequest.due_at)
    done = list((await session.execute(
        update(DataRequest)
        .where(DataRequest.status != "OPEN", DataRequest.requester_pseudonymised_at.is_(None), closed_at < cutoff)
        .values(requester_name=_pseudonym(DataRequest.id), requester_email=None, requester_pseudonymised_at=now,
                letters=None)
        .returning(DataRequest.id)
    )).scalars())
    await session.execute(
        update(LogBookEntry)
        .where(LogBookEntry.keep_until < now, LogBookEntry.data_request_id.is_not(None),
               LogBookEntry.requester_name.not_like("Requester %"))
        .values(requester_name=_pseudonym(LogBookEntry.data_request_id))
    )
    for request_id in done:
        audit.event("UPDATE", entity_type="data_request", entity_id=str(request_id),
                    fields=["requesterName", "requesterEmail", "letters"], categories=["name", "contact"],
                    details={"pseudonymised": True, "reason": "log-book period passed"})
    return len(done)

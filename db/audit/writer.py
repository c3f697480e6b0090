"""Flush: a buffer written as one hash-chained batch, in one round trip (`audit_append`), never committed."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit.buffer import AuditBuffer, with_ids
from db.audit.canonical import canonical_body, content_hash, group_rows

# pg_advisory_xact_lock key that serialises the writers of one workspace's chain ("AUDITCHN").
CHAIN_LOCK_KEY = 0x4155444954434E

_APPEND = text("SELECT audit_append(:lock, :content, CAST(:rows AS jsonb))")


async def flush(session: AsyncSession, buffer: AuditBuffer) -> int:
    """Write the buffered events as one chained batch inside the session's transaction; returns the event count.

    One round trip (`audit_append`). Never commits: the caller commits, and the chain lock is held until
    then, so flush last, just before the commit. The buffer is cleared only on success; any error
    propagates (the request must then fail).
    """
    if not len(buffer):
        return 0
    events = len(buffer)
    rows = with_ids(group_rows(buffer.rows(ids=False)))
    body = canonical_body(rows)
    await session.execute(_APPEND, {"lock": CHAIN_LOCK_KEY, "content": content_hash(rows, body), "rows": body})
    buffer.clear()
    return events


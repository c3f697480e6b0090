"""Flush: a buffer written as one unsealed batch with its own digest, in one round trip (`audit_append`).

No lock is taken: the batch gets its `seq` from a sequence and is linked into the hash chain after the
commit by the sealer (`db.audit.sealer`). The rows commit, or fail, with the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit.buffer import AuditBuffer, with_ids
from db.audit.canonical import canonical_body, content_hash, group_rows

# pg_advisory_xact_lock key that serialised the writers of one workspace's chain ("AUDITCHN") before the
# sealer: the previous release's three-argument `audit_append` still passes it, and it is ignored.
CHAIN_LOCK_KEY = 0x4155444954434E

_APPEND = text("SELECT audit_append(:content, CAST(:rows AS jsonb))")


async def flush(session: AsyncSession, buffer: AuditBuffer) -> int:
    """Write the buffered events as one unsealed batch inside the session's transaction; returns the event count.

    One round trip (`audit_append`), no lock held. Never commits: the caller commits (the audit rows are part
    of its transaction: fail-closed). The buffer is cleared only on success; any error propagates (the request
    must then fail).
    """
    if not len(buffer):
        return 0
    events = len(buffer)
    rows = with_ids(group_rows(buffer.rows(ids=False)))
    body = canonical_body(rows)
    await session.execute(_APPEND, {"content": content_hash(rows, body), "rows": body})
    buffer.clear()
    return events

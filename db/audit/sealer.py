"""The sealer: links committed, unsealed audit batches into the workspace's hash chain (`audit_seal`).

Requests write their batch unsealed (`db.audit.writer`), with no lock. `seal` runs the SQL function
`audit_seal` in its own transaction: a try-advisory lock lets one sealer at a time work on a workspace (the
others return at once with `None`); the winner gives the committed unsealed batches it sees, in `seq` order, the
next chain positions. A batch whose transaction is still in flight is invisible to it and gets a later position
on a later run, so positions are dense and verification walks them in order whatever the `seq` gaps.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SEAL_LIMIT = 10_000  # batches linked per transaction

_SEAL = text("SELECT audit_seal(:limit)")


async def seal(session: AsyncSession, *, limit: int = SEAL_LIMIT) -> int | None:
    """Seal up to `limit` batches in the session's transaction (the caller commits); returns how many, or None
    when another sealer holds this workspace's seal lock (it will seal them)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    sealed = int((await session.execute(_SEAL, {"limit": limit})).scalar_one())
    return None if sealed < 0 else sealed


async def unsealed(session: AsyncSession) -> int:
    """How many committed batches wait for the sealer."""
    return int((await session.execute(text("SELECT count(*) FROM audit_batches WHERE chain_position IS NULL")))
               .scalar_one())

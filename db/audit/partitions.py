"""Partition upkeep of `audit_log`: months ahead created, months past the retention dropped (`audit_maintain`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.meta import WorkspaceMeta

DEFAULT_RETENTION_MONTHS = 13
# PDPO practice: audit trails are kept at least a year; a smaller configured retention is raised to this.
MIN_RETENTION_MONTHS = 12
MONTHS_AHEAD = 3

async def maintain_partitions(
    session: AsyncSession, *, now: datetime, retention_months: int | None = None
) -> list[tuple[str, str]]:
    """Create the partitions of `now`'s month and 3 months ahead; drop those wholly older than the retention.

    Retention comes from `workspace_meta.audit_retention_months` (default 13) unless given, and is never
    less than `MIN_RETENTION_MONTHS` (12): a smaller value, configured or passed, is raised to 12.
    Returns [(action, partition)], action "created" or "dropped"; runs in the caller's transaction.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if retention_months is None:
        configured = (
            await session.execute(select(WorkspaceMeta.audit_retention_months).order_by(WorkspaceMeta.id).limit(1))
        ).scalar_one_or_none()
        retention_months = DEFAULT_RETENTION_MONTHS if configured is None else configured
    retention = max(MIN_RETENTION_MONTHS, retention_months)
    result = await session.execute(
        text("SELECT action, partition_name FROM audit_maintain(:now, :retention, :ahead)"),
        {"now": now, "retention": retention, "ahead": MONTHS_AHEAD},
    )
    return [(str(action), str(name)) for action, name in result]

"""The workspace's audit retention in months: read (`workspace` `read`) and set (`workspace` `write`)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db import audit as audit_log
from db.models.meta import WorkspaceMeta
from resolvers.audit.shapes import MAX_RETENTION_MONTHS
from resolvers.errors import BadInput
from resolvers.runtime import Caller


async def retention_months(session: AsyncSession, caller: Caller) -> int:
    caller.access.require(Resource.WORKSPACE, Action.READ)
    configured = await session.scalar(select(WorkspaceMeta.audit_retention_months).where(WorkspaceMeta.id == 1))
    return max(audit_log.MIN_RETENTION_MONTHS, configured or audit_log.DEFAULT_RETENTION_MONTHS)


async def set_retention(session: AsyncSession, caller: Caller, months: int) -> int:
    """Store the audit retention in months (at least 12); partitions older than that are dropped by
    `maintain_partitions` (the monthly job, or `main.py audit maintain`)."""
    caller.access.require(Resource.WORKSPACE, Action.WRITE)
    if months < audit_log.MIN_RETENTION_MONTHS:
        raise BadInput(f"audit retention is at least {audit_log.MIN_RETENTION_MONTHS} months", field="months")
    if months > MAX_RETENTION_MONTHS:
        raise BadInput(f"audit retention is at most {MAX_RETENTION_MONTHS} months", field="months")
    previous = await session.scalar(select(WorkspaceMeta.audit_retention_months).where(WorkspaceMeta.id == 1))
    await session.execute(update(WorkspaceMeta).where(WorkspaceMeta.id == 1).values(audit_retention_months=months))
    caller.audit.event(
        "UPDATE",
        entity_type="workspace",
        fields=["auditRetentionMonths"],
        details={"setting": "auditRetentionMonths", "from": previous, "to": months},
    )
    return months

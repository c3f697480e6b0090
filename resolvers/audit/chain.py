"""The audit chain and its upkeep: verification (GraphQL and the operator's `audit verify`), the partition job.

The operator's commands run without a caller, against the workspace database directly; the session (and its
transaction) is the edge's, so these take one and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from db import audit as audit_log
from db.sessions import session_factory
from db.tenancy import TenantDirectory
from resolvers.audit.shapes import RESOURCE, audit_read
from resolvers.runtime import Caller


async def verify(session: AsyncSession, caller: Caller) -> audit_log.ChainReport:
    caller.access.require(RESOURCE, "read")
    report = await audit_log.verify_chain(session)
    audit_read(caller, "auditChain", False, ok=report.ok, firstBrokenSeq=report.first_broken_seq)
    return report


async def verify_workspace(directory: TenantDirectory, slug: str) -> audit_log.ChainReport | None:
    """The chain report of one workspace, None when there is no such workspace."""
    tenant = await directory.get(slug)
    if tenant is None:
        return None
    async with session_factory(tenant.engine)() as session:
        return await audit_log.verify_chain(session)


async def maintain_workspaces(
    directory: TenantDirectory, slugs: Sequence[str], *, now: datetime, report: Callable[[str], None]
) -> int:
    """Run the partition job for each workspace (its own transaction); returns how many were maintained."""
    done = 0
    for slug in slugs:
        tenant = await directory.get(slug)
        if tenant is None:
            report(f"workspace {slug}: not found")
            continue
        async with session_factory(tenant.engine)() as session, session.begin():
            changes = await audit_log.maintain_partitions(session, now=now)
        for action, partition in changes:
            report(f"workspace {slug}: {action} {partition}")
        if not changes:
            report(f"workspace {slug}: partitions up to date")
        done += 1
    return done

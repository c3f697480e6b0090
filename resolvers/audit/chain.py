"""The audit chain, verified for an admin (`audit` `read`); the operator's `audit verify` and `audit maintain`
run without a caller (`cli.commands`), on `db.audit` directly."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action
from db import audit as audit_log
from resolvers.audit.shapes import RESOURCE, audit_read
from resolvers.runtime import Caller


async def verify(session: AsyncSession, caller: Caller) -> audit_log.ChainReport:
    caller.access.require(RESOURCE, Action.READ)
    report = await audit_log.verify_chain(session)
    audit_read(caller, "auditChain", False, ok=report.ok, firstBrokenSeq=report.first_broken_seq)
    return report


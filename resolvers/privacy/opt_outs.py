"""The direct-marketing opt-out register (PDPO Part 6A, s.35G): a withdrawal that a later grant cannot silently
undo.

Withdrawing a consent (`recordConsent(granted: false)`) puts the purpose on the register at once. Granting it
again while the opt-out stands is refused with CONFLICT / `OPTED_OUT` unless the caller passes
`optOutOverride` with a reason (e.g. "re-subscribed on the web form") AND evidence of the new consent: its
`source` and the date it was given (`consentObtainedAt`, after the opt-out and not in the future). Only holders
of `consent override` (admins by default) may; the opt-out is then cleared, audited with reason and evidence.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.scopes import CONSENT_PURPOSES
from db.models import OptOut
from resolvers.errors import BadInput, Conflict
from resolvers.runtime import Caller

PURPOSES = CONSENT_PURPOSES


@dataclass(frozen=True)
class Evidence:
    """How the consent was obtained: where (the form, the call recording) and when."""

    source: str
    obtained_at: datetime | None = None


async def active(session: AsyncSession, contact_id: uuid.UUID, purpose: str) -> OptOut | None:
    return await session.scalar(
        select(OptOut)
        .where(OptOut.contact_id == contact_id, OptOut.purpose == purpose, OptOut.cleared_at.is_(None))
        .order_by(OptOut.recorded_at.desc())
        .limit(1)
    )


async def register(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    purpose: str,
    granted: bool,
    evidence: Evidence,
    override_reason: str | None,
    now: datetime,
) -> None:
    """Called before a consent is recorded: registers a withdrawal, or guards a grant against a standing opt-out."""
    standing = await active(session, contact_id, purpose)
    if not granted:
        if standing is None:
            session.add(
                OptOut(
                    id=uuid.uuid4(),
                    contact_id=contact_id,
                    purpose=purpose,
                    source=evidence.source,
                    recorded_at=now,
                    recorded_by=caller.principal.id,
                )
            )
        return
    if standing is None:
        return
    if override_reason is None:
        raise Conflict(
            f"the contact opted out of {purpose} marketing on {standing.recorded_at.date().isoformat()}; "
            "pass optOutOverride with the reason the opt-out no longer applies",
            field="granted",
            detail="OPTED_OUT",
        )
    caller.access.require("consent", "override")
    reason = override_reason.strip()
    if not reason:
        raise BadInput("an override needs a reason", field="optOutOverride")
    obtained = evidence.obtained_at
    if obtained is None:
        raise BadInput("an override needs evidence of the new consent: when it was given", field="consentObtainedAt")
    if obtained.tzinfo is None or obtained > now + timedelta(minutes=5) or obtained < standing.recorded_at:
        raise BadInput("the new consent must be dated (with a time zone) after the opt-out and not in the future",
                       field="consentObtainedAt")
    standing.cleared_at = now
    standing.cleared_by = caller.principal.id
    standing.cleared_reason = reason[:2000]
    caller.audit.event(
        "UPDATE",
        entity_type="contact",
        entity_id=str(contact_id),
        fields=[f"optOuts.{purpose}"],
        details={"optOutCleared": True, "reason": reason[:500], "source": evidence.source,
                 "consentObtainedAt": obtained.isoformat()},
    )

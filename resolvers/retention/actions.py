"""What a retention policy does to the rows it selects, per entity, set-based and in batches.

    contact   ARCHIVE    sets archivedAt
              ANONYMISE  the erasure of `resolvers.erasure` (without suppression); skips contacts named by
                         an OPEN access or correction request (their data must stay until it is answered)
              DELETE     only contacts nothing links to (activities, data requests, exports, opt-outs); their
                         consents and change history go with them
    activity  ANONYMISE  clears subject and body (kind, dates, amounts stay)
              DELETE     only activities without attachments
              (neither touches activities of a contact named by an OPEN access or correction request)
    consent   ARCHIVE    expires the consent now: it no longer counts until it is refreshed

Rows of contacts under legal hold are never selected. Every affected row is audited (ERASE, UPDATE or
DELETE) with the policy that caused it. A row that was already handled (archived, anonymised, expired, cleared)
is not selected again, so a run is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import FieldRegistry
from db.audit import AuditBuffer
from db.models import (
    Activity,
    Attachment,
    Consent,
    Contact,
    ContactHistory,
    DataRequest,
    DataRequestContact,
    ExportJob,
    OptOut,
    RetentionPolicy,
)
from resolvers.privacy import erasure, open_requests
from resolvers.privacy.erasure import among

BATCH = 5000
SAMPLE = 10
ACTIONS: dict[str, tuple[str, ...]] = {
    "contact": ("ARCHIVE", "ANONYMISE", "DELETE"),
    "activity": ("ANONYMISE", "DELETE"),
    "consent": ("ARCHIVE",),
}
NODE_TYPES = {"contact": "Contact", "activity": "Activity", "consent": "Consent"}


@dataclass
class Outcome:
    count: int = 0
    sample: list[uuid.UUID] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, ids: Sequence[uuid.UUID]) -> None:
        self.count += len(ids)
        self.sample.extend(ids[: max(0, SAMPLE - len(self.sample))])


def _not_held(contact_id: Any) -> ColumnElement[bool]:
    return not_(exists(select(Contact.id).where(Contact.id == contact_id, Contact.legal_hold.is_(True))))


def _age(entity: str) -> Any:
    """The time a policy's `afterDays` counts from."""
    if entity == "contact":
        return func.coalesce(Contact.last_activity_at, Contact.created_at)
    if entity == "activity":
        return Activity.occurred_at
    return func.coalesce(Consent.granted_at, Consent.updated_at)


def _pending(entity: str, action: str, now: datetime) -> list[ColumnElement[bool]]:
    """Rows this action has not handled yet, and may handle."""
    if entity == "contact":
        out: list[ColumnElement[bool]] = [Contact.legal_hold.is_(False)]
        if action == "ARCHIVE":
            out.append(Contact.archived_at.is_(None))
        elif action == "ANONYMISE":
            out.append(Contact.anonymised_at.is_(None))
            out.append(not_(open_requests.held(Contact.id)))
        else:
            out.append(not_(exists(select(DataRequestContact.data_request_id)
                                   .where(DataRequestContact.contact_id == Contact.id))))
            for model, column in (
                (Activity, Activity.contact_id),
                (DataRequest, DataRequest.contact_id),
                (ExportJob, ExportJob.contact_id),
                (OptOut, OptOut.contact_id),
            ):
                out.append(not_(exists(select(model.id).where(column == Contact.id))))
        return out
    if entity == "activity":
        out = [_not_held(Activity.contact_id), not_(open_requests.held(Activity.contact_id))]
        if action == "ANONYMISE":
            out.append(or_(Activity.subject.is_not(None), Activity.body.is_not(None)))
        else:
            out.append(not_(exists(select(Attachment.id).where(Attachment.activity_id == Activity.id))))
        return out
    return [
        _not_held(Consent.contact_id),
        Consent.granted.is_(True),
        Consent.withdrawn_at.is_(None),
        or_(Consent.expires_at.is_(None), Consent.expires_at > now),
    ]


def selection(policy: RetentionPolicy, condition: ColumnElement[bool], now: datetime) -> Any:
    """SELECT the ids (in id order) this policy acts on at `now`."""
    model: Any = {"contact": Contact, "activity": Activity, "consent": Consent}[policy.entity]
    cutoff = now - timedelta(days=policy.after_days)
    return (
        select(model.id)
        .where(condition, _age(policy.entity) < cutoff, *_pending(policy.entity, policy.action, now))
        .order_by(model.id)
    )


def _details(policy: RetentionPolicy) -> dict[str, Any]:
    return {"retentionPolicyId": str(policy.id), "retentionPolicy": policy.name}


async def apply(
    session: AsyncSession,
    audit: AuditBuffer | None,
    registry: FieldRegistry,
    policy: RetentionPolicy,
    condition: ColumnElement[bool],
    now: datetime,
) -> Outcome:
    """Act on every selected row; with `audit` None (a dry run, rolled back anyway) nothing is audited."""
    ids = list((await session.execute(selection(policy, condition, now))).scalars())
    outcome = Outcome()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        await _act(session, audit, registry, policy, batch, now, outcome)
        outcome.add(batch)
    return outcome


async def _act(
    session: AsyncSession,
    audit: AuditBuffer | None,
    registry: FieldRegistry,
    policy: RetentionPolicy,
    ids: list[uuid.UUID],
    now: datetime,
    outcome: Outcome,
) -> None:
    details = _details(policy)
    entity, action = policy.entity, policy.action
    emit = audit.event if audit is not None else _discard
    if entity == "contact" and action == "ARCHIVE":
        await session.execute(update(Contact).where(among(Contact.id, ids)).values(archived_at=now, updated_at=now))
        for i in ids:
            emit("UPDATE", entity_type="contact", entity_id=str(i), fields=["archivedAt"], details=details)
    elif entity == "contact" and action == "ANONYMISE":
        result = await erasure.anonymise(session, registry, ids, now)
        outcome.files += result.files
        fields, categories = erasure.audit_fields(registry)
        for i in ids:
            emit(
                "ERASE", entity_type="contact", entity_id=str(i), fields=fields, categories=categories, details=details
            )
    elif entity == "contact":
        await session.execute(delete(Consent).where(among(Consent.contact_id, ids)))
        await session.execute(delete(ContactHistory).where(among(ContactHistory.contact_id, ids)))
        await session.execute(delete(Contact).where(among(Contact.id, ids)))
        for i in ids:
            emit("DELETE", entity_type="contact", entity_id=str(i), details=details)
    elif entity == "activity":
        found = await session.execute(select(Activity.id, Activity.contact_id).where(among(Activity.id, ids)))
        owners = {row[0]: row[1] for row in found}
        if action == "ANONYMISE":
            await session.execute(update(Activity).where(among(Activity.id, ids)).values(subject=None, body=None))
        else:
            await session.execute(delete(Activity).where(among(Activity.id, ids)))
        verb, fields = ("UPDATE", ["subject", "body"]) if action == "ANONYMISE" else ("DELETE", [])
        for i in ids:
            emit(
                verb,
                entity_type="activity",
                entity_id=str(i),
                fields=fields,
                details={**details, "contactId": str(owners.get(i))},
            )
    else:
        rows = await session.execute(
            update(Consent)
            .where(among(Consent.id, ids))
            .values(expires_at=now, updated_at=now)
            .returning(Consent.contact_id, Consent.purpose)
        )
        for contact_id, purpose in rows:
            emit(
                "UPDATE",
                entity_type="contact",
                entity_id=str(contact_id),
                fields=[f"consents.{purpose}"],
                details={**details, "consentExpired": True},
            )


def _discard(*_: Any, **__: Any) -> None:
    return None


def valid_action(entity: str, action: str) -> bool:
    return action in ACTIONS.get(entity, ())


def describe(entity: str, action: str) -> str:
    return {
        ("contact", "ARCHIVE"): "archived",
        ("contact", "ANONYMISE"): "anonymised",
        ("contact", "DELETE"): "deleted",
        ("activity", "ANONYMISE"): "cleared of free text",
        ("activity", "DELETE"): "deleted",
        ("consent", "ARCHIVE"): "expired (needs refresh)",
    }.get((entity, action), action.lower())


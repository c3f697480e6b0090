"""What a retention policy does to the rows it selects, per entity, set-based and in batches.

    contact   ARCHIVE    sets archivedAt
              ANONYMISE  the erasure of `resolvers.erasure` (without suppression); skips contacts named by
                         an OPEN access or correction request (their data must stay until it is answered)
              DELETE     only contacts nothing links to (activities, data requests, exports, opt-outs); their
                         consents and change history go with them
              CLEAR_FIELDS  sets the policy's `fields` to null (e.g. `hkid` once KYC is done): each cleared field
                         is one change-history entry with no value, the field's earlier history values are
                         destroyed too, and the contact's UPDATE event names the fields
    activity  ANONYMISE  clears subject and body (kind, dates, amounts stay)
              DELETE     only activities without attachments
              (neither touches activities of a contact named by an OPEN access or correction request)
    consent   ARCHIVE    expires the consent now: it no longer counts until it is refreshed

Rows of contacts under legal hold are never selected; rows a minimum-retention guard holds
(`resolvers.retention.guards`) are skipped and counted in `guarded`. Every affected row is audited (ERASE,
UPDATE or DELETE) with the policy that caused it. A row that was already handled (archived, anonymised,
expired, cleared) is not selected again, so a run is idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Text, bindparam, delete, exists, func, insert, not_, or_, select, update
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
from db.queries import contacts as contact_q
from resolvers.privacy import erasure, open_requests
from resolvers.privacy.erasure import among
from resolvers.retention.guards import Minimum, guarded_activity, guarded_contact, guarded_fields

BATCH = 5000
SAMPLE = 10
ACTIONS: dict[str, tuple[str, ...]] = {
    "contact": ("ARCHIVE", "ANONYMISE", "DELETE", "CLEAR_FIELDS"),
    "activity": ("ANONYMISE", "DELETE"),
    "consent": ("ARCHIVE",),
}
NODE_TYPES = {"contact": "Contact", "activity": "Activity", "consent": "Consent"}


@dataclass
class Outcome:
    count: int = 0
    sample: list[uuid.UUID] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    guarded: int = 0  # rows (or, for CLEAR_FIELDS, rows with fields) a minimum-retention guard kept
    contacts: list[uuid.UUID] = field(default_factory=list)  # the contacts of the sample, first ones first

    def add(self, ids: Sequence[uuid.UUID]) -> None:
        self.count += len(ids)
        self.sample.extend(ids[: max(0, SAMPLE - len(self.sample))])

    def add_contacts(self, ids: Sequence[uuid.UUID | None]) -> None:
        for i in ids:
            if len(self.contacts) >= SAMPLE:
                return
            if i is not None and i not in self.contacts:
                self.contacts.append(i)


def clearable(registry: FieldRegistry, name: str) -> bool:
    """A contact field CLEAR_FIELDS may clear: PII-tagged (built-in, tagged built-in or custom) and nullable."""
    spec = registry.get("contact", name)
    if spec is None or not spec.pii:
        return False
    return spec.custom or name in contact_q.ENCRYPTED_COLUMNS or name in contact_q.PLAIN_COLUMNS


def _stored(registry: FieldRegistry, name: str) -> Any:
    """The expression that is not NULL while the field holds a value."""
    spec = registry.get("contact", name)
    if spec is not None and spec.custom:
        return Contact.custom_fields[name]
    if name in contact_q.ENCRYPTED_COLUMNS:
        return contact_q.T[contact_q.ENCRYPTED_COLUMNS[name][0]]
    return contact_q.T[contact_q.PLAIN_COLUMNS[name]]


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
        if action == "CLEAR_FIELDS":
            out.append(not_(open_requests.held(Contact.id)))
        elif action == "ARCHIVE":
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


def selection(policy: RetentionPolicy, condition: ColumnElement[bool], now: datetime, registry: FieldRegistry) -> Any:
    """SELECT the ids (in id order) this policy acts on at `now`."""
    model: Any = {"contact": Contact, "activity": Activity, "consent": Consent}[policy.entity]
    cutoff = now - timedelta(days=policy.after_days)
    pending = _pending(policy.entity, policy.action, now)
    if policy.action == "CLEAR_FIELDS":
        names = [n for n in policy.fields or [] if clearable(registry, n)]
        pending.append(or_(*(_stored(registry, n).is_not(None) for n in names)) if names else Contact.id.is_(None))
    return select(model.id).where(condition, _age(policy.entity) < cutoff, *pending).order_by(model.id)


def _details(policy: RetentionPolicy) -> dict[str, Any]:
    return {"retentionPolicyId": str(policy.id), "retentionPolicy": policy.name}


async def apply(
    session: AsyncSession,
    audit: AuditBuffer | None,
    registry: FieldRegistry,
    policy: RetentionPolicy,
    condition: ColumnElement[bool],
    now: datetime,
    minimums: Sequence[Minimum] = (),
) -> Outcome:
    """Act on every selected row; with `audit` None (a dry run, rolled back anyway) nothing is audited."""
    ids = list((await session.execute(selection(policy, condition, now, registry))).scalars())
    outcome = Outcome()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        held = await _guarded(session, registry, policy, batch, now, minimums)
        outcome.guarded += len(held)
        if policy.action == "CLEAR_FIELDS":
            batch = await _clear_fields(session, audit, registry, policy, batch, held, now, minimums)
        else:
            batch = [i for i in batch if i not in held]
            if batch:
                await _act(session, audit, registry, policy, batch, now, outcome)
        outcome.add(batch)
        if policy.entity == "contact":
            outcome.add_contacts(batch)
    return outcome


async def _guarded(
    session: AsyncSession,
    registry: FieldRegistry,
    policy: RetentionPolicy,
    ids: list[uuid.UUID],
    now: datetime,
    minimums: Sequence[Minimum],
) -> set[uuid.UUID]:
    """The rows of `ids` a guard holds from this action (for CLEAR_FIELDS: whose guarded fields it keeps)."""
    held: set[uuid.UUID] = set()
    for minimum in minimums:
        if policy.entity == "activity" and policy.action in ("ANONYMISE", "DELETE"):
            stmt = select(Activity.id).where(among(Activity.id, ids), guarded_activity(minimum, now))
        elif policy.entity == "contact" and policy.action == "ANONYMISE":
            stmt = select(Contact.id).where(among(Contact.id, ids), guarded_contact(minimum, now, Contact.id))
        elif policy.entity == "contact" and policy.action == "CLEAR_FIELDS":
            kept = guarded_fields(registry, minimum.guard, [n for n in policy.fields or [] if clearable(registry, n)])
            if not kept:
                continue
            stmt = select(Contact.id).where(
                among(Contact.id, ids),
                guarded_contact(minimum, now, Contact.id),
                or_(*(_stored(registry, n).is_not(None) for n in kept)),
            )
        else:  # archiving and expiring keep the data; DELETE takes only contacts nothing links to
            continue
        held.update((await session.execute(stmt)).scalars())
    return held


async def _clear_fields(
    session: AsyncSession,
    audit: AuditBuffer | None,
    registry: FieldRegistry,
    policy: RetentionPolicy,
    ids: list[uuid.UUID],
    held: set[uuid.UUID],
    now: datetime,
    minimums: Sequence[Minimum],
) -> list[uuid.UUID]:
    """Null the policy's fields; on contacts a guard holds, only the fields no guard covers. Returns the contacts
    changed, in id order."""
    names = [n for n in policy.fields or [] if clearable(registry, n)]
    kept = {n for m in minimums for n in guarded_fields(registry, m.guard, names)}
    groups = [([i for i in ids if i not in held], names), ([i for i in ids if i in held], [n for n in names
                                                                                         if n not in kept])]
    emit = audit.event if audit is not None else _discard
    actor = audit.actor if audit is not None else None
    changed: set[uuid.UUID] = set()
    for group, fields in groups:
        if not group or not fields:
            continue
        present = await session.execute(
            select(Contact.id, *(_stored(registry, n).is_not(None).label(f"f{k}") for k, n in enumerate(fields)))
            .where(among(Contact.id, group))
        )
        cleared = {row[0]: [n for k, n in enumerate(fields) if row[k + 1]] for row in present}
        values: dict[str, Any] = {"updated_at": now}
        custom = [n for n in fields if (spec := registry.get("contact", n)) is not None and spec.custom]
        for n in fields:
            if n in custom:
                continue
            if n in contact_q.ENCRYPTED_COLUMNS:
                column, _, index = contact_q.ENCRYPTED_COLUMNS[n]
                values[column] = None
                if index:
                    values[index] = None
            else:
                values[contact_q.PLAIN_COLUMNS[n]] = None
        if custom:
            gone = bindparam("clear_custom", custom, type_=ARRAY(Text))
            values["custom_fields"] = Contact.custom_fields.op("-")(gone)
        holding = or_(*(_stored(registry, n).is_not(None) for n in fields))
        await session.execute(update(Contact).where(among(Contact.id, group), holding).values(**values))
        history = [
            {"id": uuid.uuid4(), "contact_id": cid, "occurred_at": now, "actor_id": actor.actor_id if actor else None,
             "actor_kind": actor.actor_kind if actor else "system", "field": n, "old_enc": None, "new_enc": None,
             "request_id": actor.request_id if actor else None}
            for cid, done in cleared.items() for n in done
        ]
        if history:
            # What the history held of these fields goes too: clearing a value that survives there clears nothing.
            await session.execute(
                update(ContactHistory)
                .where(among(ContactHistory.contact_id, list(cleared)), ContactHistory.field.in_(fields),
                       or_(ContactHistory.old_enc.is_not(None), ContactHistory.new_enc.is_not(None)))
                .values(old_enc=None, new_enc=None)
            )
            await session.execute(insert(ContactHistory), history)
        details = {**_details(policy), "cleared": True}
        for cid, done in cleared.items():
            if done:
                changed.add(cid)
                labels = [f"customFields.{n}" if n in custom else n for n in done]
                categories = sorted({s.pii for n in done if (s := registry.get("contact", n)) is not None and s.pii})
                emit("UPDATE", entity_type="contact", entity_id=str(cid), fields=labels, categories=categories,
                     details=details)
    return [i for i in ids if i in changed]


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
        outcome.add_contacts([owners.get(i) for i in ids])
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
        expired = list(rows)
        outcome.add_contacts([contact_id for contact_id, _ in expired])
        for contact_id, purpose in expired:
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
        ("contact", "CLEAR_FIELDS"): "cleared of some fields",
    }.get((entity, action), action.lower())


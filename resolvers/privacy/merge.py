"""`mergeContacts`: one person held several times becomes one record (the primary), in one unit of work.

What moves to the primary: activities (their attachments follow them), the change history, consents (per
purpose the strictest wins: a withdrawal or opt-out survives over a grant; among grants the one expiring
first), the opt-out register, the data requests' links to the records, and log-book entries. Fields empty on
the primary are filled from the duplicates (in the order given), only where the caller may write them on the
primary, through `updateContact`'s own write path (history, audit, webhook event). The duplicates are then
erased by `erasure.anonymise` and point at the primary (`merged_into_id`); a data access request about the
primary follows that pointer (their audit trail and disclosures belong to the same person).

Decisions:
* An OPEN access or correction request naming a duplicate does not block the merge (as it blocks an erasure):
  its link moves to the primary first, so the request still covers everything held about the person.
* Legal hold on any side: CONFLICT / LEGAL_HOLD (a hold freezes the records as they are).
* Suppression: the duplicates' e-mail, phone and HKID go on the suppression list (the record must not come
  back through an import), except values that now live on the primary (they are the person's current data).
* A dry run runs the same statements in a SAVEPOINT and rolls it back, so its counts are the real run's; it
  writes nothing, records no audit event and sends nothing.

Needs `contact read` and `contact merge`, every record visible (else NOT_FOUND) and in the caller's write
scope (else FORBIDDEN).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.fields import FieldSpec
from authz.permissions import Action, Resource
from db.models import (
    Activity,
    Attachment,
    Consent,
    Contact,
    ContactHistory,
    DataRequest,
    DataRequestContact,
    LogBookEntry,
    OptOut,
)
from db.queries import contacts as contact_q
from resolvers.contacts import contacts, writes
from resolvers.contacts.input import ContactPatch
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.privacy import disclosures, erasure, open_requests, suppression
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = Resource.CONTACT
MAX_DUPLICATES = 20
# Built-in fields a merge may fill; ownership (owner, team) and pipeline fields stay the primary's.
FILLABLE = ("firstName", "lastName", "email", "phone", "hkid", "taxId", "dateOfBirth", "linkedinUrl", "bio",
            "salary", "company", "jobTitle")


@dataclass
class MergeResult:
    primary_id: uuid.UUID
    merged_ids: list[uuid.UUID]
    dry_run: bool = False
    activities: int = 0
    attachments: int = 0
    history: int = 0
    consents: int = 0
    opt_outs: int = 0
    data_requests: int = 0
    disclosures: int = 0
    filled_fields: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"activities": self.activities, "attachments": self.attachments, "history": self.history,
                "consents": self.consents, "optOuts": self.opt_outs, "dataRequests": self.data_requests,
                "disclosures": self.disclosures}


async def merge_contacts(
    session: AsyncSession,
    caller: Caller,
    primary_id: uuid.UUID,
    duplicate_ids: Sequence[uuid.UUID],
    *,
    dry_run: bool = False,
) -> MergeResult:
    duplicates = list(dict.fromkeys(duplicate_ids))
    if not duplicates:
        raise BadInput("name at least one duplicate", field="duplicateIds")
    if len(duplicates) > MAX_DUPLICATES:
        raise BadInput(f"at most {MAX_DUPLICATES} duplicates at a time", field="duplicateIds")
    if primary_id in duplicates:
        raise BadInput("the primary cannot also be a duplicate", field="duplicateIds")
    await _check(session, caller, primary_id, duplicates)
    if not dry_run:
        return await _merge(session, caller, primary_id, duplicates)
    mark, jobs, after = caller.audit.savepoint(), len(caller.jobs), len(caller.after_commit)
    savepoint = await session.begin_nested()
    try:
        result = await _merge(session, caller, primary_id, duplicates)
    finally:
        await savepoint.rollback()
        caller.audit.rollback_to(mark)
        del caller.jobs[jobs:]
        del caller.after_commit[after:]
    result.dry_run = True
    return result


async def _check(session: AsyncSession, caller: Caller, primary_id: uuid.UUID, duplicates: list[uuid.UUID]) -> None:
    """NOT_FOUND, then FORBIDDEN, then CONFLICT (rule 9: an invisible record's existence never leaks)."""
    access = caller.access
    everyone = [primary_id, *duplicates]
    rows = {
        r.id: r
        for r in await session.execute(
            select(Contact.id, Contact.legal_hold, Contact.anonymised_at).where(
                access.record_filter(ENTITY), Contact.id.in_(everyone)
            ).order_by(Contact.id).with_for_update(of=Contact)  # two merges of one record run one after the other
        )
    }
    if primary_id not in rows:
        raise NotFound("no such contact", field="primaryId")
    if any(i not in rows for i in duplicates):
        raise NotFound("no such contact", field="duplicateIds")
    access.require(ENTITY, Action.READ)
    access.require(ENTITY, Action.MERGE)
    writable = set(
        (await session.execute(select(Contact.id).where(access.record_filter(ENTITY, Action.WRITE),
                                                        Contact.id.in_(everyone)))).scalars()
    )
    if len(writable) < len(everyone):
        raise AccessDenied("a contact to merge is outside the records you may change")
    if any(r.anonymised_at is not None for r in rows.values()):
        raise Conflict("an erased (or already merged) contact cannot be merged", detail="ERASED")
    if any(r.legal_hold for r in rows.values()):
        raise Conflict("a contact to merge is under legal hold: release the hold first", detail="LEGAL_HOLD")


def _fillable(spec: FieldSpec) -> bool:
    return spec.custom or spec.name in FILLABLE


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


async def _fill(session: AsyncSession, caller: Caller, primary_id: uuid.UUID, duplicates: list[uuid.UUID]) -> \
        tuple[list[str], dict[str, Any]]:
    """Fill the primary's empty fields from the duplicates (first non-empty value, in the order given) where the
    caller may write them; returns the fields filled and the primary's e-mail, phone and HKID afterwards."""
    access, cipher = caller.access, caller.tenant.cipher
    specs = [s for s in access.table.registry.of(ENTITY).values() if _fillable(s)]
    rows = {r.id: r for r in await session.execute(select(*Contact.__table__.c).where(
        Contact.id.in_([primary_id, *duplicates])))}
    primary = rows[primary_id]
    flags = await writes.row_flags(session, access, ENTITY, primary_id, [s.name for s in specs])
    patch = ContactPatch()
    current: dict[str, Any] = {}
    for spec in specs:
        value = contact_q.value(primary, spec, cipher)
        if _empty(value):
            value = next((v for v in (contact_q.value(rows[d], spec, cipher) for d in duplicates) if not _empty(v)),
                         None)
            if value is not None and _may_write(caller, spec.name, flags):
                (patch.custom if spec.custom else patch.values)[spec.name] = value
            else:
                value = None
        if not spec.custom and spec.name in suppression.KINDS:
            current[spec.name] = value
    if patch.values or patch.custom:
        await contacts.apply_patch(session, caller, primary_id, patch)
    return patch.fields, current


def _may_write(caller: Caller, name: str, flags: dict[str, bool]) -> bool:
    try:
        caller.access.require_writes(ENTITY, [name], flags)
    except AccessDenied:
        return False
    return True


async def _move_consents(session: AsyncSession, primary_id: uuid.UUID, duplicates: list[uuid.UUID]) -> int:
    """Per purpose, the strictest consent becomes the primary's: a withdrawal (the latest) beats any grant;
    among grants, the one expiring first. Returns how many of the primary's purposes took a duplicate's."""
    rows = await session.execute(
        select(Consent.id, Consent.contact_id, Consent.purpose, Consent.granted, Consent.withdrawn_at,
               Consent.expires_at, Consent.updated_at).where(Consent.contact_id.in_([primary_id, *duplicates]))
    )
    by_purpose: dict[str, list[Any]] = {}
    for row in rows:
        by_purpose.setdefault(row.purpose, []).append(row)

    def strictness(c: Any) -> tuple[int, float, bool]:
        if not c.granted:
            return (0, -(c.withdrawn_at or c.updated_at).timestamp(), c.contact_id != primary_id)
        return (1, c.expires_at.timestamp() if c.expires_at else math.inf, c.contact_id != primary_id)

    moved = 0
    for consents in by_purpose.values():
        winner = min(consents, key=strictness)
        losers = [c.id for c in consents if c.id != winner.id]
        if losers:
            await session.execute(delete(Consent).where(Consent.id.in_(losers)))
        if winner.contact_id != primary_id:
            await session.execute(update(Consent).where(Consent.id == winner.id).values(contact_id=primary_id))
            moved += 1
    return moved


async def _move_requests(session: AsyncSession, primary_id: uuid.UUID, duplicates: list[uuid.UUID]) -> int:
    """The data requests naming a duplicate name the primary instead (once, at the duplicate's position when the
    request did not name the primary). Returns how many requests."""
    links = DataRequestContact
    touched = set((await session.execute(
        select(links.data_request_id).where(links.contact_id.in_(duplicates))
    )).scalars())
    for request_id in touched:
        named = list((await session.execute(
            select(links.contact_id).where(links.data_request_id == request_id,
                                           links.contact_id.in_([primary_id, *duplicates]))
            .order_by(links.position, links.contact_id)
        )).scalars())
        kept = None if primary_id in named else named[0]
        await session.execute(delete(links).where(
            links.data_request_id == request_id, links.contact_id.in_([d for d in duplicates if d != kept])))
        if kept is not None:
            await session.execute(update(links).where(links.data_request_id == request_id, links.contact_id == kept)
                                  .values(contact_id=primary_id))
    await session.execute(update(DataRequest).where(DataRequest.contact_id.in_(duplicates))
                          .values(contact_id=primary_id))
    await session.execute(update(LogBookEntry).where(LogBookEntry.contact_id.in_(duplicates))
                          .values(contact_id=primary_id))
    return len(touched)


async def _merge(session: AsyncSession, caller: Caller, primary_id: uuid.UUID, duplicates: list[uuid.UUID]) -> \
        MergeResult:
    now = caller.runtime.now()
    result = MergeResult(primary_id, duplicates)
    result.disclosures = await disclosures.events_about(session, duplicates, now)  # before their activities move
    result.filled_fields, identifiers = await _fill(session, caller, primary_id, duplicates)
    moved = list((await session.execute(
        update(Activity).where(Activity.contact_id.in_(duplicates)).values(contact_id=primary_id)
        .returning(Activity.id)
    )).scalars())
    result.activities = len(moved)
    if moved:
        result.attachments = int(await session.scalar(select(func.count()).where(
            Attachment.activity_id.in_(moved), Attachment.deleted_at.is_(None))) or 0)
        latest = select(func.max(Contact.last_activity_at)).where(Contact.id.in_([primary_id, *duplicates]))
        await session.execute(update(Contact).where(Contact.id == primary_id)
                              .values(last_activity_at=latest.scalar_subquery()))
    history = await session.execute(update(ContactHistory).where(ContactHistory.contact_id.in_(duplicates))
                                    .values(contact_id=primary_id))
    result.history = int(history.rowcount or 0)  # type: ignore[attr-defined]
    result.consents = await _move_consents(session, primary_id, duplicates)
    opt_outs = await session.execute(update(OptOut).where(OptOut.contact_id.in_(duplicates))
                                     .values(contact_id=primary_id))
    result.opt_outs = int(opt_outs.rowcount or 0)  # type: ignore[attr-defined]
    result.data_requests = await _move_requests(session, primary_id, duplicates)
    await open_requests.refuse_if_held(session, duplicates)  # guard: nothing pending may still name a duplicate

    cipher = caller.tenant.cipher
    keep = {h for _, h in suppression.hashes(cipher, identifiers)}
    erased = await erasure.anonymise(session, caller.access.table.registry, duplicates, now, cipher=cipher,
                                     keep_suppressible=keep)
    result.suppressed = erased.suppressed
    await session.execute(update(Contact).where(  # flat: records merged into a duplicate follow it
        or_(Contact.id.in_(duplicates), Contact.merged_into_id.in_(duplicates))
    ).values(merged_into_id=primary_id))
    fields, categories = erasure.audit_fields(caller.access.table.registry)
    caller.audit.event(
        "MERGE",
        entity_type=ENTITY,
        entity_id=str(primary_id),
        fields=fields,
        categories=categories,
        details={"primaryId": str(primary_id), "duplicateIds": [str(d) for d in duplicates],
                 "filled": result.filled_fields, "suppressed": result.suppressed, **result.counts()},
    )
    for duplicate in duplicates:
        await webhook_events.emit(session, caller, "contact.erased", duplicate)
    erasure.remove_after_commit(caller, erased.files)
    return result

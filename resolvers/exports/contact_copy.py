"""The data-access copy of one person (DPP6): `contact.json`, `activities.json`, `history.json`, `audit.json`,
`attachments/` and a readable `index.html` (resolvers.exports.index_html), in the language of the data request.

An export made for a data request covers every record the request names (the person held twice: the named
contact in `contact.json`, the others under `otherRecords`; records merged into them by `mergeContacts` add
their audit trail, listed under `mergedRecords`) and is the data subject's complete copy: the worker
reads it with `Access.complete_copy` (every field in clear), not the requester's own field rules. Without a
data request, everything goes through the requester's record scopes and field decisions (resolvers.export_rows).
Other people's identifying details in free text (activities, notes, custom text fields and their history) are
replaced (resolvers.privacy.third_parties, s.20(2)), with the names the operator chose (`job.redact_names`);
what still looks like a name is listed by resolvers.exports.review. The JSON audit trail names the kind of actor;
the page names the staff member and their role ("Alice Wong (Sales) viewed your phone number ...").
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, func, or_, select

from db.crypto import FieldLocation, WorkspaceCipher
from db.models import (
    Activity,
    ApiKey,
    Attachment,
    Consent,
    Contact,
    ContactHistory,
    DataRequest,
    DataRequestContact,
    Team,
    User,
    audit_events,
)
from resolvers.exports import index_html as export_html
from resolvers.exports import review as copy_review
from resolvers.exports import rows as export_rows
from resolvers.exports.archive import ExportZip
from resolvers.exports.context import ExportContext, ExportRefused, Summary
from resolvers.privacy import data_requests, merged_records, third_parties
from resolvers.workspaces import settings as workspace_settings

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def attachment_path(attachment: Any) -> str:
    name = SAFE_NAME.sub("_", attachment.filename).strip("._") or "file"
    return f"attachments/{attachment.id}-{name[:100]}"


def attachment_row(a: Any) -> dict[str, Any]:
    return {"id": a.id, "filename": a.filename, "contentType": a.content_type, "sizeBytes": a.size_bytes,
            "sha256": a.sha256, "createdAt": a.created_at, "file": attachment_path(a)}


def decrypt_history(cipher: WorkspaceCipher, row: Any, column: str) -> Any:
    blob = getattr(row, column)
    if blob is None:
        return None
    return json.loads(cipher.decrypt_str(FieldLocation("contact_history", column, str(row.id)), blob))


def contact_audit_filter(contact_ids: uuid.UUID | list[uuid.UUID]) -> ColumnElement[bool]:
    """Events on the contacts and on their activities."""
    ids = contact_ids if isinstance(contact_ids, list) else [contact_ids]
    c = audit_events.c
    activity_ids = select(cast(Activity.id, String)).where(Activity.contact_id.in_(ids))
    return or_(and_(c.entity_type == "contact", c.entity_id.in_([str(i) for i in ids])),
               and_(c.entity_type == "activity", c.entity_id.in_(activity_ids)))


async def _own_identifiers(ctx: ExportContext, contact_id: uuid.UUID) -> dict[str, str | None]:
    """The person's own identifiers in clear, only to tell them apart from other people's (never exported)."""
    row = (await ctx.read.execute(select(Contact).where(Contact.id == contact_id))).scalar_one()
    cipher = ctx.caller.tenant.cipher
    hkid = None if row.hkid_enc is None else cipher.decrypt_str(FieldLocation("contacts", "hkid_enc", str(row.id)),
                                                                 row.hkid_enc)
    return {"email": row.email, "phone": row.phone, "hkid": hkid, "firstName": row.first_name,
            "lastName": row.last_name}


async def _records_of(ctx: ExportContext, contact_id: uuid.UUID) -> list[uuid.UUID]:
    """The named contact first, then the request's other records (only for an export made for a request)."""
    if ctx.job.data_request_id is None:
        return [contact_id]
    others = (await ctx.read.execute(
        select(DataRequestContact.contact_id).where(DataRequestContact.data_request_id == ctx.job.data_request_id,
                                                    DataRequestContact.contact_id != contact_id)
        .order_by(DataRequestContact.position)
    )).scalars()
    return [contact_id, *others]


async def _people(ctx: ExportContext) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, list[str]],
                                               dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Who the page names: staff (display name and roles), teams, API keys (by name)."""
    read = ctx.read
    staff = {u.id: u.display_name for u in await read.execute(select(User.id, User.display_name))}
    roles = {uid: ctx.caller.roles_of(uid) for uid in staff}
    teams = {t.id: t.name for t in await read.execute(select(Team.id, Team.name))}
    keys = {k.id: k.name for k in await read.execute(select(ApiKey.id, ApiKey.name))}
    return staff, roles, teams, keys


def _redact_record(doc: dict[str, Any], redactor: third_parties.Redactor) -> None:
    """Notes and custom text fields (the free text review.record_texts reads)."""
    for name in copy_review.FREE_TEXT:
        if isinstance(doc.get(name), str):
            doc[name] = redactor.text(doc[name])
    values = doc.get("customFields")
    if isinstance(values, dict):
        for name, value in values.items():
            if isinstance(value, str):
                values[name] = redactor.text(value)


async def build(ctx: ExportContext, archive: ExportZip) -> Summary:
    job, read, scope, access = ctx.job, ctx.read, ctx.scope, ctx.caller.access
    contact_id = job.contact_id
    if contact_id is None:
        raise ExportRefused("the export names no contact")
    ids = await _records_of(ctx, contact_id)
    cipher = ctx.caller.tenant.cipher
    registry = access.table.registry
    in_contact = [Activity.contact_id.in_(ids)]
    audit_allowed = access.can("audit", "read")
    n_activities = int(await read.scalar(select(func.count()).select_from(scope.activity_ids().where(*in_contact)
                                                                          .subquery())) or 0)
    n_history = int(await read.scalar(select(func.count()).where(ContactHistory.contact_id.in_(ids))) or 0)
    trail = await merged_records.with_merged(read, ids)  # records merged into these: the same person's trail
    n_audit = int(await read.scalar(select(func.count()).select_from(audit_events)
                                    .where(contact_audit_filter(trail))) or 0) if audit_allowed else 0
    ctx.progress.total = len(ids) + 2 * n_activities + n_history + n_audit

    records = {}
    async for batch in export_rows.contacts(read, scope, cipher, ctx.tally, 50, where=[Contact.id.in_(ids)]):
        records.update({r.id: r for r in batch})
    contact = records.get(contact_id)
    if contact is None:
        raise ExportRefused("the contact is no longer in the requester's export scope, or was deleted")
    several = len(ids) > 1
    summary = Summary(records=len(records), counts={"contact": len(records)})
    disputed = await data_requests.correction_pending(read, ids)
    docs = {}
    for rid in [i for i in ids if i in records]:
        docs[rid] = export_rows.as_row(records[rid])
        if rid in disputed:
            docs[rid]["correctionPending"] = True  # an open correction request disputes this data

    # s.20(2): find other people's names in the free text first (activities, notes, free-text custom fields),
    # then write everything without them.
    found: set[str] = set()
    for d in docs.values():
        third_parties.candidates(copy_review.record_texts(d), found)
    text_rows = select(Activity.subject, Activity.body).where(*in_contact)
    async for rows in export_rows.rows(read, text_rows, ctx.batch):
        third_parties.candidates((t for row in rows for t in row), found)
        await ctx.progress.advance(len(rows))
    names = await third_parties.other_names(read, ids, found)
    redactor = third_parties.Redactor([await _own_identifiers(ctx, i) for i in ids], names, job.language,
                                      job.redact_names or ())
    for d in docs.values():
        _redact_record(d, redactor)

    doc = docs[contact_id]
    if several:
        doc["otherRecords"] = [d for rid, d in docs.items() if rid != contact_id]
    if len(trail) > len(ids):
        doc["mergedRecords"] = [str(i) for i in trail[len(ids):]]  # erased duplicates; their activities moved here
    consents: list[dict[str, Any]] = []
    shown = [rid for rid, r in records.items() if "consents" not in r.denied]
    if shown:
        for c in (await read.execute(select(Consent).where(Consent.contact_id.in_(shown))
                                     .order_by(Consent.purpose, Consent.contact_id))).scalars():
            consents.append({**({"contactId": c.contact_id} if several else {}),
                             "purpose": c.purpose, "granted": c.granted, "source": c.source,
                             "noticeVersion": c.notice_version, "grantedAt": c.granted_at,
                             "withdrawnAt": c.withdrawn_at, "expiresAt": c.expires_at, "updatedAt": c.updated_at})
    doc["consents"] = consents
    requests: list[dict[str, Any]] = []
    if access.can("data_request", "read"):
        named = select(DataRequestContact.data_request_id).where(DataRequestContact.contact_id.in_(ids))
        for r in (await read.execute(select(DataRequest).where(DataRequest.id.in_(named))
                                     .order_by(DataRequest.received_at))).scalars():
            requests.append({"id": r.id, "kind": r.kind, "status": r.status, "language": r.language,
                             "receivedAt": r.received_at, "dueAt": r.due_at, "fulfilledAt": r.fulfilled_at,
                             "refusalReason": r.refusal_reason})
    else:
        summary.notes.append("dataRequests: the requester may not read data requests")
    doc["dataRequests"] = requests
    summary.counts.update(consents=len(consents), dataRequests=len(requests))
    await asyncio.to_thread(archive.document, "contact.json", doc)
    await ctx.progress.advance(len(ids))

    files: list[Any] = []
    page_activities: list[dict[str, Any]] = []
    with archive.array("activities.json") as entry:
        async for chunk in export_rows.activities(read, scope, ctx.tally, ctx.batch, where=in_contact):
            with_files = [r.id for r in chunk if "attachments" not in r.denied]
            attached: dict[uuid.UUID, list[Any]] = {}
            if with_files:
                for a in (await read.execute(select(Attachment).where(Attachment.activity_id.in_(with_files),
                                                                       Attachment.deleted_at.is_(None))
                                             .order_by(Attachment.created_at))).scalars():
                    attached.setdefault(a.activity_id, []).append(a)  # type: ignore[arg-type]
            out = []
            for activity in chunk:
                row = export_rows.as_row(activity, contactId=activity.source.contact_id)
                for name in ("subject", "body"):
                    if isinstance(row.get(name), str):
                        row[name] = redactor.text(row[name])
                row["attachments"] = [attachment_row(a) for a in attached.get(activity.id, [])]
                files.extend(attached.get(activity.id, []))
                out.append(row)
            page_activities.extend(out)
            await asyncio.to_thread(entry.items, out)
            await ctx.progress.advance(len(chunk))
        summary.counts["activities"] = entry.rows

    page_history: list[dict[str, Any]] = []
    with archive.array("history.json") as entry:
        stmt = select(*ContactHistory.__table__.c).where(ContactHistory.contact_id.in_(ids)).order_by(
            ContactHistory.occurred_at, ContactHistory.id)
        async for rows in export_rows.rows(read, stmt, ctx.batch):
            out = []
            for h in rows:
                spec = registry.get("contact", h.field)
                old, old_withheld = export_rows.history_value(access, h.field, decrypt_history(cipher, h, "old_enc"))
                new, new_withheld = export_rows.history_value(access, h.field, decrypt_history(cipher, h, "new_enc"))
                if h.field in copy_review.FREE_TEXT or (spec is not None and spec.custom and spec.type == "String"):
                    old = redactor.text(old) if isinstance(old, str) else old
                    new = redactor.text(new) if isinstance(new, str) else new
                out.append({**({"contactId": h.contact_id} if several else {}),
                            "occurredAt": h.occurred_at, "field": f"customFields.{h.field}" if spec and spec.custom
                            else h.field, "oldValue": old, "newValue": new, "changedBy": h.actor_kind,
                            **({"withheld": True} if old_withheld or new_withheld else {})})
                page_history.append({**out[-1], "contactId": h.contact_id, "actorId": h.actor_id})
            await asyncio.to_thread(entry.items, out)
            await ctx.progress.advance(len(rows))
        summary.counts["history"] = entry.rows

    page_audit: list[dict[str, Any]] | None = [] if audit_allowed else None
    with archive.array("audit.json") as entry:
        if page_audit is not None:
            ev = audit_events.c
            stmt = select(ev.occurred_at, ev.action, ev.entity_type, ev.entity_id, ev.fields, ev.actor_kind,
                          ev.actor_id).where(contact_audit_filter(trail)).order_by(ev.occurred_at, ev.id)
            async for rows in export_rows.rows(read, stmt, ctx.batch):
                out = [{"occurredAt": r.occurred_at, "action": r.action, "entityType": r.entity_type,
                        "entityId": r.entity_id, "fields": list(r.fields), "actorKind": r.actor_kind} for r in rows]
                page_audit.extend({**o, "actorId": r.actor_id} for o, r in zip(out, rows, strict=True))
                await asyncio.to_thread(entry.items, out)
                await ctx.progress.advance(len(rows))
        else:
            summary.notes.append("audit.json: the requester may not read the audit log")
        summary.counts["audit"] = entry.rows

    copied = 0
    for a in files:
        if await asyncio.to_thread(archive.copy, attachment_path(a), ctx.store.path(a.storage_key)) is not None:
            copied += 1
    summary.counts["attachments"] = copied
    summary.counts["redactions"] = redactor.redactions
    summary.counts["reviewNames"] = len(copy_review.candidates(docs.values(), page_activities, redactor.own_names))
    summary.records += summary.counts["activities"] + summary.counts["history"] + summary.counts["audit"]

    staff, roles, teams, keys = await _people(ctx)
    settings = await workspace_settings.peek(read, ctx.caller.tenant.name)
    data = export_html.CopyData(
        language=job.language, settings=settings, made_at=ctx.caller.runtime.now(), records=list(docs.values()),
        consents=[{**c, "contactId": c.get("contactId", contact_id)} for c in consents], requests=requests,
        activities=page_activities, history=page_history, audit=page_audit, staff=staff, staff_roles=roles,
        teams=teams, api_keys=keys, counts=summary.counts, files=[f.name for f in archive.files])
    page = export_html.render(data, registry)
    await asyncio.to_thread(archive.text, "index.html", page)
    return summary

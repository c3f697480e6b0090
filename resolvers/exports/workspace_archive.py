"""The workspace export (backup, or leaving with everything): one JSON Lines file per entity, the audit log,
`policies.csv`, users without password hashes, attachments, and `manifest.json` (row counts and SHA-256 of
every file). Rows are streamed in batches from one snapshot, so memory stays flat however big the workspace.

Contacts and everything hanging off them go through the requester's record scopes and field decisions
(resolvers.export_rows); every other part needs the permission that reads it through the API (`user read`,
`api_key read`, `audit read`, `policy read`, ... see `PART_PERMISSIONS`), else it is left out and named in the
manifest's notes.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Select, func, select

from authz.permissions import Action, Resource
from db.models import (
    ApiKey,
    Attachment,
    AuditBatch,
    CasbinRule,
    Consent,
    ContactHistory,
    DataRequest,
    FieldDefinition,
    LogBookEntry,
    OptOut,
    RetentionPolicy,
    Suppression,
    Team,
    User,
    audit_events,
)
from resolvers import policies
from resolvers.exports import rows as export_rows
from resolvers.exports.archive import ExportZip
from resolvers.exports.contact_copy import attachment_path, attachment_row, decrypt_history
from resolvers.exports.context import ExportContext, Summary
from resolvers.privacy import data_requests

FORMAT = "crm-workspace-export/1"
HIDDEN_COLUMNS = {"users": {"password_hash"}, "api_keys": {"key_hash", "prefix"}}
# Each part beyond the contacts is copied only for a requester holding the permission that reads it through the
# API (`workspace export` alone is not enough): a part left out is named in the manifest's notes.
PART_PERMISSIONS: dict[str, tuple[Resource, Action]] = {
    "teams": (Resource.TEAM, Action.READ),
    "api_keys": (Resource.API_KEY, Action.READ),
    "field_definitions": (Resource.FIELD_DEFINITION, Action.READ),
    "retention_policies": (Resource.RETENTION_POLICY, Action.READ),
    "suppressions": (Resource.CONTACT, Action.ERASE),  # the erased people's list: whoever may erase (and override)
    "log_book": (Resource.DATA_REQUEST, Action.READ),  # as the `logBook` query
}
_CAMEL = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _columns(model: Any) -> list[Any]:
    table = model.__table__ if hasattr(model, "__table__") else model
    hidden = HIDDEN_COLUMNS.get(table.name, set())
    return [c for c in table.c if c.name not in hidden]


def _plain(model: Any) -> Select[Any]:
    return select(*_columns(model))


async def _count(ctx: ExportContext, stmt: Select[Any]) -> int:
    return int(await ctx.read.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


async def _lines(ctx: ExportContext, archive: ExportZip, name: str, stmt: Select[Any],
                 convert: Callable[[Any], dict[str, Any]] | None = None) -> int:
    with archive.lines(name) as entry:
        async for rows in export_rows.rows(ctx.read, stmt, ctx.batch):
            out = [convert(r) if convert else {camel(k): v for k, v in r._mapping.items()} for r in rows]
            await asyncio.to_thread(entry.jsonl, out)
            await ctx.progress.advance(len(out))
        return entry.rows


async def _records(ctx: ExportContext, archive: ExportZip, name: str, batches: Any,
                   convert: Callable[[Any], dict[str, Any]]) -> int:
    with archive.lines(name) as entry:
        async for records in batches:
            await asyncio.to_thread(entry.jsonl, [convert(r) for r in records])
            await ctx.progress.advance(len(records))
        return entry.rows


def _policies_csv(rows: Iterable[Any]) -> tuple[str, int]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ptype", "v0", "v1", "v2", "v3", "v4", "v5"])
    count = 0
    for r in rows:
        writer.writerow([r.ptype, r.v0, r.v1, r.v2, r.v3, r.v4, r.v5])
        count += 1
    return out.getvalue(), count


async def build(ctx: ExportContext, archive: ExportZip) -> Summary:
    read, scope, access = ctx.read, ctx.scope, ctx.caller.access
    cipher, slug = ctx.caller.tenant.cipher, ctx.caller.tenant.slug
    audit_allowed, policy_allowed = access.can(Resource.AUDIT, Action.READ), access.can(Resource.POLICY, Action.READ)
    in_scope = scope.contact_ids()
    attachments = _plain(Attachment).where(Attachment.activity_id.in_(scope.activity_ids()),
                                           Attachment.deleted_at.is_(None)).order_by(Attachment.created_at)
    history = select(*ContactHistory.__table__.c).where(ContactHistory.contact_id.in_(in_scope)).order_by(
        ContactHistory.occurred_at, ContactHistory.id)
    ctx.progress.total = (await _count(ctx, in_scope) + await _count(ctx, scope.activity_ids())
                          + await _count(ctx, select(ContactHistory.id).where(ContactHistory.contact_id.in_(in_scope)))
                          + 2 * await _count(ctx, attachments)
                          + (await _count(ctx, select(audit_events.c.id)) if audit_allowed else 0))
    summary = Summary()
    counts = summary.counts

    with archive.lines("contacts.jsonl") as entry:
        async for records in export_rows.contacts(read, scope, cipher, ctx.tally, ctx.batch):
            disputed = await data_requests.correction_pending(read, [r.id for r in records])
            await asyncio.to_thread(entry.jsonl, [export_rows.as_row(r) | ({"correctionPending": True} if r.id in
                                                                          disputed else {}) for r in records])
            await ctx.progress.advance(len(records))
        counts["contacts"] = entry.rows
    counts["activities"] = await _records(ctx, archive, "activities.jsonl", export_rows.activities(
        read, scope, ctx.tally, ctx.batch), lambda r: export_rows.as_row(r, contactId=r.source.contact_id))
    counts["attachments"] = await _lines(ctx, archive, "attachments.jsonl", attachments,
                                         lambda r: {"activityId": r.activity_id, **attachment_row(r)})
    counts["consents"] = await _lines(ctx, archive, "consents.jsonl",
                                      _plain(Consent).where(Consent.contact_id.in_(in_scope)).order_by(Consent.id))

    def history_row(h: Any) -> dict[str, Any]:
        old, old_withheld = export_rows.history_value(access, h.field, decrypt_history(cipher, h, "old_enc"))
        new, new_withheld = export_rows.history_value(access, h.field, decrypt_history(cipher, h, "new_enc"))
        return {"id": h.id, "contactId": h.contact_id, "occurredAt": h.occurred_at, "actorId": h.actor_id,
                "actorKind": h.actor_kind, "field": h.field, "oldValue": old, "newValue": new,
                "requestId": h.request_id, **({"withheld": True} if old_withheld or new_withheld else {})}

    counts["contact_history"] = await _lines(ctx, archive, "contact_history.jsonl", history, history_row)
    if access.can(Resource.DATA_REQUEST, Action.READ):
        counts["data_requests"] = await _lines(ctx, archive, "data_requests.jsonl", _plain(DataRequest).where(
            DataRequest.contact_id.in_(in_scope)).order_by(DataRequest.received_at))
    else:
        summary.notes.append("data_requests.jsonl: the requester may not read data requests")
    counts["opt_outs"] = await _lines(ctx, archive, "opt_outs.jsonl",
                                      _plain(OptOut).where(OptOut.contact_id.in_(in_scope)).order_by(OptOut.recorded_at))
    policy = ctx.caller.policy
    if access.can(Resource.USER, Action.READ):
        counts["users"] = await _lines(ctx, archive, "users.jsonl", _plain(User).order_by(User.created_at),
                                       lambda r: {**{camel(k): v for k, v in r._mapping.items()},
                                                  "roles": sorted(policy.roles_of(policies.user_subject(r.id)))})
    else:
        summary.notes.append("users.jsonl: the requester may not read users")
    for name, model, order in (("teams", Team, Team.created_at), ("api_keys", ApiKey, ApiKey.created_at),
                               ("field_definitions", FieldDefinition, FieldDefinition.created_at),
                               ("retention_policies", RetentionPolicy, RetentionPolicy.created_at),
                               ("suppressions", Suppression, Suppression.created_at),
                               ("log_book", LogBookEntry, LogBookEntry.refused_at)):
        resource, action = PART_PERMISSIONS[name]
        if access.can(resource, action):
            stmt = _plain(model).where(access.log_book_filter()) if model is LogBookEntry else _plain(model)
            counts[name] = await _lines(ctx, archive, f"{name}.jsonl", stmt.order_by(order))
        else:
            summary.notes.append(f"{name}.jsonl: the requester may not {action} {resource}")
    if audit_allowed:
        c = audit_events.c
        counts["audit_log"] = await _lines(ctx, archive, "audit_log.jsonl",
                                           _plain(audit_events).order_by(c.occurred_at, c.id))
        counts["audit_batches"] = await _lines(ctx, archive, "audit_batches.jsonl",
                                               _plain(AuditBatch).order_by(AuditBatch.seq))
    else:
        summary.notes.append("audit_log.jsonl: the requester may not read the audit log")
    if policy_allowed:
        rules = (await read.execute(select(CasbinRule).order_by(CasbinRule.id))).scalars()
        text, counts["policies"] = _policies_csv(rules)
        await asyncio.to_thread(archive.text, "policies.csv", text, rows=counts["policies"])
    else:
        summary.notes.append("policies.csv: the requester may not read policies")

    copied = 0
    async for rows in export_rows.rows(read, attachments, ctx.batch):
        for a in rows:
            if await asyncio.to_thread(archive.copy, attachment_path(a), ctx.store.path(a.storage_key)):
                copied += 1
        await ctx.progress.advance(len(rows))
    counts["attachment_files"] = copied
    summary.records = sum(v for k, v in counts.items() if k != "attachment_files")

    manifest = {
        "format": FORMAT, "workspace": slug, "exportId": str(ctx.job.id), "createdAt": ctx.job.created_at,
        "requestedBy": {"kind": ctx.job.requested_by_kind, "id": ctx.job.requested_by},
        "counts": counts, "notes": summary.notes,
        "withheld": sorted(ctx.tally.withheld),
        "files": {f.name: {"rows": f.rows, "bytes": f.bytes, "sha256": f.sha256} for f in archive.files},
    }
    await asyncio.to_thread(archive.text, "manifest.json", json.dumps(manifest, default=str, indent=2) + "\n")
    return summary

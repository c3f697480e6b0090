"""`auditEvents`: the log itself, newest first, filtered and keyset-paginated (admins: `audit` `read`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action
from db.models.meta import audit_events
from resolvers import pagination
from resolvers.audit.shapes import CURSOR_KIND, RESOURCE, AuditEntry, AuditFilter, audit_read, window
from resolvers.errors import BadInput
from resolvers.projection import FreeText
from resolvers.runtime import Caller

# An event's `details` is free text (reasons typed by people, names of files and requesters): returning it is
# a READ of the event, like any other PII that leaves.
DETAILS = FreeText("audit_event", {"details": ("free_text", lambda e: e.details)})

_E = audit_events.c
_ENTRY_COLUMNS = (
    _E.id,
    _E.occurred_at,
    _E.actor_id,
    _E.actor_kind,
    _E.action,
    _E.entity_type,
    _E.entity_id,
    _E.fields,
    _E.categories,
    _E.request_id,
    _E.client_ip,
    _E.policy_version,
    _E.details,
)


def _conditions(flt: AuditFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.actor_id is not None:
        out.append(_E.actor_id == flt.actor_id)
    if flt.entity_type is not None:
        out.append(_E.entity_type == flt.entity_type)
    if flt.entity_id is not None:
        out.append(_E.entity_id == flt.entity_id)
    if flt.action is not None:
        out.append(_E.action == flt.action)
    if flt.field is not None:
        out.append(_E.fields.contains([flt.field]))
    if flt.occurred_from is not None:
        out.append(_E.occurred_at >= flt.occurred_from)
    if flt.occurred_to is not None:
        out.append(_E.occurred_at < flt.occurred_to)
    return out


async def list_events(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    flt: AuditFilter | None,
    want_total: bool = False,
) -> pagination.Page[AuditEntry]:
    """Newest first, keyset-paginated on (occurred_at desc, id desc); at most 200 a page."""
    caller.access.require(RESOURCE, Action.READ)
    size = pagination.page_size(first)
    flt = flt or AuditFilter()
    lo, hi = window(flt.occurred_from, flt.occurred_to)
    flt = AuditFilter(flt.actor_id, flt.entity_type, flt.entity_id, flt.action, flt.field, lo, hi)
    conditions = _conditions(flt)
    stmt = select(*_ENTRY_COLUMNS).where(*conditions)
    if after:
        value, row_id = pagination.decode_cursor(after, CURSOR_KIND)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise BadInput("invalid cursor", field="after")
        stmt = stmt.where(tuple_(_E.occurred_at, _E.id) < tuple_(value, row_id))
    stmt = stmt.order_by(_E.occurred_at.desc(), _E.id.desc()).limit(size + 1)
    rows = list((await session.execute(stmt)).all())
    has_next = len(rows) > size
    rows = rows[:size]
    total = None
    if want_total:
        total = int(await session.scalar(select(func.count()).select_from(audit_events).where(*conditions)) or 0)
    entries = [
        AuditEntry(
            id=r.id,
            occurred_at=r.occurred_at,
            actor_id=r.actor_id,
            actor_kind=r.actor_kind,
            action=r.action,
            entity_type=r.entity_type,
            entity_id=r.entity_id,
            fields=list(r.fields),
            categories=list(r.categories),
            request_id=r.request_id,
            client_ip=r.client_ip,
            policy_version=r.policy_version,
            details=r.details,
        )
        for r in rows
    ]
    cursors = [pagination.encode_cursor(e.occurred_at, e.id, CURSOR_KIND) for e in entries]
    audit_read(caller, "auditEvents", False, filter=flt.described(), returned=len(entries))
    return pagination.Page(entries, cursors, has_next, total)

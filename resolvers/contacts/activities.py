"""Activities: scoped reads (their own scope and their contact's), nested pages per contact, creation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import FieldPlan
from authz.permissions import Action, Resource
from db.models import Activity, Attachment, Contact
from db.queries import activities as q
from resolvers import pagination
from resolvers.contacts import writes
from resolvers.contacts.validation import InvalidValue, normalize_text
from resolvers.errors import BadInput, NotFound
from resolvers.projection import Record, Selection, project_in_slices
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = Resource.ACTIVITY
KINDS = ("EMAIL", "WHATSAPP", "CALL", "MEETING", "NOTE", "PURCHASE")
CURSOR_KIND = "ACTIVITY.CREATED_AT.ASC.datetime"


def _scoped(caller: Caller, selection: Selection) -> tuple[Any, FieldPlan]:
    access = caller.access
    plan = access.plan(ENTITY, selection.field_names(access, ENTITY))
    stored = q.storage_columns(ruling.spec for ruling in plan.rulings)
    stmt = q.readable_activities(access.record_filter(ENTITY), access.record_filter(Resource.CONTACT), stored)
    return stmt.add_columns(*access.flag_columns(plan)), plan


async def _project(caller: Caller, rows: Sequence[Any], plan: FieldPlan) -> list[Record]:
    return await project_in_slices(
        entity=ENTITY,
        rows=rows,
        plan=plan,
        flags=plan.read_flags,
        row_id=lambda row: row.id,
        read=q.value,
        audit=caller.audit,
    )


async def list_activities(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    contact_id: uuid.UUID | None,
    selection: Selection,
    want_total: bool,
) -> pagination.Page[Record]:
    size = pagination.page_size(first)
    stmt, plan = _scoped(caller, selection)
    base_conditions = [q.T.contact_id == contact_id] if contact_id else []
    stmt = stmt.where(*base_conditions)
    if after:
        value, row_id = pagination.decode_cursor(after, CURSOR_KIND)
        stmt = stmt.where(tuple_(q.T.created_at, q.T.id) > tuple_(value, row_id))
    rows = list((await session.execute(stmt.order_by(q.T.created_at, q.T.id).limit(size + 1))).all())
    total = None
    if want_total:
        access = caller.access
        counted = q.readable_activities(access.record_filter(ENTITY), access.record_filter(Resource.CONTACT))
        total = int(
            await session.scalar(select(func.count()).select_from(counted.where(*base_conditions).subquery())) or 0
        )
    has_next = len(rows) > size
    rows = rows[:size]
    records = await _project(caller, rows, plan)
    cursors = [pagination.encode_cursor(r.created_at, r.id, CURSOR_KIND) for r in rows]
    return pagination.Page(records, cursors, has_next, total)


async def pages_for_contacts(
    session: AsyncSession,
    caller: Caller,
    contact_ids: Sequence[uuid.UUID],
    *,
    first: int | None,
    after: str | None,
    selection: Selection,
    want_total: bool,
) -> list[pagination.Page[Record]]:
    """One page of activities for each contact, in one query (a window per contact)."""
    size = pagination.page_size(first, maximum=pagination.NESTED_MAX_PAGE)
    stmt, plan = _scoped(caller, selection)
    stmt = stmt.where(q.T.contact_id.in_(set(contact_ids)))
    if after:
        value, row_id = pagination.decode_cursor(after, CURSOR_KIND)
        stmt = stmt.where(tuple_(q.T.created_at, q.T.id) > tuple_(value, row_id))
    ranked = stmt.add_columns(
        func.row_number().over(partition_by=q.T.contact_id, order_by=(q.T.created_at, q.T.id)).label("_rank")
    ).subquery()
    rows = (
        await session.execute(
            select(ranked).where(ranked.c._rank <= size + 1).order_by(ranked.c.contact_id, ranked.c._rank)
        )
    ).all()
    totals: dict[uuid.UUID, int] = {}
    if want_total:
        access = caller.access
        counted = (
            q.readable_activities(access.record_filter(ENTITY), access.record_filter(Resource.CONTACT))
            .where(q.T.contact_id.in_(set(contact_ids)))
            .subquery()
        )
        totals = {
            r[0]: int(r[1])
            for r in (
                await session.execute(select(counted.c.contact_id, func.count()).group_by(counted.c.contact_id))
            ).all()
        }
    grouped: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.contact_id, []).append(row)
    batches = [grouped.get(contact_id, []) for contact_id in contact_ids]
    shown = [row for batch in batches for row in batch[:size]]  # the extra row only tells that a next page exists
    projected = iter(await _project(caller, shown, plan))  # one pass over every page, in slices
    pages = []
    for contact_id, batch in zip(contact_ids, batches, strict=True):
        has_next = len(batch) > size
        batch = batch[:size]
        records = [next(projected) for _ in batch]
        cursors = [pagination.encode_cursor(r.created_at, r.id, CURSOR_KIND) for r in batch]
        pages.append(pagination.Page(records, cursors, has_next, totals.get(contact_id, 0) if want_total else None))
    return pages


async def activities_by_ids(
    session: AsyncSession, caller: Caller, ids: Sequence[uuid.UUID], selection: Selection
) -> list[Record | None]:
    stmt, plan = _scoped(caller, selection)
    rows = (await session.execute(stmt.where(q.T.id.in_(set(ids))))).all()
    by_id = {r.id: r for r in await _project(caller, rows, plan)}
    return [by_id.get(i) for i in ids]


async def create(
    session: AsyncSession,
    caller: Caller,
    *,
    contact_id: uuid.UUID,
    kind: str,
    subject: str | None,
    body: str | None,
    private: bool,
    occurred_at: datetime | None,
    attachment_ids: Sequence[uuid.UUID],
) -> uuid.UUID:
    access = caller.access
    visible = select(Contact.id).where(access.record_filter(Resource.CONTACT), Contact.id == contact_id)
    if await session.scalar(visible) is None:
        raise NotFound("no such contact")
    access.require(ENTITY, Action.WRITE)
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r}", field="kind")
    try:
        subject = None if subject is None else normalize_text(subject, 500)
        body = None if body is None else normalize_text(body, 100_000)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="body") from exc
    now = datetime.now(UTC)
    if occurred_at is not None and occurred_at > now.replace(year=now.year + 1):
        raise BadInput("occurredAt is too far in the future", field="occurredAt")
    activity_id = uuid.uuid4()
    await session.execute(
        insert(Activity).values(
            id=activity_id,
            contact_id=contact_id,
            kind=kind,
            subject=subject,
            body=body,
            private=private,
            author_id=caller.principal.user_id,
            occurred_at=occurred_at or now,
        )
    )
    fields = [n for n, v in (("subject", subject), ("body", body)) if v is not None]
    writes.check(access, ENTITY, fields, await writes.row_flags(session, access, ENTITY, activity_id, fields),
                 outside="the activity would be outside the records you may write")
    if attachment_ids:
        result = await session.execute(
            update(Attachment)
            .where(
                Attachment.id.in_(set(attachment_ids)),
                Attachment.activity_id.is_(None),
                Attachment.uploaded_by == caller.principal.user_id,
                Attachment.deleted_at.is_(None),
            )
            .values(activity_id=activity_id)
        )
        if (result.rowcount or 0) != len(set(attachment_ids)):  # type: ignore[attr-defined]
            raise BadInput("unknown or already linked attachment", field="attachmentIds")
    await session.execute(
        update(Contact)
        .where(Contact.id == contact_id)
        .values(
            last_activity_at=func.greatest(
                func.coalesce(Contact.last_activity_at, occurred_at or now), occurred_at or now
            )
        )
    )
    caller.audit.event(
        "CREATE",
        entity_type=ENTITY,
        entity_id=str(activity_id),
        fields=fields,
        details={"contactId": str(contact_id), "kind": kind},
    )
    await webhook_events.emit(session, caller, "activity.created", activity_id)
    return activity_id

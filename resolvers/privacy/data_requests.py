"""The data-request register (DPP6; PDPO s.18-19 access, s.22-23 correction; erasure by request).

`dueAt = receivedAt + 40 days` (s.19(1), s.23(1)); `daysRemaining` and `overdue` use the runtime's clock, so
tests move time by replacing it. Fulfilment depends on the kind: ACCESS links (or creates) the contact's
export (`resolvers.exports.request_contact_export`), ERASURE runs `eraseContact`, CORRECTION records that the
correction was made. A refusal (s.20, s.24) writes the s.27 log book, kept 4 years outside audit rotation.
A partial-compliance notice (s.19(2)) is only accepted before the deadline. While a CORRECTION request is
OPEN the contact is flagged (`correction_pending`), so every export can say its data is disputed.

Permissions: `data_request` `read` to list, `write` to create, fulfil, refuse and notify; ERASURE fulfilment
also needs `erase` on the contact, ACCESS whatever the export needs.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Contact, DataRequest, ExportJob, LogBookEntry
from resolvers import pagination
from resolvers.contacts.validation import InvalidValue, normalize_name, normalize_text
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.exports import jobs as exports
from resolvers.privacy import erasure
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

RESOURCE = Resource.DATA_REQUEST
KINDS = ("ACCESS", "CORRECTION", "ERASURE")
STATUSES = ("OPEN", "FULFILLED", "REFUSED")
LANGUAGES = ("EN", "ZH")
DEADLINE = timedelta(days=40)
LOG_BOOK_KEEP = timedelta(days=4 * 365 + 1)
CURSOR_KIND = "DATA_REQUEST.DUE_AT.ASC.datetime"
REUSABLE_EXPORT = ("QUEUED", "RUNNING", "SUCCEEDED")


@dataclass(frozen=True)
class NewRequest:
    kind: str
    contact_id: uuid.UUID
    requester_name: str
    received_at: datetime | None = None
    language: str | None = None


def days_remaining(request: DataRequest, now: datetime) -> int | None:
    """Whole days left before `dueAt` (0 on the last day, negative once overdue); None unless OPEN."""
    if request.status != "OPEN":
        return None
    return math.floor((request.due_at - now).total_seconds() / 86400)


def is_overdue(request: DataRequest, now: datetime) -> bool:
    return request.status == "OPEN" and now > request.due_at


def _overdue(now: datetime) -> ColumnElement[bool]:
    return (DataRequest.status == "OPEN") & (DataRequest.due_at < now)


async def _contact_visible(session: AsyncSession, caller: Caller, contact_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(Contact.id).where(caller.access.record_filter("contact"), Contact.id == contact_id)
    )
    if found is None:
        raise NotFound("no such contact")


async def create(session: AsyncSession, caller: Caller, data: NewRequest) -> DataRequest:
    caller.access.require(RESOURCE, Action.WRITE)
    await _contact_visible(session, caller, data.contact_id)
    if data.kind not in KINDS:
        raise BadInput(f"kind is one of {', '.join(KINDS)}", field="kind")
    language = data.language or "EN"
    if language not in LANGUAGES:
        raise BadInput(f"language is one of {', '.join(LANGUAGES)}", field="language")
    try:
        requester = normalize_name(data.requester_name)
    except InvalidValue as exc:
        raise BadInput(f"requesterName: {exc}", field="requesterName") from exc
    now = caller.runtime.now()
    received = data.received_at or now
    if received.tzinfo is None:
        raise BadInput("receivedAt needs a time zone (UTC)", field="receivedAt")
    if received > now + timedelta(minutes=5):
        raise BadInput("receivedAt must not be in the future", field="receivedAt")
    request = DataRequest(
        id=uuid.uuid4(),
        kind=data.kind,
        contact_id=data.contact_id,
        requester_name=requester,
        language=language,
        received_at=received,
        due_at=received + DEADLINE,
        status="OPEN",
        created_by=caller.principal.id,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    caller.audit.event(
        "CREATE",
        entity_type=RESOURCE,
        entity_id=str(request.id),
        details={"kind": data.kind, "contactId": str(data.contact_id), "dueAt": request.due_at.isoformat()},
    )
    await webhook_events.emit(session, caller, "data_request.created", request.id)
    return request


async def get(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> DataRequest:
    caller.access.require(RESOURCE, Action.READ)
    request = await session.get(DataRequest, request_id)
    if request is None:
        raise NotFound("no such data request")
    return request


async def list_requests(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    overdue: bool | None,
    first: int | None,
    after: str | None,
    want_total: bool,
    due_within_days: int | None = None,
) -> pagination.Page[DataRequest]:
    """Soonest deadline first. `overdue: true` is OPEN and past `dueAt`; `overdue: false` everything else;
    `due_within_days`: OPEN, not yet overdue, due within that many days."""
    caller.access.require(RESOURCE, Action.READ)
    size = pagination.page_size(first)
    now = caller.runtime.now()
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        if status not in STATUSES:
            raise BadInput(f"status is one of {', '.join(STATUSES)}", field="status")
        conditions.append(DataRequest.status == status)
    if overdue is not None:
        conditions.append(_overdue(now) if overdue else ~_overdue(now))
    if due_within_days is not None:
        if not 0 <= due_within_days <= 40:
            raise BadInput("dueWithinDays is between 0 and 40", field="dueWithinDays")
        horizon = now + timedelta(days=due_within_days)
        conditions += [DataRequest.status == "OPEN", DataRequest.due_at >= now, DataRequest.due_at <= horizon]
    stmt = select(DataRequest).where(*conditions)
    if after:
        value, row_id = pagination.decode_cursor(after, CURSOR_KIND)
        stmt = stmt.where(tuple_(DataRequest.due_at, DataRequest.id) > tuple_(value, row_id))
    rows = list((await session.execute(stmt.order_by(DataRequest.due_at, DataRequest.id).limit(size + 1))).scalars())
    total = None
    if want_total:
        total = int(await session.scalar(select(func.count()).select_from(DataRequest).where(*conditions)) or 0)
    has_next = len(rows) > size
    rows = rows[:size]
    cursors = [pagination.encode_cursor(r.due_at, r.id, CURSOR_KIND) for r in rows]
    return pagination.Page(rows, cursors, has_next, total)


async def _open(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> DataRequest:
    caller.access.require(RESOURCE, Action.WRITE)
    request = await session.get(DataRequest, request_id, with_for_update=True)
    if request is None:
        raise NotFound("no such data request")
    if request.status != "OPEN":
        raise Conflict(f"the request is {request.status.lower()} already", detail="NOT_OPEN")
    return request


async def fulfil(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> DataRequest:
    request = await _open(session, caller, request_id)
    now = caller.runtime.now()
    if request.kind == "ERASURE":
        reason = f"data request {request.id} (erasure) from {request.requester_name}"
        await erasure.erase_contact(session, caller, request.contact_id, reason, data_request_id=request.id)
    elif request.kind == "ACCESS":
        await _link_export(session, caller, request)
    request.status = "FULFILLED"
    request.fulfilled_at = now
    await session.flush()
    caller.audit.event(
        "UPDATE",
        entity_type=RESOURCE,
        entity_id=str(request.id),
        details={"status": "FULFILLED", "kind": request.kind, "contactId": str(request.contact_id)},
    )
    return request


async def _link_export(session: AsyncSession, caller: Caller, request: DataRequest) -> None:
    """Reuse the linked export unless it failed or expired; otherwise request a new one for this request."""
    if request.export_id is not None:
        status = await session.scalar(select(ExportJob.status).where(ExportJob.id == request.export_id))
        if status in REUSABLE_EXPORT:
            return
    job = await exports.request_contact_export(session, caller, request.contact_id, request.id, request.language)
    request.export_id = job.id


def _required_text(value: str, max_len: int, field: str, missing: str) -> str:
    try:
        text = normalize_text(value.strip(), max_len)
    except InvalidValue as exc:
        raise BadInput(f"{field}: {exc}", field=field) from exc
    if not text:
        raise BadInput(missing, field=field)
    return text


async def refuse(session: AsyncSession, caller: Caller, request_id: uuid.UUID, reason: str) -> DataRequest:
    request = await _open(session, caller, request_id)
    reason = _required_text(reason, 5000, "reason", "a refusal needs its reason (s.21 / s.25 notice)")
    now = caller.runtime.now()
    request.status = "REFUSED"
    request.refusal_reason = reason
    session.add(
        LogBookEntry(
            id=uuid.uuid4(),
            data_request_id=request.id,
            contact_id=request.contact_id,
            kind=request.kind,
            requester_name=request.requester_name,
            reason=reason,
            refused_at=now,
            actor_id=caller.principal.id,
            keep_until=now + LOG_BOOK_KEEP,
            details={"receivedAt": request.received_at.isoformat(), "dueAt": request.due_at.isoformat()},
        )
    )
    await session.flush()
    caller.audit.event(
        "UPDATE",
        entity_type=RESOURCE,
        entity_id=str(request.id),
        details={"status": "REFUSED", "kind": request.kind, "contactId": str(request.contact_id), "logBook": True},
    )
    return request


async def record_partial_notice(
    session: AsyncSession, caller: Caller, request_id: uuid.UUID, notice: str
) -> DataRequest:
    """s.19(2): the written notice (reasons, and what was supplied so far) must be given before day 40."""
    request = await _open(session, caller, request_id)
    notice = _required_text(notice, 10_000, "notice",
                            "the notice text is needed (the reasons, and what was supplied so far)")
    now = caller.runtime.now()
    if now > request.due_at:
        raise Conflict("the 40-day period has ended: a partial-compliance notice is too late", detail="PAST_DUE")
    request.partial_notice_at = now
    request.partial_notice = notice
    await session.flush()
    caller.audit.event(
        "UPDATE", entity_type=RESOURCE, entity_id=str(request.id), details={"partialComplianceNotice": True}
    )
    return request


async def correction_pending(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Contacts with an OPEN CORRECTION request: exports flag them (their data is disputed)."""
    if not contact_ids:
        return set()
    stmt = select(DataRequest.contact_id).where(
        DataRequest.contact_id.in_(set(contact_ids)), DataRequest.kind == "CORRECTION", DataRequest.status == "OPEN"
    )
    return set((await session.execute(stmt)).scalars())


async def log_book(session: AsyncSession, caller: Caller, limit: int = 200) -> list[LogBookEntry]:
    caller.access.require(RESOURCE, Action.READ)
    stmt = select(LogBookEntry).order_by(LogBookEntry.refused_at.desc(), LogBookEntry.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def linked_exports(
    session: AsyncSession, caller: Caller, export_ids: Sequence[uuid.UUID]
) -> list[tuple[ExportJob, bool] | None]:
    """The exports linked to requests, in key order, each with whether the caller may have its download link
    (their own export, or they may export the workspace): the link opens the person's whole file."""
    caller.access.require(RESOURCE, Action.READ)
    found = await session.execute(select(ExportJob).where(ExportJob.id.in_(set(export_ids))))
    rows = {job.id: job for job in found.scalars()}
    principal, everyone = caller.principal, caller.access.can(Resource.WORKSPACE, Action.EXPORT)
    out: list[tuple[ExportJob, bool] | None] = []
    for export_id in export_ids:
        job = rows.get(export_id)
        own = job is not None and job.requested_by == principal.id and job.requested_by_kind == principal.kind
        out.append(None if job is None else (job, own or everyone))
    return out

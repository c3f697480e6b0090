"""The data-request register (DPP6; PDPO s.18-19 access, s.22-23 correction; erasure by request).

`dueAt = receivedAt + 40 days` (s.19(1), s.23(1)); `daysRemaining` and `overdue` use the runtime's clock, so
tests move time by replacing it. A request names zero, one or several
contacts (`data_request_contacts`): several when the person is held twice, none when the business holds
nothing on them (the s.19(1)(a) reply still has to be written). Fulfilment, refusal and notices live in
`resolvers.privacy.fulfilment`. While a CORRECTION request is OPEN its contacts are flagged
(`correction_pending`), so every export can say their data is disputed.

Visibility: a caller sees a request only when every contact it names is visible to them, and a request naming
nobody needs `data_request read` on `all` (`Access.data_request_filter`). `requesterName` and
`requesterEmail` are PII: returning them is audited as a READ of the request (`audit_requester`).

Permissions: `data_request` `read` to list, `write` to create, verify, fulfil, refuse and notify.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Contact, DataRequest, DataRequestContact, ExportJob, LogBookEntry
from resolvers import pagination
from resolvers.contacts.validation import InvalidValue, normalize_email, normalize_name
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.privacy import open_requests
from resolvers.projection import FreeText
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

RESOURCE = Resource.DATA_REQUEST
KINDS = ("ACCESS", "CORRECTION", "ERASURE")
STATUSES = ("OPEN", "FULFILLED", "REFUSED")
LANGUAGES = ("EN", "ZH")
DEADLINE = timedelta(days=40)
CURSOR_KIND = "DATA_REQUEST.DUE_AT.ASC.datetime"
MAX_CONTACTS = 20


@dataclass(frozen=True)
class NewRequest:
    kind: str
    contact_ids: tuple[uuid.UUID, ...]
    requester_name: str
    received_at: datetime | None = None
    language: str | None = None
    requester_email: str | None = None
    identity_verified: bool = False
    identity_check: str | None = None


def days_remaining(request: DataRequest, now: datetime) -> int | None:
    """Whole days left before `dueAt` (0 on the last day, negative once overdue); None unless OPEN."""
    if request.status != "OPEN":
        return None
    return math.floor((request.due_at - now).total_seconds() / 86400)


def is_overdue(request: DataRequest, now: datetime) -> bool:
    return request.status == "OPEN" and now > request.due_at


def _overdue(now: datetime) -> ColumnElement[bool]:
    return (DataRequest.status == "OPEN") & (DataRequest.due_at < now)


async def require_visible_contacts(session: AsyncSession, caller: Caller, contact_ids: Sequence[uuid.UUID]) -> None:
    wanted = set(contact_ids)
    if not wanted:
        return
    found = set((await session.execute(
        select(Contact.id).where(caller.access.record_filter("contact"), Contact.id.in_(wanted))
    )).scalars())
    if found != wanted:
        raise NotFound("no such contact")


REQUESTER = FreeText("data_request", {
    "requesterName": ("name", lambda r: r.requester_name),
    "requesterEmail": ("contact", lambda r: r.requester_email),
})
LOG_BOOK = FreeText("log_book", {"requesterName": ("name", lambda e: e.requester_name)})


def audit_requester(caller: Caller, requests: Sequence[DataRequest], fields: Iterable[str]) -> None:
    """One READ per request naming the requester's PII fields returned (only those it holds)."""
    REQUESTER.audit(caller.audit, requests, fields)


async def create(session: AsyncSession, caller: Caller, data: NewRequest) -> DataRequest:
    caller.access.require(RESOURCE, "write")
    if len(data.contact_ids) > MAX_CONTACTS:
        raise BadInput(f"a request names at most {MAX_CONTACTS} records", field="contactIds")
    contact_ids = list(dict.fromkeys(data.contact_ids))
    await require_visible_contacts(session, caller, contact_ids)
    if data.kind not in KINDS:
        raise BadInput(f"kind is one of {', '.join(KINDS)}", field="kind")
    language = data.language or "EN"
    if language not in LANGUAGES:
        raise BadInput(f"language is one of {', '.join(LANGUAGES)}", field="language")
    try:
        requester = normalize_name(data.requester_name)
    except InvalidValue as exc:
        raise BadInput(f"requesterName: {exc}", field="requesterName") from exc
    email = None
    if data.requester_email is not None and data.requester_email.strip():
        try:
            email = normalize_email(data.requester_email)
        except InvalidValue as exc:
            raise BadInput(f"requesterEmail: {exc}", field="requesterEmail") from exc
    now = caller.runtime.now()
    received = data.received_at or now
    if received.tzinfo is None:
        raise BadInput("receivedAt needs a time zone (UTC)", field="receivedAt")
    if received > now + timedelta(minutes=5):
        raise BadInput("receivedAt must not be in the future", field="receivedAt")
    request = DataRequest(
        id=uuid.uuid4(),
        kind=data.kind,
        contact_id=contact_ids[0] if contact_ids else None,
        requester_name=requester,
        requester_email=email,
        language=language,
        received_at=received,
        due_at=received + DEADLINE,
        status="OPEN",
        created_by=caller.principal.id,
        created_at=now,
    )
    if data.identity_verified:
        mark_verified(request, caller, now, data.identity_check)
    session.add(request)
    await session.flush()
    session.add_all(DataRequestContact(data_request_id=request.id, contact_id=c, position=i)
                    for i, c in enumerate(contact_ids))
    await session.flush()
    caller.audit.event(
        "CREATE",
        entity_type=RESOURCE,
        entity_id=str(request.id),
        details={"kind": data.kind, "contactIds": [str(c) for c in contact_ids], "dueAt": request.due_at.isoformat(),
                 "identityVerified": data.identity_verified},
    )
    await webhook_events.emit(session, caller, "data_request.created", request.id)
    return request


async def link_contacts(session: AsyncSession, caller: Caller, request_id: uuid.UUID,
                        contact_ids: Sequence[uuid.UUID]) -> DataRequest:
    """More records of the same person (found among `possibleMatches`, or by hand); OPEN requests only."""
    request = await get(session, caller, request_id, action="write", lock=True)
    if request.status != "OPEN":
        raise Conflict(f"the request is {request.status.lower()} already", detail="NOT_OPEN")
    await require_visible_contacts(session, caller, contact_ids)
    current = (await contacts_of(session, [request.id]))[0]
    added = [c for c in dict.fromkeys(contact_ids) if c not in current]
    if len(current) + len(added) > MAX_CONTACTS:
        raise BadInput(f"a request names at most {MAX_CONTACTS} records", field="contactIds")
    session.add_all(DataRequestContact(data_request_id=request.id, contact_id=c, position=len(current) + i)
                    for i, c in enumerate(added))
    if request.contact_id is None and added:
        request.contact_id = added[0]
    await session.flush()
    caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(request.id),
                       details={"linkedContactIds": [str(c) for c in added]})
    return request


def mark_verified(request: DataRequest, caller: Caller, now: datetime, check: str | None) -> None:
    """The requester's identity was checked (s.20(1)(a): a copy goes only to the person or their agent)."""
    request.identity_verified_at = now
    request.identity_verified_by = caller.principal.id
    request.identity_check = (check or "").strip()[:500] or None


async def contacts_of(session: AsyncSession, request_ids: Sequence[uuid.UUID]) -> list[list[uuid.UUID]]:
    """The contacts each request names, in the order given, per request id."""
    rows = (await session.execute(
        select(DataRequestContact.data_request_id, DataRequestContact.contact_id)
        .where(DataRequestContact.data_request_id.in_(set(request_ids)))
        .order_by(DataRequestContact.position, DataRequestContact.contact_id)
    )).all()
    grouped: dict[uuid.UUID, list[uuid.UUID]] = {}
    for request_id, contact_id in rows:
        grouped.setdefault(request_id, []).append(contact_id)
    return [grouped.get(r, []) for r in request_ids]


async def get(session: AsyncSession, caller: Caller, request_id: uuid.UUID, *, action: str = "read",
              lock: bool = False) -> DataRequest:
    """A request the caller may see (else NOT_FOUND), then `data_request <action>` (else FORBIDDEN)."""
    caller.access.require(RESOURCE, "read")
    stmt = select(DataRequest).where(DataRequest.id == request_id, caller.access.data_request_filter())
    request = await session.scalar(stmt.with_for_update(of=DataRequest) if lock else stmt)
    if request is None:
        raise NotFound("no such data request")
    caller.access.require(RESOURCE, action)
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
    conditions.append(caller.access.data_request_filter())
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


async def correction_pending(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Contacts named by an OPEN CORRECTION request: exports flag them (their data is disputed)."""
    return await open_requests.holding(session, contact_ids, ("CORRECTION",))


async def log_book(session: AsyncSession, caller: Caller, limit: int = 200) -> list[LogBookEntry]:
    caller.access.require(RESOURCE, Action.READ)
    stmt = (select(LogBookEntry).where(caller.access.log_book_filter())
            .order_by(LogBookEntry.refused_at.desc(), LogBookEntry.id).limit(limit))
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

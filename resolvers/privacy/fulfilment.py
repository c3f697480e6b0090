"""Answering a data request: the identity check, fulfilment per kind, refusal (s.27 log book), the s.19(2)
partial-compliance notice.

Fulfilment depends on the kind. ACCESS: the copy must have been made and delivered, so it is CONFLICT
(`EXPORT_NOT_READY`) until a contact export made for this request has SUCCEEDED, and the delivery method is
recorded with the time (a request naming nobody is answered by letter alone). ERASURE erases every named
contact (`eraseContact`, with its own checks). CORRECTION records the correction made and passes it on to the
recipients of the person's data (`correction_notices`, s.23(1)(c)). A refusal names a ground of the ordinance
(`refusal_grounds`: s.20 for access, s.24 for correction) and writes the s.27 log book, kept 4 years outside
audit rotation. A partial-compliance notice (s.19(2)) is only accepted before the deadline. Each answer writes
its reply letter in English and Chinese (`letters`).

Permissions: `data_request write` on a request the caller can see; ERASURE also needs `erase` on the contacts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import DataRequest, ExportJob, LogBookEntry
from resolvers.contacts.validation import InvalidValue, normalize_text
from resolvers.errors import BadInput, Conflict
from resolvers.privacy import correction_notices, data_requests, erasure, letters, refusal_grounds
from resolvers.runtime import Caller

RESOURCE = data_requests.RESOURCE
LOG_BOOK_KEEP = timedelta(days=4 * 365 + 1)


async def _open(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> DataRequest:
    request = await data_requests.get(session, caller, request_id, action="write", lock=True)
    if request.status != "OPEN":
        raise Conflict(f"the request is {request.status.lower()} already", detail="NOT_OPEN")
    return request


def _required_text(value: str | None, max_len: int, field: str, missing: str) -> str:
    try:
        text = normalize_text((value or "").strip(), max_len)
    except InvalidValue as exc:
        raise BadInput(f"{field}: {exc}", field=field) from exc
    if not text:
        raise BadInput(missing, field=field)
    return text


def _updated(caller: Caller, request: DataRequest, **details: object) -> None:
    caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(request.id),
                       details={"kind": request.kind, **details})


async def verify_identity(session: AsyncSession, caller: Caller, request_id: uuid.UUID,
                          check: str | None) -> DataRequest:
    """Records who checked the requester's identity, when, and how (e.g. "HKID card seen at the counter")."""
    request = await _open(session, caller, request_id)
    data_requests.mark_verified(request, caller, caller.runtime.now(), check)
    await session.flush()
    _updated(caller, request, identityVerified=True)
    return request


async def _succeeded_export(session: AsyncSession, request: DataRequest) -> ExportJob | None:
    return await session.scalar(
        select(ExportJob).where(ExportJob.data_request_id == request.id, ExportJob.status == "SUCCEEDED")
        .order_by(ExportJob.finished_at.desc()).limit(1)
    )


async def fulfil(session: AsyncSession, caller: Caller, request_id: uuid.UUID, *,
                 delivery_method: str | None = None, correction: str | None = None) -> DataRequest:
    request = await _open(session, caller, request_id)
    contact_ids = (await data_requests.contacts_of(session, [request.id]))[0]
    now = caller.runtime.now()
    if request.kind == "ACCESS":
        method = _required_text(delivery_method, 200, "deliveryMethod",
                                "say how the copy was delivered (e.g. encrypted e-mail, registered post)")
        if contact_ids:
            job = await _succeeded_export(session, request)
            if job is None:
                raise Conflict("the copy for this request has not been exported yet: request it with "
                               "requestContactExport(contactId, dataRequestId) and wait until it SUCCEEDED",
                               detail="EXPORT_NOT_READY")
            request.export_id = job.id
        request.delivery_method, request.delivered_at = method, now
    elif request.kind == "CORRECTION":
        request.correction = _required_text(correction, 5000, "correction", "say which correction was made")
        if delivery_method:
            request.delivery_method = _required_text(delivery_method, 200, "deliveryMethod", "")
            request.delivered_at = now
        await correction_notices.send(session, caller, request, contact_ids)
    else:
        for contact_id in contact_ids:
            reason = f"data request {request.id} (erasure)"
            await erasure.erase_contact(session, caller, contact_id, reason, data_request_id=request.id)
    request.status = "FULFILLED"
    request.fulfilled_at = now
    await session.flush()
    if request.kind == "ACCESS":
        await letters.write(session, caller, request, "ACCESS_REPLY" if contact_ids else "NO_DATA_HELD")
    elif request.kind == "CORRECTION":
        await letters.write(session, caller, request, "CORRECTION_REPLY")
    _updated(caller, request, status="FULFILLED", contactIds=[str(c) for c in contact_ids],
             **({"deliveryMethod": request.delivery_method} if request.delivery_method else {}))
    return request


def _ground(kind: str, code: str | None, reason: str) -> refusal_grounds.Ground:
    """The ground given, valid for the kind; or the one the reason cites by section. Free text alone ("no") is
    not a ground."""
    valid = refusal_grounds.for_kind(kind)
    if code is None:
        ground = refusal_grounds.cited(kind, reason)
        if ground is None:
            raise BadInput("name the ground of the refusal (`ground`, one of "
                           f"{', '.join(g.code for g in valid)}); the reason explains it", field="ground")
        return ground
    ground = refusal_grounds.GROUNDS.get(code)
    if ground is None or ground not in valid:
        raise BadInput(f"{code} is not a ground for refusing a {kind} request; one of "
                       f"{', '.join(g.code for g in valid)}", field="ground")
    return ground


async def refuse(session: AsyncSession, caller: Caller, request_id: uuid.UUID, reason: str,
                 ground: str | None = None) -> DataRequest:
    request = await _open(session, caller, request_id)
    reason = _required_text(reason, 5000, "reason", "a refusal needs its reason (s.21 / s.25 notice)")
    chosen = _ground(request.kind, ground, reason)
    now = caller.runtime.now()
    request.status = "REFUSED"
    request.refusal_reason = reason
    request.refusal_ground = chosen.code
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
            details={"receivedAt": request.received_at.isoformat(), "dueAt": request.due_at.isoformat(),
                     "ground": chosen.code, "section": refusal_grounds.citation(chosen, request.kind)},
        )
    )
    await session.flush()
    _updated(caller, request, status="REFUSED", logBook=True, ground=chosen.code)
    await letters.write(session, caller, request, "REFUSAL")
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
    _updated(caller, request, partialComplianceNotice=True)
    await letters.write(session, caller, request, "PARTIAL_COMPLIANCE")
    return request

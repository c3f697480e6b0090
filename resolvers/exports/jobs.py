"""Export jobs: asking for one (a contact's data for an access request, or the whole workspace), reading a
job's state, its signed download link, and opening a download.

Permissions: `export` on `contact` (its record scope says which contacts) or on `workspace`; the default
policy gives both to admins only. The job remembers who asked: the worker rebuilds that principal's current
roles, scopes and field decisions and exports only what they may read (resolvers.export_rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import Access
from authz.defaults import ADMIN_ROLE
from authz.errors import AccessDenied
from authz.permissions import Action, Resource
from authz.principal import Principal
from db.audit import AuditActor, AuditBuffer
from db.files import FileStore
from db.models import ApiKey, Contact, DataRequest, ExportJob, User
from db.tenancy import Tenant
from resolvers import pagination, policies
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.exports import tokens as export_tokens
from resolvers.exports.context import ExportRefused
from resolvers.privacy import data_requests
from resolvers.runtime import Caller, Runtime

DOWNLOAD_TTL = timedelta(hours=24)
LANGUAGES = ("EN", "ZH")
RUN_ACTOR = "exports.run"
MAX_REDACT_NAMES = 200


async def request_contact_export(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    data_request_id: uuid.UUID | None = None,
    language: str = "EN",
    redact_names: Sequence[str] | None = None,
) -> ExportJob:
    """A copy of everything held on one person (DPP6). Visible contact first (else NOT_FOUND), then the
    `export` permission on it (else FORBIDDEN). With a data request (which must name the contact), it is the
    data subject's complete copy: linked to the request, covering all its records, every field in clear, in
    the request's language; it also needs `data_request write`. `redact_names`: other people's names to replace
    in the copy's free text besides those the workspace knows (after reviewing an earlier copy's reviewNames)."""
    access = caller.access
    visible = select(Contact.id).where(access.record_filter(Resource.CONTACT), Contact.id == contact_id)
    if await session.scalar(visible) is None:
        raise NotFound("no such contact")
    exportable = select(access.record_filter(Resource.CONTACT, Action.EXPORT)).where(Contact.id == contact_id)
    if not await session.scalar(exportable):
        raise AccessDenied("not allowed to export this contact")
    request: DataRequest | None = None
    if data_request_id is not None:  # the data subject's complete copy: `data_request write` and `contact export`
        access.require("data_request", "write")
        request = await session.scalar(select(DataRequest).where(DataRequest.id == data_request_id,
                                                                 access.data_request_filter()))
        if request is None or contact_id not in (await data_requests.contacts_of(session, [request.id]))[0]:
            raise BadInput("no such data request naming this contact", field="dataRequestId")
        if request.status != "OPEN":
            raise Conflict(f"the data request is {request.status.lower()} already", detail="NOT_OPEN")
        language = request.language or language
    chosen = _redact_names(redact_names)
    language = (language or "EN").upper()
    if language not in LANGUAGES:
        raise BadInput("language is EN or ZH", field="language")
    job = await _new_job(session, caller, "CONTACT", contact_id=contact_id, data_request_id=data_request_id,
                         language=language, redact_names=chosen)
    if request is not None:
        request.export_id = job.id
        await session.flush()
    caller.audit.event(
        "EXPORT", entity_type="contact", entity_id=str(contact_id),
        details={"exportId": str(job.id), "phase": "requested", "kind": "CONTACT",
                 **({"dataRequestId": str(data_request_id)} if data_request_id else {}),
                 **({"redactNames": len(chosen)} if chosen else {})},
    )
    caller.enqueue(RUN_ACTOR, slug=caller.tenant.slug, export_id=str(job.id))
    return job


def _redact_names(given: Sequence[str] | None) -> list[str] | None:
    if not given:
        return None
    names = list(dict.fromkeys(n.strip() for n in given))
    if len(names) > MAX_REDACT_NAMES or any(not 2 <= len(n) <= 200 for n in names):
        raise BadInput(f"redactNames: at most {MAX_REDACT_NAMES} names of 2 to 200 characters", field="redactNames")
    return names


async def request_workspace_export(session: AsyncSession, caller: Caller) -> ExportJob:
    """Everything in the workspace (backup, or leaving). A second request while one of the caller's is still
    queued or running returns that one."""
    caller.access.require(Resource.WORKSPACE, Action.EXPORT)
    principal = caller.principal
    pending = await session.scalar(
        select(ExportJob).where(
            ExportJob.kind == "WORKSPACE",
            ExportJob.status.in_(("QUEUED", "RUNNING")),
            ExportJob.requested_by == principal.id,
            ExportJob.requested_by_kind == principal.kind,
        ).order_by(ExportJob.created_at.desc()).limit(1)
    )
    if pending is not None:
        return pending
    job = await _new_job(session, caller, "WORKSPACE")
    caller.audit.event("EXPORT", entity_type="workspace", entity_id=caller.tenant.slug,
                       details={"exportId": str(job.id), "phase": "requested", "kind": "WORKSPACE"})
    caller.enqueue(RUN_ACTOR, slug=caller.tenant.slug, export_id=str(job.id))
    return job


async def _new_job(session: AsyncSession, caller: Caller, kind: str, *, contact_id: uuid.UUID | None = None,
                   data_request_id: uuid.UUID | None = None, language: str = "EN",
                   redact_names: list[str] | None = None) -> ExportJob:
    principal = caller.principal
    email = None
    if principal.kind == "user" and principal.id is not None:
        email = await session.scalar(select(User.email).where(User.id == principal.id))
    job = ExportJob(
        id=uuid.uuid4(), kind=kind, status="QUEUED", progress=0.0, contact_id=contact_id,
        data_request_id=data_request_id, language=language, requested_by=principal.id,
        requested_by_kind=principal.kind, requested_roles=sorted(principal.roles), notify_email=email, attempts=0,
        redact_names=redact_names,
    )
    session.add(job)
    await session.flush()
    return job


async def new_operator_job(session: AsyncSession) -> ExportJob:
    """The CLI's workspace export: asked by the operator (actor `system`) with the admin role's decisions."""
    job = ExportJob(id=uuid.uuid4(), kind="WORKSPACE", status="QUEUED", progress=0.0, language="EN",
                    requested_by=None, requested_by_kind="system", requested_roles=[ADMIN_ROLE], attempts=0)
    session.add(job)
    await session.flush()
    return job


async def get_job(session: AsyncSession, caller: Caller, job_id: uuid.UUID) -> ExportJob:
    """The caller's own jobs; everyone's for those who may export the workspace. NOT_FOUND otherwise."""
    job = await session.get(ExportJob, job_id)
    principal = caller.principal
    own = job is not None and job.requested_by == principal.id and job.requested_by_kind == principal.kind
    if job is None or not (own or caller.access.can(Resource.WORKSPACE, Action.EXPORT)):
        raise NotFound("no such export")
    return job


async def list_jobs(
    session: AsyncSession, caller: Caller, *, first: int | None, after: str | None, want_total: bool
) -> pagination.Page[ExportJob]:
    """Newest first: every job for those who may export the workspace (admins), else the caller's own."""
    stmt = select(ExportJob)
    if not caller.access.can("workspace", "export"):
        principal = caller.principal
        stmt = stmt.where(ExportJob.requested_by == principal.id, ExportJob.requested_by_kind == principal.kind)
    return await pagination.newest_first(
        session, stmt, ExportJob.created_at, ExportJob.id, kind="exports.datetime", first=first, after=after,
        want_total=want_total,
    )


def download_url(runtime: Runtime, slug: str, job: ExportJob, base_url: str) -> str | None:
    if job.status != "SUCCEEDED" or job.expires_at is None or job.expires_at <= runtime.now():
        return None
    return f"{base_url.rstrip('/')}/exports/{export_tokens.sign(runtime.secret_key, slug, job.id, job.expires_at)}"


class Requested(Protocol):
    """A job run on someone's behalf (an export, an import): who asked, with the roles recorded then."""

    requested_by: uuid.UUID | None
    requested_by_kind: str
    requested_roles: list[str]


async def requester(session: AsyncSession, runtime: Runtime, tenant: Tenant, job: Requested,
                    audit: AuditBuffer) -> Caller:
    """The principal who asked, as they are now (roles, team, key state): an export never outlives a revocation."""
    policy = await policies.workspace_policy(session, runtime, tenant.slug)
    kind, pid = job.requested_by_kind, job.requested_by
    if kind == "user":
        user = await session.get(User, pid) if pid else None
        if user is None or not user.is_active:
            raise ExportRefused("the requester's account no longer exists or is disabled")
        principal = Principal("user", user.id, policy.roles_of(policies.user_subject(user.id)), user.team_id,
                              label=user.email)
    elif kind == "api_key":
        key = await session.get(ApiKey, pid) if pid else None
        now = datetime.now(UTC)
        if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise ExportRefused("the requesting API key is revoked or expired")
        principal = Principal("api_key", key.id, frozenset({key.role}), None, label=key.name)
    else:  # the operator (CLI) or a support session: the roles recorded when it was asked
        principal = Principal(kind, pid, frozenset(job.requested_roles), None, label=kind)  # type: ignore[arg-type]
    access = Access(principal, policy.table(principal.roles))
    return Caller(runtime, tenant, principal, access, audit, policy)


# ---------------------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------------------


class LinkExpired(Exception):
    """The link or the export has expired (HTTP 410)."""


class LinkRevoked(LinkExpired):
    """The link no longer works: the workspace is closing, or the requester lost the export permission, was
    deactivated or had their key revoked (HTTP 410, like an expiry)."""


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    size: int


async def open_download(runtime: Runtime, token: str, actor: AuditActor) -> Download:
    """Check a download link and audit the download (an EXPORT event committed before any byte is sent).

    The link is checked against today's state, not the state when the export was made: the workspace must be
    ACTIVE and the requester must still hold the export permission (for a contact export, on that contact).
    The event's actor is the link holder (`actor_kind` `link`, with their address and user agent), and the
    requester is named in the details. A refused download is a DENIED event.

    Raises NotFound (unknown or tampered link, or no such finished export), LinkExpired or LinkRevoked."""
    try:
        claims = export_tokens.verify(runtime.secret_key, token, runtime.now())
    except export_tokens.InvalidToken as exc:
        raise NotFound("no such export") from exc
    except export_tokens.ExpiredToken as exc:
        raise LinkExpired("this download link has expired") from exc
    tenant = await runtime.directory.get(claims.slug)
    if tenant is None:
        raise NotFound("no such export")
    store = FileStore(runtime.export_dir)
    async with runtime.units.workspace(tenant.engine) as unit:
        job = await unit.session.get(ExportJob, claims.job_id)
        if job is None or job.status not in ("SUCCEEDED", "EXPIRED") or job.file_key is None:
            raise NotFound("no such export")
        if job.status == "EXPIRED" or job.expires_at is None or job.expires_at <= runtime.now():
            raise LinkExpired("this export has expired")
        path = store.path(job.file_key)
        if not path.is_file():
            raise LinkExpired("this export's file is gone")
        # The link holder (actor kind `link`, with their address and user agent) acts; the requester is named.
        unit.audit.actor = AuditActor(None, "link", actor.request_id, actor.client_ip, actor.user_agent)
        entity_type = "contact" if job.kind == "CONTACT" else "workspace"
        entity_id = str(job.contact_id) if job.kind == "CONTACT" else tenant.slug
        details = {
            "exportId": str(job.id), "kind": job.kind,
            "requestedBy": str(job.requested_by) if job.requested_by else None,
            "requestedByKind": job.requested_by_kind,
            "downloader": {"address": actor.client_ip, "userAgent": actor.user_agent},
        }
        refusal = await _download_refusal(unit.session, runtime, tenant, job, unit.audit)
        if refusal is not None:
            # The unit rolls back but still writes the DENIED event (refused attempts outlive the rollback).
            unit.audit.denied(entity_type, entity_id, [],
                              details={**details, "phase": "download refused", "reason": refusal})
            raise LinkRevoked("this download link no longer works")
        unit.audit.event("EXPORT", entity_type=entity_type, entity_id=entity_id,
                         details={**details, "phase": "downloaded", "sizeBytes": job.size_bytes})
    stamp = (job.finished_at or job.created_at).strftime("%Y%m%d-%H%M")
    name = f"{tenant.slug}-{'contact' if job.kind == 'CONTACT' else 'workspace'}-export-{stamp}.zip"
    return Download(path, name, int(job.size_bytes or path.stat().st_size))


async def _download_refusal(session: AsyncSession, runtime: Runtime, tenant: Tenant, job: ExportJob,
                            audit: AuditBuffer) -> str | None:
    """Why the link may not be used any more, or None."""
    if not tenant.active:
        return "the workspace is closing"
    try:
        asker = await requester(session, runtime, tenant, job, audit)
    except ExportRefused as exc:
        return str(exc)
    access = asker.access
    if job.kind == "WORKSPACE":
        return None if access.can("workspace", "export") else "the requester may no longer export the workspace"
    exportable = select(access.record_filter("contact", "export")).where(Contact.id == job.contact_id)
    allowed = await session.scalar(exportable)
    return None if allowed else "the requester may no longer export this contact"

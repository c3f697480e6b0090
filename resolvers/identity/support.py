"""Support access: an admin opens a time-bounded window (1-72 hours, with a reason) for the vendor's staff.

Only inside an active grant does `main.py support-login` issue a token: role `support` (read-only, no
government ids by default policy), expiring with the grant. Every request with it is re-checked against the
grant (`identity.authenticate`), so a revocation or the end of the window stops it at once, and is audited
with actorKind `support` (the actor id is the support session's id, one per login).

Grants live in the catalog, because they must be checked before the workspace database is opened. A new
grant goes through the catalog outbox (`resolvers.workspaces.outbox`): written with its audit event, put in
the catalog right after that commits (or by `workspaces.apply_catalog` if that fails), so there is no
unaudited grant and no audited grant left out. A revocation is written at once (an access reduction must not
wait for anything), and supersedes any grant still pending in the outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from authz.permissions import Action, Resource
from db.audit import AuditActor, AuditBuffer
from db.models import SupportGrant
from resolvers.contacts.validation import InvalidValue, normalize_text
from resolvers.errors import BadInput, NotFound, Unauthenticated
from resolvers.identity import credentials
from resolvers.runtime import Caller, Runtime
from resolvers.workspaces import outbox

RESOURCE = Resource.SUPPORT_ACCESS
ENTITY = "support_grant"
GRANT = "support_grant"  # its catalog_outbox change
MIN_HOURS, MAX_HOURS = 1, 72
MAX_REASON = 500
LISTED = 100


@dataclass(frozen=True)
class Grant:
    id: uuid.UUID
    granted_by: uuid.UUID
    reason: str
    starts_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts_at <= now < self.expires_at


@dataclass(frozen=True)
class SupportLogin:
    token: str
    expires_at: datetime
    grant_id: uuid.UUID


def _reason(reason: str, field: str = "reason") -> str:
    try:
        text = normalize_text(reason, MAX_REASON).strip()
    except InvalidValue as exc:
        raise BadInput(str(exc), field=field) from exc
    if not text:
        raise BadInput("say why support needs access", field=field)
    return text


async def grant(session: AsyncSession, caller: Caller, hours: int, reason: str, *,
                now: datetime | None = None) -> Grant:
    caller.access.require(RESOURCE, Action.WRITE)
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise BadInput(f"support access lasts {MIN_HOURS} to {MAX_HOURS} hours", field="hours")
    reason = _reason(reason)
    assert caller.principal.id is not None  # users and API keys; the system never grants
    now = now or datetime.now(UTC)
    row = Grant(uuid.uuid4(), caller.principal.id, reason, now, now + timedelta(hours=hours), None)
    caller.audit.event(
        "CREATE",
        entity_type=ENTITY,
        entity_id=str(row.id),
        details={"hours": hours, "reason": reason, "expiresAt": row.expires_at.isoformat()},
    )
    outbox.record(session, GRANT, {
        "id": str(row.id), "workspaceId": str(caller.tenant.id), "grantedBy": str(row.granted_by),
        "reason": row.reason, "startsAt": row.starts_at.isoformat(), "expiresAt": row.expires_at.isoformat(),
    })
    await session.flush()
    runtime, slug = caller.runtime, caller.tenant.slug

    async def grant_in_catalog() -> None:
        await outbox.apply(runtime, slug, CATALOG_APPLIERS)

    caller.after_commit.append(grant_in_catalog)
    caller.enqueue("workspaces.apply_catalog", slug=slug)
    return row


async def _record_grant(session: AsyncSession, runtime: Runtime, slug: str, details: dict[str, Any]) -> None:
    """The catalog side of a grant; a grant already there (a run that died before marking its row) is kept."""
    async with runtime.units.catalog() as conn:
        await conn.execute(
            pg_insert(SupportGrant)
            .values(
                id=uuid.UUID(details["id"]), workspace_id=uuid.UUID(details["workspaceId"]),
                granted_by=uuid.UUID(details["grantedBy"]), reason=details["reason"],
                starts_at=datetime.fromisoformat(details["startsAt"]),
                expires_at=datetime.fromisoformat(details["expiresAt"]),
            )
            .on_conflict_do_nothing(index_elements=[SupportGrant.id])
        )


CATALOG_APPLIERS: dict[str, outbox.Applier] = {GRANT: _record_grant}


async def revoke(session: AsyncSession, caller: Caller, *, now: datetime | None = None) -> bool:
    """End every active grant of the workspace (and any still pending in the outbox); False when there was none."""
    caller.access.require(RESOURCE, Action.WRITE)
    now = now or datetime.now(UTC)
    pending = [uuid.UUID(d["id"]) for d in await outbox.supersede(session, GRANT, now)]
    async with caller.runtime.units.catalog() as conn:  # revoked at once, even if the request fails later
        ended = (
            await conn.execute(
                update(SupportGrant)
                .where(
                    SupportGrant.workspace_id == caller.tenant.id,
                    SupportGrant.revoked_at.is_(None),
                    SupportGrant.expires_at > now,
                )
                .values(revoked_at=now)
                .returning(SupportGrant.id)
            )
        ).scalars().all()
    for grant_id in [*ended, *(p for p in pending if p not in ended)]:
        caller.audit.event("DELETE", entity_type=ENTITY, entity_id=str(grant_id), details={"change": "revoke"})
    return bool(ended or pending)


async def list_grants(caller: Caller) -> list[Grant]:
    """The workspace's grants, newest first (the last 100)."""
    caller.access.require(RESOURCE, Action.READ)
    async with caller.runtime.directory.catalog.connect() as conn:
        rows = (
            await conn.execute(
                select(SupportGrant)
                .where(SupportGrant.workspace_id == caller.tenant.id)
                .order_by(SupportGrant.starts_at.desc())
                .limit(LISTED)
            )
        ).all()
    return [_grant(r) for r in rows]


async def active_grant(catalog: AsyncEngine, workspace_id: uuid.UUID, now: datetime) -> Grant | None:
    """The active grant that lasts longest, if any."""
    async with catalog.connect() as conn:
        row = (
            await conn.execute(
                select(SupportGrant)
                .where(
                    SupportGrant.workspace_id == workspace_id,
                    SupportGrant.revoked_at.is_(None),
                    SupportGrant.starts_at <= now,
                    SupportGrant.expires_at > now,
                )
                .order_by(SupportGrant.expires_at.desc())
                .limit(1)
            )
        ).one_or_none()
    return None if row is None else _grant(row)


async def login(runtime: Runtime, slug: str, reason: str, *, now: datetime | None = None) -> SupportLogin:
    """A support token for `slug`, only inside an active grant; the login is audited in the workspace."""
    reason = _reason(reason)
    now = now or datetime.now(UTC)
    runtime.directory.invalidate(slug)  # decide on the catalog as it is now
    tenant = await runtime.directory.get(slug)
    if tenant is None:
        raise NotFound(f"no workspace {slug!r}")
    if not tenant.active:
        raise Unauthenticated(f"the workspace {slug!r} is closed")
    current = await active_grant(runtime.directory.catalog, tenant.id, now)
    if current is None:
        raise Unauthenticated(f"no active support grant for {slug!r}: a workspace admin must grant support access")
    session_id = uuid.uuid4()
    audit = AuditBuffer(AuditActor(actor_id=session_id, actor_kind="support"))
    async with runtime.units.workspace(tenant.engine, audit):
        audit.event(
            "LOGIN",
            entity_type=ENTITY,
            entity_id=str(current.id),
            details={"reason": reason, "grantExpiresAt": current.expires_at.isoformat()},
        )
    claims = credentials.TokenClaims(slug, session_id, "support", current.expires_at, grant_id=current.id)
    return SupportLogin(credentials.issue_token(runtime.secret_key, claims), current.expires_at, current.id)


def _grant(r: Any) -> Grant:
    return Grant(r.id, r.granted_by, r.reason, r.starts_at, r.expires_at, r.revoked_at)

"""Support access: an admin opens a time-bounded window (1-72 hours, with a reason) for the vendor's staff.

Only inside an active grant does `main.py support-login` issue a token: role `support` (read-only, no
government ids by default policy), expiring with the grant. Every request with it is re-checked against the
grant (`identity.authenticate`), so a revocation or the end of the window stops it at once, and is audited
with actorKind `support` (the actor id is the support session's id, one per login).

Grants live in the catalog, because they must be checked before the workspace database is opened. A new
grant is written there only after the request that audited it commits (no unaudited grant); a revocation
is written at once (an access reduction must not wait for anything).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from authz.permissions import Action, Resource
from db.audit import AuditActor, AuditBuffer
from db.models import SupportGrant
from resolvers.contacts.validation import InvalidValue, normalize_text
from resolvers.errors import BadInput, NotFound, Unauthenticated
from resolvers.identity import credentials
from resolvers.runtime import Caller, Runtime

RESOURCE = Resource.SUPPORT_ACCESS
ENTITY = "support_grant"
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


async def grant(caller: Caller, hours: int, reason: str, *, now: datetime | None = None) -> Grant:
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
    units, workspace_id = caller.runtime.units, caller.tenant.id

    async def record() -> None:
        async with units.catalog() as conn:
            await conn.execute(
                insert(SupportGrant).values(
                    id=row.id, workspace_id=workspace_id, granted_by=row.granted_by, reason=row.reason,
                    starts_at=row.starts_at, expires_at=row.expires_at,
                )
            )

    caller.after_commit.append(record)
    return row


async def revoke(caller: Caller, *, now: datetime | None = None) -> bool:
    """End every active grant of the workspace; False when there was none."""
    caller.access.require(RESOURCE, Action.WRITE)
    now = now or datetime.now(UTC)
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
    for grant_id in ended:
        caller.audit.event("DELETE", entity_type=ENTITY, entity_id=str(grant_id), details={"change": "revoke"})
    return bool(ended)


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

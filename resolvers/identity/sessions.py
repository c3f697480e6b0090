"""Server-side sessions: one row per sign-in, rotating refresh tokens, logout, and ending sessions at once.

An access token (a short JWT) names its session; `authenticate` reads the session row with the user on
every request, so a revoked session or a deactivated user is refused by every process from the next
request on (no cache to wait for). Refresh tokens rotate: each is good for one use; presenting a used one
again means it was copied, so the whole session (the family) is ended and the call refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditBuffer
from db.models import AuthSession, RefreshToken, User
from db.tenancy import Tenant
from resolvers import policies
from resolvers.errors import Unauthenticated
from resolvers.identity import credentials
from resolvers.runtime import Caller, Runtime


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime
    refresh_token: str
    session_id: uuid.UUID


async def start(session: AsyncSession, runtime: Runtime, tenant: Tenant, user: User) -> Issued:
    """A new session for a user who just proved who they are (login, password reset)."""
    now = runtime.now()
    row = AuthSession(id=uuid.uuid4(), user_id=user.id, created_at=now, expires_at=now + _refresh_ttl(runtime))
    session.add(row)
    await session.flush()
    return await _issue(session, runtime, tenant, row)


async def _issue(session: AsyncSession, runtime: Runtime, tenant: Tenant, row: AuthSession) -> Issued:
    refresh = credentials.new_workspace_secret(tenant.slug)
    session.add(RefreshToken(token_hash=credentials.sha256(refresh), session_id=row.id, created_at=runtime.now()))
    await session.flush()
    expires = min(credentials.token_expiry(runtime.token_ttl_seconds), row.expires_at)
    claims = credentials.TokenClaims(tenant.slug, row.user_id, "user", expires, session_id=row.id)
    return Issued(credentials.issue_token(runtime.secret_key, claims), expires, refresh, row.id)


def workspace_of(refresh_token: str) -> str:
    slug = credentials.secret_workspace(refresh_token.strip())
    if slug is None:
        raise Unauthenticated("invalid refresh token")
    return slug


async def refresh(
    session: AsyncSession, runtime: Runtime, tenant: Tenant, audit: AuditBuffer, refresh_token: str
) -> tuple[Issued, User, list[str]]:
    """Trade a refresh token for a new access token and a new refresh token (the old one stops working).

    Runs without a SAVEPOINT (like login): ending a family on reuse must survive the refusal that follows.
    """
    digest = credentials.sha256(refresh_token.strip())
    token = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest).with_for_update())
    if token is None:
        raise Unauthenticated("invalid refresh token")
    row = await session.get(AuthSession, token.session_id, with_for_update=True)
    user = await session.get(User, row.user_id) if row is not None else None
    now = runtime.now()
    if row is None or user is None or row.revoked_at is not None or row.expires_at <= now or not user.is_active:
        raise Unauthenticated("the session has ended: sign in again")
    if token.used_at is not None:
        row.revoked_at, row.revoked_reason = now, "refresh_token_reused"
        await session.flush()
        audit.event(
            "LOGIN_FAILED",
            entity_type="user",
            entity_id=str(user.id),
            details={"reason": "refresh_token_reused", "sessionId": str(row.id)},
        )
        raise Unauthenticated("this refresh token was used before: the session is ended", reason="REFRESH_TOKEN_REUSED")
    token.used_at = now
    row.refreshed_at = now
    policy = await policies.workspace_policy(session, runtime, tenant.slug)
    roles = sorted(policy.roles_of(policies.user_subject(user.id)))
    return await _issue(session, runtime, tenant, row), user, roles


async def end(session: AsyncSession, caller: Caller) -> bool:
    """Logout: the session of the token used (its access and refresh tokens) stops working."""
    session_id = caller.principal.session_id
    if caller.principal.kind != "user" or session_id is None:
        raise Unauthenticated("only a signed-in user has a session to end")
    await _revoke(session, caller.runtime.now(), "logout", AuthSession.id == session_id)
    return True


async def end_all(
    session: AsyncSession, runtime: Runtime, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> None:
    """End every live session of a user (but `keep`, the caller's own, when given)."""
    condition = AuthSession.user_id == user_id
    if keep is not None:
        condition = condition & (AuthSession.id != keep)
    await _revoke(session, runtime.now(), reason, condition)


async def _revoke(session: AsyncSession, now: datetime, reason: str, condition: object) -> None:
    await session.execute(
        update(AuthSession)
        .where(condition, AuthSession.revoked_at.is_(None))  # type: ignore[arg-type]
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


def _refresh_ttl(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.refresh_ttl_seconds)

"""Passwords: changing one (the user's other sessions end), and resetting a forgotten one by a mailed link.

`request_reset` answers the same whether or not the address belongs to someone (no account discovery);
the link holds a one-time secret (stored as SHA-256) valid for an hour. Using it sets the password and
ends every session of the user.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditBuffer
from db.models import PasswordReset, User
from db.tenancy import Tenant
from resolvers import offload
from resolvers.errors import BadInput, Unauthenticated
from resolvers.identity import credentials, sessions
from resolvers.identity.accounts import MIN_PASSWORD_LENGTH
from resolvers.runtime import Caller, Runtime

RESET_TTL = timedelta(hours=1)
RESETS_PER_HOUR = 5
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def _check_new(password: str, field: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"passwords have at least {MIN_PASSWORD_LENGTH} characters", field=field)


async def change(session: AsyncSession, caller: Caller, current: str, new: str) -> bool:
    user_id = caller.principal.user_id
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise Unauthenticated("only a signed-in user has a password to change")
    if not await offload.cpu(credentials.verify_password, user.password_hash, current):
        raise BadInput("the current password is wrong", field="currentPassword")
    _check_new(new, "newPassword")
    user.password_hash = await offload.cpu(credentials.hash_password, new)
    await sessions.end_all(session, caller.runtime, user.id, "password_changed", keep=caller.principal.session_id)
    caller.audit.event("UPDATE", entity_type="user", entity_id=str(user.id), fields=["password"],
                       details={"change": "changePassword"})
    return True


async def request_reset(
    session: AsyncSession, runtime: Runtime, tenant: Tenant, audit: AuditBuffer, email: str
) -> bool:
    """Mail a one-time link to the address if it is an active user's. Always True."""
    address = email.strip().lower()
    if "\x00" in address or "@" not in address:
        return True
    throttle = f"crm:password-resets:{tenant.slug}:{address}"
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.incr(throttle)
        pipe.expire(throttle, 3600)
        count, _ = await pipe.execute()
    user = await session.scalar(select(User).where(func.lower(User.email) == address))
    if user is None or not user.is_active or int(count) > RESETS_PER_HOUR:
        return True
    secret = credentials.new_workspace_secret(tenant.slug)
    now = runtime.now()
    session.add(PasswordReset(token_hash=credentials.sha256(secret), user_id=user.id, created_at=now,
                              expires_at=now + RESET_TTL))
    await session.flush()
    audit.event("UPDATE", entity_type="user", entity_id=str(user.id), details={"change": "requestPasswordReset"})
    base = (runtime.exports.public_url or DEFAULT_PUBLIC_URL).rstrip("/")
    await runtime.mailer.send(
        [user.email],
        "Reset your CRM password",
        f"Someone asked to reset the password of {user.email} in workspace {tenant.slug}.\n\n"
        f"To choose a new password, open this link within an hour (it works once):\n"
        f"{base}/reset-password?token={secret}\n\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )
    return True


def workspace_of(token: str) -> str:
    slug = credentials.secret_workspace(token.strip())
    if slug is None:
        raise BadInput("the reset link is invalid or has expired", field="token")
    return slug


async def reset(
    session: AsyncSession, runtime: Runtime, audit: AuditBuffer, token: str, new_password: str
) -> bool:
    now = runtime.now()
    row = await session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == credentials.sha256(token.strip())).with_for_update()
    )
    user = await session.get(User, row.user_id) if row is not None else None
    if row is None or user is None or row.used_at is not None or row.expires_at <= now or not user.is_active:
        raise BadInput("the reset link is invalid or has expired", field="token")
    _check_new(new_password, "newPassword")
    user.password_hash = await offload.cpu(credentials.hash_password, new_password)
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    await sessions.end_all(session, runtime, user.id, "password_reset")
    audit.event("UPDATE", entity_type="user", entity_id=str(user.id), fields=["password"],
                details={"change": "resetPassword"})
    return True

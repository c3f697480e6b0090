"""Second factor: TOTP (RFC 6238, pyotp) enrolment and confirmation, one-use recovery codes, the login check.

The TOTP secret is stored AES-256-GCM encrypted under the workspace data key (bound to users.mfa_secret
and the user id); recovery codes are shown once and kept as SHA-256 hashes (64 random bits each,
used once, and throttled with the login). A TOTP code is accepted once: a replay within its window fails.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.decisions import DecisionTable
from db.crypto import FieldLocation
from db.models import MfaRecoveryCode, User, WorkspaceMeta
from db.tenancy import Tenant
from resolvers.errors import BadInput, Conflict, Unauthenticated
from resolvers.identity import credentials
from resolvers.runtime import Caller, Runtime

RECOVERY_CODES = 10
ISSUER = "HK CRM"


@dataclass(frozen=True)
class Enrollment:
    secret: str
    otpauth_uri: str
    recovery_codes: list[str]


class WrongCode(Unauthenticated):
    """A wrong TOTP or recovery code at login."""


def _location(user: User) -> FieldLocation:
    return FieldLocation("users", "mfa_secret", str(user.id))


async def _me(session: AsyncSession, caller: Caller) -> User:
    user_id = caller.principal.user_id
    user = await session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise Unauthenticated("only a signed-in user can set up MFA")
    return user


async def enroll(session: AsyncSession, caller: Caller) -> Enrollment:
    """A new secret and recovery codes, pending until `confirm`; enrolling again replaces a pending one."""
    user = await _me(session, caller)
    if user.mfa_enabled_at is not None:
        raise Conflict("MFA is enabled already")
    secret = pyotp.random_base32()
    user.mfa_secret = caller.tenant.cipher.encrypt_str(_location(user), secret)
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]
    await session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    session.add_all(
        MfaRecoveryCode(code_hash=credentials.sha256(c), user_id=user.id, created_at=caller.runtime.now())
        for c in codes
    )
    await session.flush()
    caller.audit.event("UPDATE", entity_type="user", entity_id=str(user.id), details={"change": "enrollMfa"})
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=f"{ISSUER} ({caller.tenant.slug})")
    return Enrollment(secret, uri, codes)


async def confirm(session: AsyncSession, caller: Caller, code: str) -> User:
    """The first code from the authenticator app turns MFA on: from then on login needs `otp`."""
    user = await _me(session, caller)
    if user.mfa_enabled_at is not None:
        raise Conflict("MFA is enabled already")
    if user.mfa_secret is None:
        raise Conflict("no enrolment to confirm: call enrollMfa first")
    if not await _totp_ok(caller.runtime, caller.tenant, user, code):
        raise BadInput("wrong or expired code", field="code")
    user.mfa_enabled_at = caller.runtime.now()
    await session.flush()
    caller.audit.event("UPDATE", entity_type="user", entity_id=str(user.id), fields=["mfaEnabled"],
                       details={"change": "confirmMfa"})
    return user


async def second_factor(
    session: AsyncSession, runtime: Runtime, tenant: Tenant, user: User, otp: str | None
) -> str | None:
    """How the user passed the second factor (`totp`, `recovery_code`), `None` when they need none.

    Raises MFA_REQUIRED without a code and `WrongCode` (MFA_INVALID) with a wrong one; the caller counts and
    audits that failure like a wrong password.
    """
    if user.mfa_enabled_at is None:
        return None
    if not otp or not otp.strip():
        raise Unauthenticated("this account needs a one-time code: send `otp`", reason="MFA_REQUIRED")
    if await _totp_ok(runtime, tenant, user, otp):
        return "totp"
    used = await session.scalar(
        update(MfaRecoveryCode)
        .where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == credentials.sha256(otp.strip().lower()),
            MfaRecoveryCode.used_at.is_(None),
        )
        .values(used_at=runtime.now())
        .returning(MfaRecoveryCode.code_hash)
    )
    if used is None:
        raise WrongCode("wrong one-time code", reason="MFA_INVALID")
    return "recovery_code"


async def _totp_ok(runtime: Runtime, tenant: Tenant, user: User, code: str) -> bool:
    if user.mfa_secret is None:
        return False
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    secret = tenant.cipher.decrypt_str(_location(user), user.mfa_secret)
    if not pyotp.TOTP(secret).verify(code, valid_window=1):
        return False
    # One use per code: the window is 3 steps of 30 s, so remember it 90 s.
    return bool(await runtime.redis.set(f"crm:totp-used:{tenant.slug}:{user.id}:{code}", 1, nx=True, ex=90))


def guarded(table: DecisionTable) -> bool:
    """Roles whose holders must use MFA when the workspace requires it: policy editors and workspace admins."""
    return table.allows("policy", "write") or table.allows("workspace", "write")


async def enrolment_pending(session: AsyncSession, user: User, table: DecisionTable) -> bool:
    """True when the workspace requires MFA of this user's roles and they have not set it up yet."""
    if user.mfa_enabled_at is not None or not guarded(table):
        return False
    return await is_required(session)


def pending(mfa_enabled_at: datetime | None, table: DecisionTable, *, required: bool) -> bool:
    """`enrolment_pending` when the workspace's requirement was read already (`accounts.authenticate`)."""
    return required and mfa_enabled_at is None and guarded(table)


async def settings(session: AsyncSession, caller: Caller) -> bool:
    caller.access.require("workspace", "read")
    return await is_required(session)


async def update_settings(session: AsyncSession, caller: Caller, require_mfa: bool | None) -> bool:
    """Turning the requirement on needs the caller's own MFA first, so they do not lose their own access."""
    caller.access.require("workspace", "write")
    if require_mfa is None:
        return await is_required(session)
    if require_mfa:
        me = await _me(session, caller)
        if me.mfa_enabled_at is None:
            raise Conflict("set up MFA for yourself first (enrollMfa, confirmMfa)", field="requireMfa")
    await session.execute(update(WorkspaceMeta).where(WorkspaceMeta.id == 1).values(require_mfa=require_mfa))
    caller.audit.event("UPDATE", entity_type="workspace", entity_id=caller.tenant.slug,
                       details={"change": "updateWorkspaceSettings", "requireMfa": require_mfa})
    return require_mfa


async def is_required(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(WorkspaceMeta.require_mfa).where(WorkspaceMeta.id == 1)))

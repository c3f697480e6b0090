"""Identity: who the bearer of a token or key is, logins, users, teams, API keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from authz.principal import Principal
from db.audit import AuditBuffer
from db.models import ApiKey, AuthSession, SupportGrant, Team, User, WorkspaceMeta
from db.sessions import ShieldedSession
from db.tenancy import Tenant
from resolvers import offload, policies
from resolvers.contacts.validation import InvalidValue, normalize_email, normalize_name
from resolvers.errors import BadInput, Conflict, NotFound, RateLimited, Unauthenticated
from resolvers.identity import credentials, mfa, sessions, throttle
from resolvers.runtime import Caller, Runtime

MIN_PASSWORD_LENGTH = 10
KEY_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Bearer:
    """What the Authorization header says, before the workspace database is consulted."""

    workspace: str
    token: str
    claims: credentials.TokenClaims | None  # None for an API key


def read_bearer(runtime: Runtime, header: str | None) -> Bearer | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token or API key>'")
    token = token.strip()
    workspace = credentials.api_key_workspace(token)
    if workspace is not None:
        return Bearer(workspace, token, None)
    claims = credentials.read_token(runtime.secret_key, token)
    if claims is None:
        raise Unauthenticated("invalid or expired token")
    return Bearer(claims.workspace, token, claims)


# One statement per request for a user token: the session, its user, and the workspace's MFA requirement
# and policy version (`workspace_meta`, one row), as plain columns (no ORM objects to build).
_SIGNED_IN = (
    select(
        User.id,
        User.email,
        User.team_id,
        User.is_active,
        User.mfa_enabled_at,
        AuthSession.id,
        AuthSession.revoked_at,
        AuthSession.expires_at,
        WorkspaceMeta.require_mfa,
        WorkspaceMeta.policy_version,
    )
    .join(AuthSession, AuthSession.user_id == User.id)
    .outerjoin(WorkspaceMeta, WorkspaceMeta.id == 1)
    .where(User.id == bindparam("user_id"), AuthSession.id == bindparam("session_id"))
)


async def authenticate(session: ShieldedSession, runtime: Runtime, tenant: Tenant, bearer: Bearer) -> Principal:
    """Checked on every request against the database: revoked sessions and deactivated users stop at once.

    A user token costs one statement (`_SIGNED_IN`): session, user, MFA requirement and policy version.
    """
    now = datetime.now(UTC)
    if bearer.claims is None:
        found = (
            await session.execute(
                select(ApiKey, User.is_active)
                .outerjoin(User, User.id == ApiKey.created_by)
                .where(ApiKey.key_hash == credentials.hash_api_key(bearer.token))
            )
        ).one_or_none()
        key = found[0] if found else None
        creator_active = found is None or found[1] is not False  # keys made before users, or by the system
        if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise Unauthenticated("invalid, revoked or expired API key")
        if not creator_active:
            raise Unauthenticated("the user who created this API key is deactivated")
        await _note_key_use(session, key, now)
        return Principal("api_key", key.id, frozenset({key.role}), None, label=key.name)
    claims = bearer.claims
    if claims.kind == "support":
        grant = await _active_grant(runtime, tenant, claims.grant_id)
        if grant is None:
            raise Unauthenticated("the support grant has ended")
        return Principal("support", claims.subject_id, frozenset({"support"}), None, label="support", grant_id=grant.id)
    if claims.session_id is None:
        raise Unauthenticated("the session has ended or the user is deactivated: sign in again")
    row = (
        await session.execute_core(_SIGNED_IN, {"user_id": claims.subject_id, "session_id": claims.session_id})
    ).one_or_none()
    if row is None:
        raise Unauthenticated("the session has ended or the user is deactivated: sign in again")
    user_id, email, team_id, active, mfa_enabled_at, session_id, revoked_at, expires_at, require_mfa, version = (
        tuple(row)
    )
    if not active or revoked_at is not None or expires_at <= now:
        raise Unauthenticated("the session has ended or the user is deactivated: sign in again")
    policy = await policies.workspace_policy(session, runtime, tenant.slug, known_version=version)
    roles = policy.roles_of(policies.user_subject(user_id))
    if mfa.pending(mfa_enabled_at, policy.table(roles), required=bool(require_mfa)):
        roles = frozenset()  # the workspace requires MFA of these roles: nothing but enrolling until it is set up
    return Principal("user", user_id, roles, team_id, label=email, session_id=session_id)


async def _note_key_use(session: AsyncSession, key: ApiKey, now: datetime) -> None:
    """`lastUsedAt` to the minute: at most one write a minute per key, not one per request."""
    if key.last_used_at is not None and now - key.last_used_at < KEY_USE_RESOLUTION:
        return
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - KEY_USE_RESOLUTION))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def _active_grant(runtime: Runtime, tenant: Tenant, grant_id: uuid.UUID | None) -> SupportGrant | None:
    if grant_id is None:
        return None
    now = datetime.now(UTC)
    async with runtime.directory.catalog.connect() as conn:
        row = (
            await conn.execute(
                select(SupportGrant).where(
                    SupportGrant.id == grant_id,
                    SupportGrant.workspace_id == tenant.id,
                    SupportGrant.revoked_at.is_(None),
                    SupportGrant.starts_at <= now,
                    SupportGrant.expires_at > now,
                )
            )
        ).one_or_none()
    return row  # type: ignore[return-value]


@dataclass(frozen=True)
class Session:
    token: str
    expires_at: datetime
    refresh_token: str
    user: User
    roles: list[str]
    mfa_enrolment_required: bool = False


async def login(
    session: AsyncSession,
    runtime: Runtime,
    tenant: Tenant,
    audit: AuditBuffer,
    email: str,
    password: str,
    client: str | None,
    otp: str | None = None,
) -> Session:
    if "\x00" in email:  # no stored address holds one, and PostgreSQL text cannot
        raise Unauthenticated("wrong workspace, email or password")
    attempt = await throttle.start(runtime.redis, runtime.login_limits, tenant.slug, email, client)
    if attempt.throttled_by is not None:
        if await throttle.first_refusal(runtime.redis, runtime.login_limits, attempt):
            audit.event(
                "LOGIN_FAILED",
                entity_type="user",
                details={
                    "email": _email_hint(email),
                    "reason": "throttled",
                    "limit": attempt.throttled_by,
                    "attempts": attempt.counts[attempt.throttled_by],
                    "windowSeconds": runtime.login_limits.window_seconds,
                },
            )
        raise RateLimited("too many failed logins; try again later")
    user = await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    ok = await offload.cpu(credentials.verify_password, user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        _failed(audit, email, user, "wrong_password" if ok is False else "inactive")
        raise Unauthenticated("wrong workspace, email or password")
    try:
        method = await mfa.second_factor(session, runtime, tenant, user, otp)
    except mfa.WrongCode:
        _failed(audit, email, user, "wrong_otp")
        raise
    await throttle.succeeded(runtime.redis, attempt)
    user.last_login_at = runtime.now()
    if credentials.needs_rehash(user.password_hash):  # an older form (parallelism=4): today's parameters
        user.password_hash = await offload.cpu(credentials.hash_password, password)
    audit.actor = replace(audit.actor, actor_id=user.id, actor_kind="user")
    audit.event("LOGIN", entity_type="user", entity_id=str(user.id), details={"mfa": method} if method else None)
    issued = await sessions.start(session, runtime, tenant, user)
    policy = await policies.workspace_policy(session, runtime, tenant.slug)
    roles = policy.roles_of(policies.user_subject(user.id))
    pending = await mfa.enrolment_pending(session, user, policy.table(roles))
    return Session(issued.token, issued.expires_at, issued.refresh_token, user, sorted(roles), pending)


def _failed(audit: AuditBuffer, email: str, user: User | None, reason: str) -> None:
    """The attempt was counted before the password was checked (`throttle.start`): only the event is left."""
    audit.event(
        "LOGIN_FAILED",
        entity_type="user",
        entity_id=str(user.id) if user else None,
        details={"email": _email_hint(email), "reason": reason},
    )


def _email_hint(email: str) -> str:
    """Failed logins name the attempted account only by a masked hint (no free-form PII in the log)."""
    local, _, domain = email.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


@dataclass(frozen=True)
class NewUser:
    email: str
    password: str
    display_name: str
    roles: list[str]
    team_id: uuid.UUID | None


def validate_new_user(data: NewUser) -> NewUser:
    try:
        email = normalize_email(data.email)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="email") from exc
    if len(data.password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"passwords have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    try:
        name = normalize_name(data.display_name)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="displayName") from exc
    if not data.roles:
        raise BadInput("give the user at least one role", field="roles")
    return NewUser(email, data.password, name, data.roles, data.team_id)


async def create_user(session: AsyncSession, caller: Caller, data: NewUser) -> User:
    caller.access.require(Resource.USER, Action.WRITE)
    caller.access.require("user", "write")
    caller.access.require_role_binding()
    return await insert_user(session, caller, data)


async def insert_user(
    session: AsyncSession, caller: Caller | None, data: NewUser, *, policy: policies.WorkspacePolicy | None = None
) -> User:
    data = validate_new_user(data)
    if await session.scalar(select(User.id).where(func.lower(User.email) == data.email.lower())):
        raise Conflict("a user with this email exists already", field="email")
    if data.team_id is not None and await session.get(Team, data.team_id) is None:
        raise BadInput("no such team", field="teamId")
    password_hash = await offload.cpu(credentials.hash_password, data.password)
    user = User(
        id=uuid.uuid4(),
        email=data.email,
        display_name=data.display_name,
        password_hash=password_hash,
        team_id=data.team_id,
    )
    session.add(user)
    await session.flush()
    if caller is not None:
        policy = await policies.current_policy(session, caller)
    assert policy is not None
    await policies.grant_roles(session, policy, user.id, data.roles)
    if caller is not None:
        caller.audit.event("CREATE", entity_type="user", entity_id=str(user.id), fields=["email", "displayName"])
        await policies.changed(
            session, caller, details={"change": "createUser", "userId": str(user.id), "roles": data.roles}
        )
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


async def create_team(session: AsyncSession, caller: Caller, name: str) -> Team:
    caller.access.require(Resource.TEAM, Action.WRITE)
    try:
        name = normalize_name(name)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="name") from exc
    if await session.scalar(select(Team.id).where(Team.name == name)):
        raise Conflict("a team with this name exists already", field="name")
    team = Team(id=uuid.uuid4(), name=name)
    session.add(team)
    await session.flush()
    caller.audit.event("CREATE", entity_type="team", entity_id=str(team.id), fields=["name"])
    return team


@dataclass(frozen=True)
class NewApiKey:
    key: str
    api_key: ApiKey


async def create_api_key(
    session: AsyncSession, caller: Caller, name: str, role: str, expires_at: datetime | None
) -> NewApiKey:
    caller.access.require(Resource.API_KEY, Action.WRITE)
    caller.access.require("api_key", "write")
    caller.access.require_role_binding()
    try:
        name = normalize_name(name)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="name") from exc
    policy = await policies.current_policy(session, caller)
    if role not in policy.all_roles():
        raise BadInput(f"unknown role {role!r}", field="role")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise BadInput("the expiry must be in the future", field="expiresAt")
    if expires_at is None:
        expires_at = datetime.now(UTC) + timedelta(days=caller.runtime.api_key_default_days)
    key = credentials.new_api_key(caller.tenant.slug)
    row = ApiKey(
        id=uuid.uuid4(),
        name=name,
        key_hash=credentials.hash_api_key(key),
        prefix=key[: min(len(caller.tenant.slug) + 9, 32)],  # api_keys.prefix is varchar(32); slugs reach 32
        role=role,
        created_by=caller.principal.user_id,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    caller.audit.event("CREATE", entity_type="api_key", entity_id=str(row.id), details={"role": role})
    policies.binding_recorded(caller, details={"change": "createApiKey", "apiKeyId": str(row.id), "role": role})
    return NewApiKey(key, row)


async def revoke_api_key(session: AsyncSession, caller: Caller, key_id: uuid.UUID) -> ApiKey:
    caller.access.require(Resource.API_KEY, Action.WRITE)
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("no such API key")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.flush()
        caller.audit.event("DELETE", entity_type="api_key", entity_id=str(row.id))
    return row

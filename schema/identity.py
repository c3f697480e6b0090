"""Identity types and operations: login, me, users, teams, roles, API keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from authz.permissions import NO_SIGN_IN, SIGNED_IN
from resolvers import policies
from resolvers.errors import NotFound
from resolvers.identity import accounts as identity
from schema.context import Context
from schema.ids import to_global, uuid_of
from schema.nodes import Node


@strawberry.type(description="A group of users; `team` record scopes compare with it.")
class Team(Node):
    id: strawberry.ID
    name: str
    created_at: dt.datetime

    @classmethod
    def from_model(cls, t: Any) -> Team:
        return cls(id=strawberry.ID(to_global("Team", t.id)), name=t.name, created_at=t.created_at)


@strawberry.type(description="A person who signs in to the workspace.")
class User(Node):
    id: strawberry.ID
    email: str
    display_name: str
    roles: list[str] = strawberry.field(description="Roles bound to the user directly (see `policies`).")
    active: bool = strawberry.field(description="False once deactivated: sign-in, tokens and their API keys refused.")
    is_active: bool = strawberry.field(deprecation_reason="Use `active`.")
    created_at: dt.datetime
    last_login_at: dt.datetime | None = strawberry.field(description="The last successful sign-in.")
    mfa_enabled: bool = strawberry.field(description="Signs in with a one-time code (TOTP) as well as the password.")
    team_id: strawberry.Private[Any]

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> Team | None:
        return None if self.team_id is None else await team_of(info, self.team_id)

    @classmethod
    def from_model(cls, u: Any, roles: list[str]) -> User:
        return cls(
            id=strawberry.ID(to_global("User", u.id)),
            email=u.email,
            display_name=u.display_name,
            roles=roles,
            active=u.is_active,
            is_active=u.is_active,
            created_at=u.created_at,
            last_login_at=u.last_login_at,
            mfa_enabled=u.mfa_enabled_at is not None,
            team_id=u.team_id,
        )


async def user_of(info: Info[Context, None], user_id: Any) -> User | None:
    """A user through the request's loader (null without `user` read), with their roles."""
    row = await info.context.loaders.users_by_id.load(user_id)
    if row is None:
        return None
    return User.from_model(row, (await info.context.caller()).roles_of(row.id))


async def team_of(info: Info[Context, None], team_id: Any) -> Team | None:
    row = await info.context.loaders.teams_by_id.load(team_id)
    return None if row is None else Team.from_model(row)


@strawberry.type(description="A signed-in session: a short-lived access token and a one-use refresh token.")
class Session:
    token: str = strawberry.field(description="The access token: send it as `Authorization: Bearer <token>`.")
    expires_at: dt.datetime = strawberry.field(description="When `token` expires; `refreshSession` gives a new one.")
    refresh_token: str = strawberry.field(
        description="Trade it once for a new session token with `refreshSession`; reusing one ends the session."
    )
    user: User
    mfa_enrolment_required: bool = strawberry.field(
        default=False,
        description="The workspace requires MFA of this user's roles: until `enrollMfa` and `confirmMfa`, the "
        "session can do nothing else.",
    )


@strawberry.type(description="A partner's key: bound to one role, shown once, stored as a hash.")
class ApiKey(Node):
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The key's first characters, to recognise it; not a secret.")
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None = strawberry.field(description="Last request made with it, to the minute.")
    created_by_id: strawberry.Private[Any]

    @strawberry.field(description="The user who created it (null without `user read`, or for the system).")
    async def created_by(self, info: Info[Context, None]) -> User | None:
        return None if self.created_by_id is None else await user_of(info, self.created_by_id)

    @classmethod
    def from_model(cls, k: Any) -> ApiKey:
        return cls(
            id=strawberry.ID(to_global("ApiKey", k.id)),
            name=k.name,
            prefix=k.prefix,
            role=k.role,
            created_at=k.created_at,
            expires_at=k.expires_at,
            revoked_at=k.revoked_at,
            last_used_at=k.last_used_at,
            created_by_id=k.created_by,
        )


@strawberry.type
class NewApiKey:
    key: str = strawberry.field(description="The key itself. Shown once: only its hash is stored.")
    api_key: ApiKey


@strawberry.input
class UserInput:
    email: str
    password: str
    display_name: str
    roles: list[str]
    team_id: strawberry.ID | None = None


@strawberry.type
class IdentityQueries:
    @strawberry.field(description="The signed-in user (NOT_FOUND for an API key or support access). " + SIGNED_IN)
    async def me(self, info: Info[Context, None]) -> User:
        async with info.context.db() as (session, caller):
            if caller.principal.user_id is None:
                raise NotFound("this credential is not a user (API key or support access)")
            user = await identity.get_user(session, caller.principal.user_id)
            return User.from_model(user, caller.roles_of(user.id))


@strawberry.type
class IdentityMutations:
    @strawberry.mutation(
        description="Sign in. A user with MFA also sends `otp` (a TOTP or recovery code); without it the answer is "
        "UNAUTHENTICATED with `extensions.reason: MFA_REQUIRED`. " + NO_SIGN_IN
    )
    async def login(
        self,
        info: Info[Context, None],
        workspace: str,
        email: str,
        password: str,
        otp: Annotated[str | None, strawberry.argument(description="The one-time code, for users with MFA.")] = None,
    ) -> Session:
        ctx = info.context
        session = await ctx.open_workspace(workspace)
        assert ctx.tenant is not None
        async with ctx.locked_session():
            result = await identity.login(
                session, ctx.runtime, ctx.tenant, ctx.audit, email, password, ctx.audit.actor.client_ip, otp
            )
        return Session(
            token=result.token,
            expires_at=result.expires_at,
            refresh_token=result.refresh_token,
            user=User.from_model(result.user, result.roles),
            mfa_enrolment_required=result.mfa_enrolment_required,
        )

    @strawberry.mutation(
        description="A new user with roles. Requires `user write` (binding roles may also need `policy write`)."
    )
    async def create_user(self, info: Info[Context, None], input: UserInput) -> User:
        team_id = uuid_of(str(input.team_id), "Team", "teamId") if input.team_id else None
        data = identity.NewUser(input.email, input.password, input.display_name, list(input.roles), team_id)
        async with info.context.mutation() as (session, caller):
            user = await identity.create_user(session, caller, data)
        return User.from_model(user, sorted(set(input.roles)))

    @strawberry.mutation(description="Bind a role to a user. Requires `policy write`.")
    async def assign_role(self, info: Info[Context, None], user_id: strawberry.ID, role: str) -> User:
        uid = uuid_of(str(user_id), "User", "userId")
        async with info.context.mutation() as (session, caller):
            user = await identity.get_user(session, uid)
            await policies.assign_role(session, caller, user, role)
            roles = sorted({*caller.roles_of(user.id), role})
        return User.from_model(user, roles)

    @strawberry.mutation(description="Unbind a role from a user (never the last admin). Requires `policy write`.")
    async def revoke_role(self, info: Info[Context, None], user_id: strawberry.ID, role: str) -> User:
        uid = uuid_of(str(user_id), "User", "userId")
        async with info.context.mutation() as (session, caller):
            user = await identity.get_user(session, uid)
            await policies.revoke_role(session, caller, user, role)
            roles = sorted(set(caller.roles_of(user.id)) - {role})
        return User.from_model(user, roles)

    @strawberry.mutation(description="A new team. Requires `team write`.")
    async def create_team(self, info: Info[Context, None], name: str) -> Team:
        async with info.context.mutation() as (session, caller):
            return Team.from_model(await identity.create_team(session, caller, name))

    @strawberry.mutation(
        description="A partner API key bound to one role, shown once; without `expiresAt` it expires after "
        "CRM_API_KEY_DEFAULT_DAYS (365). Requires `api_key write`."
    )
    async def create_api_key(
        self, info: Info[Context, None], name: str, role: str, expires_at: dt.datetime | None = None
    ) -> NewApiKey:
        async with info.context.mutation() as (session, caller):
            created = await identity.create_api_key(session, caller, name, role, expires_at)
        return NewApiKey(key=created.key, api_key=ApiKey.from_model(created.api_key))

    @strawberry.mutation(description="Stop an API key at once. Requires `api_key write`.")
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> ApiKey:
        key_id = uuid_of(str(id), "ApiKey", "id")
        async with info.context.mutation() as (session, caller):
            return ApiKey.from_model(await identity.revoke_api_key(session, caller, key_id))

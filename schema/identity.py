"""Identity types and operations: login, me, users, teams, roles, API keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import policies
from resolvers.errors import NotFound
from resolvers.identity import accounts as identity
from schema.context import Context
from schema.ids import to_global, uuid_of
from schema.nodes import Node


@strawberry.type
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
    roles: list[str]
    is_active: bool
    created_at: dt.datetime
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
            is_active=u.is_active,
            created_at=u.created_at,
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


@strawberry.type
class Session:
    token: str
    expires_at: dt.datetime
    user: User


@strawberry.type
class ApiKey(Node):
    id: strawberry.ID
    name: str
    prefix: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

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
    @strawberry.field
    async def me(self, info: Info[Context, None]) -> User:
        async with info.context.db() as (session, caller):
            if caller.principal.user_id is None:
                raise NotFound("this credential is not a user (API key or support access)")
            user = await identity.get_user(session, caller.principal.user_id)
            return User.from_model(user, caller.roles_of(user.id))


@strawberry.type
class IdentityMutations:
    @strawberry.mutation
    async def login(self, info: Info[Context, None], workspace: str, email: str, password: str) -> Session:
        ctx = info.context
        session = await ctx.open_workspace(workspace)
        assert ctx.tenant is not None
        async with ctx.locked_session():
            result = await identity.login(
                session, ctx.runtime, ctx.tenant, ctx.audit, email, password, ctx.audit.actor.client_ip
            )
        return Session(
            token=result.token, expires_at=result.expires_at, user=User.from_model(result.user, result.roles)
        )

    @strawberry.mutation
    async def create_user(self, info: Info[Context, None], input: UserInput) -> User:
        team_id = uuid_of(str(input.team_id), "Team", "teamId") if input.team_id else None
        data = identity.NewUser(input.email, input.password, input.display_name, list(input.roles), team_id)
        async with info.context.mutation() as (session, caller):
            user = await identity.create_user(session, caller, data)
        return User.from_model(user, sorted(set(input.roles)))

    @strawberry.mutation
    async def assign_role(self, info: Info[Context, None], user_id: strawberry.ID, role: str) -> User:
        uid = uuid_of(str(user_id), "User", "userId")
        async with info.context.mutation() as (session, caller):
            user = await identity.get_user(session, uid)
            await policies.assign_role(session, caller, user, role)
            roles = sorted({*caller.roles_of(user.id), role})
        return User.from_model(user, roles)

    @strawberry.mutation
    async def revoke_role(self, info: Info[Context, None], user_id: strawberry.ID, role: str) -> User:
        uid = uuid_of(str(user_id), "User", "userId")
        async with info.context.mutation() as (session, caller):
            user = await identity.get_user(session, uid)
            await policies.revoke_role(session, caller, user, role)
            roles = sorted(set(caller.roles_of(user.id)) - {role})
        return User.from_model(user, roles)

    @strawberry.mutation
    async def create_team(self, info: Info[Context, None], name: str) -> Team:
        async with info.context.mutation() as (session, caller):
            return Team.from_model(await identity.create_team(session, caller, name))

    @strawberry.mutation
    async def create_api_key(
        self, info: Info[Context, None], name: str, role: str, expires_at: dt.datetime | None = None
    ) -> NewApiKey:
        async with info.context.mutation() as (session, caller):
            created = await identity.create_api_key(session, caller, name, role, expires_at)
        return NewApiKey(key=created.key, api_key=ApiKey.from_model(created.api_key))

    @strawberry.mutation
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> ApiKey:
        key_id = uuid_of(str(id), "ApiKey", "id")
        async with info.context.mutation() as (session, caller):
            return ApiKey.from_model(await identity.revoke_api_key(session, caller, key_id))

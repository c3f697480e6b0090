"""Roles as things: `roleDetails`, `describeRole`, `roleTemplates`, `createRole`, `deleteRole`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from authz.templates import RoleTemplate as Template
from resolvers import roles
from schema.context import Context
from schema.identity import User, user_of
from schema.policies import PolicyRule

READ, WRITE = requires(Resource.POLICY, Action.READ), requires(Resource.POLICY, Action.WRITE)


@strawberry.type(description="A role: its rules, who holds it, who made it.")
class Role:
    name: str
    description: str
    built_in: bool = strawberry.field(description="One of the default roles every workspace starts with; "
                                                  "it cannot be deleted.")
    template: str | None = strawberry.field(description="The template its first rules were copied from.")
    created_at: dt.datetime | None = strawberry.field(description="When `createRole` made it (null: built in, "
                                                                  "or named by a rule before roles were things).")
    members: int = strawberry.field(description="Users bound to the role directly.")
    api_keys: int = strawberry.field(description="Live (not revoked, not expired) API keys bound to the role.")
    rules: list[PolicyRule]
    owner_id: strawberry.Private[Any]

    @strawberry.field(description="The user who created it (null for a built-in role, or without `user read`).")
    async def owner(self, info: Info[Context, None]) -> User | None:
        return None if self.owner_id is None else await user_of(info, self.owner_id)

    @classmethod
    def from_info(cls, r: roles.RoleInfo) -> Role:
        return cls(
            name=r.name, description=r.description, built_in=r.built_in, template=r.template,
            created_at=r.created_at, members=r.members, api_keys=r.api_keys,
            rules=[PolicyRule.from_rule(x) for x in r.rules], owner_id=r.owner_id,
        )


@strawberry.type(description="A ready-made set of rules for a common role; `createRole(fromTemplate:)` copies it.")
class RoleTemplate:
    name: str
    description: str
    rules: list[PolicyRule] = strawberry.field(description="The rules a role made from it gets (`role` here is "
                                                           "the template's name).")

    @classmethod
    def from_template(cls, t: Template) -> RoleTemplate:
        return cls(name=t.name, description=t.description,
                   rules=[PolicyRule.from_rule(r) for r in t.rules_for(t.name)])


@strawberry.input
class RoleInput:
    name: str = strawberry.field(description="1-64 characters of a-z, 0-9, '_' and '-'.")
    description: str | None = None
    from_template: str | None = strawberry.field(default=None, description="Copy this template's rules "
                                                                           "(see `roleTemplates`).")


@strawberry.type
class RoleQueries:
    @strawberry.field(description=f"Every role with its description, owner, members and rules. {READ}")
    async def role_details(self, info: Info[Context, None]) -> list[Role]:
        async with info.context.db() as (session, caller):
            return [Role.from_info(r) for r in await roles.list_roles(session, caller)]

    @strawberry.field(description=f"One role (NOT_FOUND if no rule or `createRole` made it). {READ}")
    async def describe_role(self, info: Info[Context, None], name: str) -> Role:
        async with info.context.db() as (session, caller):
            return Role.from_info(await roles.describe(session, caller, name))

    @strawberry.field(description=f"Templates for the usual Hong Kong SME roles: front desk, accountant, data "
                                  f"protection officer. {READ}")
    async def role_templates(self, info: Info[Context, None]) -> list[RoleTemplate]:
        caller = await info.context.caller()
        return [RoleTemplate.from_template(t) for t in roles.list_templates(caller)]


@strawberry.type
class RoleMutations:
    @strawberry.mutation(description="A new role, owned by the caller; with `fromTemplate` its rules are copied "
                                     f"from that template (every process enforces them within 2 s). {WRITE}")
    async def create_role(self, info: Info[Context, None], input: RoleInput) -> Role:
        async with info.context.mutation() as (session, caller):
            return Role.from_info(
                await roles.create(session, caller, input.name, input.description, input.from_template)
            )

    @strawberry.mutation(description="Delete a role and its rules: CONFLICT for a built-in role and while a user "
                                     f"or an API key is bound to it. {WRITE}")
    async def delete_role(
        self, info: Info[Context, None],
        name: Annotated[str, strawberry.argument(description="The role's name.")],
    ) -> bool:
        async with info.context.mutation() as (session, caller):
            return await roles.delete_role(session, caller, name)

"""Permission administration: rules, roles, explanations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from authz.permissions import SIGNED_IN
from authz.rules import Effect as RuleEffect
from authz.rules import Rule
from resolvers import access_review, policies
from resolvers.identity import accounts as identity
from schema.context import Context
from schema.enums import Effect
from schema.ids import uuid_of


@strawberry.type
class PolicyRule:
    role: str
    resource: str
    action: str
    effect: Effect
    scope: str | None

    @classmethod
    def from_rule(cls, r: Rule) -> PolicyRule:
        return cls(role=r.role, resource=r.resource, action=r.action, effect=Effect(r.effect.value), scope=r.scope)


@strawberry.input
class PolicyRuleInput:
    role: str
    resource: str
    action: str
    effect: Effect
    scope: str | None = "all"

    def to_rule(self) -> Rule:
        return Rule(self.role, self.resource, self.action, RuleEffect(self.effect.value), self.scope or "all")


@strawberry.type
class AccessDecision:
    resource: str
    action: str
    roles: list[str]
    effect: Effect = strawberry.field(description="The strongest effect that can apply (DENY if nothing allows).")
    scopes: list[str] = strawberry.field(description="Record scopes where it applies.")
    rules: list[PolicyRule] = strawberry.field(description="The rules that decided it, strongest first.")
    reason: str


@strawberry.type
class PolicyQueries:
    @strawberry.field(description="The rules, of one role or all. Requires `policy read`.")
    async def policies(self, info: Info[Context, None], role: str | None = None) -> list[PolicyRule]:
        async with info.context.db() as (session, caller):
            return [PolicyRule.from_rule(r) for r in await policies.list_rules(session, caller, role)]

    @strawberry.field(description="Every role named in a rule or created with `createRole`. " + SIGNED_IN)
    async def roles(self, info: Info[Context, None]) -> list[str]:
        async with info.context.db() as (session, caller):
            return await policies.list_roles(session, caller)

    @strawberry.field(
        description="Why a user may or may not do something (with `contactId`: on that one contact). "
        "Requires `policy read`."
    )
    async def explain_access(
        self,
        info: Info[Context, None],
        user_id: strawberry.ID,
        resource: str,
        action: str,
        contact_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Explain the decision on this one contact.")
        ] = None,
    ) -> AccessDecision:
        uid = uuid_of(str(user_id), "User", "userId")
        cid = uuid_of(str(contact_id), "Contact", "contactId") if contact_id else None
        async with info.context.db() as (session, caller):
            user = await identity.get_user(session, uid)
            if cid is None:
                e = await policies.explain(session, caller, user, resource, action)
            else:
                e = await access_review.explain_record(session, caller, user, resource, action, cid)
        return AccessDecision(
            resource=e.resource,
            action=e.action,
            roles=e.roles,
            effect=Effect(e.effect.value),
            scopes=e.scopes,
            rules=[PolicyRule.from_rule(r) for r in e.rules],
            reason=e.reason,
        )


@strawberry.type
class PolicyMutations:
    @strawberry.mutation(description="Add a rule; every process enforces it within 2 s. Requires `policy write`.")
    async def add_policy(self, info: Info[Context, None], rule: PolicyRuleInput) -> PolicyRule:
        async with info.context.mutation() as (session, caller):
            return PolicyRule.from_rule(await policies.add_rule(session, caller, rule.to_rule()))

    @strawberry.mutation(description="Remove a rule (never the last admin rule). Requires `policy write`.")
    async def remove_policy(self, info: Info[Context, None], rule: PolicyRuleInput) -> bool:
        async with info.context.mutation() as (session, caller):
            return await policies.remove_rule(session, caller, rule.to_rule())

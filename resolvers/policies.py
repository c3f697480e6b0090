"""Policies: loading a workspace's compiled decisions, and the admin API that edits rules and roles.

Every change bumps the workspace's policy version in the same transaction, is audited as one
POLICY_CHANGE event, and is published to the other processes after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz import rules as rulebook
from authz.access import Access
from authz.defaults import ADMIN_ROLE, default_rules
from authz.fields import definition_specs
from authz.permissions import Action, Resource
from authz.principal import Principal
from authz.rules import Effect, Rule
from authz.store import WorkspacePolicy, build_policy
from db.models import User
from db.queries import policies as q
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.runtime import Caller, Runtime
from resolvers.webhooks import events as webhook_events


async def workspace_policy(
    session: AsyncSession, runtime: Runtime, slug: str, *, known_version: int | None = None
) -> WorkspacePolicy:
    """`known_version`: `workspace_meta.policy_version` as this transaction read it already (no second lookup)."""

    async def authoritative() -> int:
        if known_version is not None:
            return int(known_version)
        return await q.policy_version(session)

    version = await runtime.versions.current(slug, authoritative)
    cached = runtime.policies.cached(slug, version)
    if cached is not None:
        return cached
    return await reload_policy(session, runtime, slug)


async def load_policy(session: AsyncSession) -> WorkspacePolicy:
    """The workspace's policy as stored now, compiled afresh (for jobs that have no runtime cache at hand)."""
    version = await q.policy_version(session)
    lines = await q.load_policy_lines(session)
    definitions = await q.load_field_definitions(session)
    return build_policy(version, lines, definition_specs(definitions), await q.load_role_names(session))


async def reload_policy(session: AsyncSession, runtime: Runtime, slug: str) -> WorkspacePolicy:
    return runtime.policies.put(slug, await load_policy(session))


async def holders(session: AsyncSession, policy: WorkspacePolicy, resource: str, action: str) -> list[str]:
    """E-mail addresses of the active users whose roles allow `resource action`, from the compiled decisions."""
    users = (await session.execute(select(User.id, User.email).where(User.is_active.is_(True)))).all()
    return sorted(email for user_id, email in users
                  if policy.table(policy.roles_of(user_subject(user_id))).allows(resource, action))


def user_subject(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


async def seed_defaults(session: AsyncSession) -> None:
    """Load the default policy file into a new workspace."""
    for rule in default_rules():
        await q.add_line(session, "p", rule.as_casbin())


async def changed(session: AsyncSession, caller: Caller, *, details: dict[str, object]) -> int:
    """Bump the version, audit the change, and publish the new version after commit."""
    version = await q.bump_policy_version(session)
    caller.audit.event("POLICY_CHANGE", entity_type="policy", details={**details, "policyVersion": version})
    await webhook_events.emit(session, caller, "policy.changed", caller.tenant.slug)
    slug, versions = caller.tenant.slug, caller.runtime.versions

    async def publish() -> None:
        await versions.publish(slug, version)

    caller.after_commit.append(publish)
    return version


def binding_recorded(caller: Caller, *, details: dict[str, object]) -> None:
    """A role bound outside the Casbin rules (an API key's role): audited as a POLICY_CHANGE, no version bump."""
    caller.audit.event(
        "POLICY_CHANGE", entity_type="policy", details={**details, "policyVersion": caller.policy.version}
    )


async def current_policy(session: AsyncSession, caller: Caller) -> WorkspacePolicy:
    return await workspace_policy(session, caller.runtime, caller.tenant.slug)


async def list_rules(session: AsyncSession, caller: Caller, role: str | None) -> list[Rule]:
    caller.access.require(Resource.POLICY, Action.READ)
    return (await current_policy(session, caller)).rules(role)


async def list_roles(session: AsyncSession, caller: Caller) -> list[str]:
    policy = await current_policy(session, caller)
    return policy.all_roles()


async def add_rule(session: AsyncSession, caller: Caller, rule: Rule) -> Rule:
    caller.access.require(Resource.POLICY, Action.WRITE)
    policy = await current_policy(session, caller)
    rule = rulebook.validate(rule, policy.registry)
    if rule in policy.rules(rule.role):
        raise Conflict("this rule exists already")
    if rule.effect is Effect.DENY:  # a DENY can lock everyone out as surely as removing the last ALLOW
        await _guard_lockout(session, policy, add_rule=rule)
    await q.add_line(session, "p", rule.as_casbin())
    await changed(session, caller, details={"change": "addPolicy", "rule": rule.as_casbin()})
    return rule


async def remove_rule(session: AsyncSession, caller: Caller, rule: Rule) -> bool:
    caller.access.require(Resource.POLICY, Action.WRITE)
    policy = await current_policy(session, caller)
    rule = rulebook.validate(rule, policy.registry)
    if rule not in policy.rules(rule.role):
        raise NotFound("no such rule")
    await _guard_lockout(session, policy, remove_rule=rule)
    await q.remove_line(session, "p", rule.as_casbin())
    await changed(session, caller, details={"change": "removePolicy", "rule": rule.as_casbin()})
    return True


async def assign_role(session: AsyncSession, caller: Caller, user: User, role: str) -> None:
    caller.access.require(Resource.POLICY, Action.WRITE)
    caller.access.require_role_binding()
    policy = await current_policy(session, caller)
    if role not in policy.all_roles():
        raise BadInput(f"unknown role {role!r}", field="role")
    if role in policy.roles_of(user_subject(user.id)):
        return
    await q.add_line(session, "g", [user_subject(user.id), role])
    await changed(session, caller, details={"change": "assignRole", "userId": str(user.id), "role": role})


async def revoke_role(session: AsyncSession, caller: Caller, user: User, role: str) -> None:
    caller.access.require(Resource.POLICY, Action.WRITE)
    policy = await current_policy(session, caller)
    if role not in policy.roles_of(user_subject(user.id)):
        raise NotFound(f"the user does not have the role {role!r}")
    await _guard_lockout(session, policy, revoke=(user.id, role))
    await q.remove_line(session, "g", [user_subject(user.id), role])
    await changed(session, caller, details={"change": "revokeRole", "userId": str(user.id), "role": role})


async def grant_roles(session: AsyncSession, policy: WorkspacePolicy, user_id: uuid.UUID, roles: list[str]) -> None:
    known = set(policy.all_roles())
    for role in roles:
        if role not in known:
            raise BadInput(f"unknown role {role!r}", field="roles")
    for role in dict.fromkeys(roles):
        await q.add_line(session, "g", [user_subject(user_id), role])


async def _guard_lockout(
    session: AsyncSession,
    policy: WorkspacePolicy,
    *,
    remove_rule: Rule | None = None,
    add_rule: Rule | None = None,
    revoke: tuple[uuid.UUID, str] | None = None,
    deactivate: uuid.UUID | None = None,
) -> None:
    """Refuse a change after which no active user could edit policies any more."""
    lines = [("p", r.as_casbin()) for r in policy.rules() if r != remove_rule]
    if add_rule is not None:
        lines.append(("p", add_rule.as_casbin()))
    users = list((await session.execute(select(User.id).where(User.is_active.is_(True)))).scalars())
    users = [u for u in users if u != deactivate]
    for user_id in users:
        roles = set(policy.roles_of(user_subject(user_id)))
        if revoke is not None and revoke[0] == user_id:
            roles.discard(revoke[1])
        lines += [("g", [user_subject(user_id), role]) for role in roles]
    trial = build_policy(policy.version, lines, policy.registry.custom("contact") + policy.registry.custom("activity"))
    for user_id in users:
        if trial.table(trial.roles_of(user_subject(user_id))).allows(Resource.POLICY, Action.WRITE):
            return
    raise Conflict("this change would leave no one able to edit policies (the last admin rule or the last admin)")


async def guard_deactivation(session: AsyncSession, caller: Caller, user_id: uuid.UUID) -> None:
    """CONFLICT when deactivating this user would leave no active user able to edit policies."""
    await _guard_lockout(session, await current_policy(session, caller), deactivate=user_id)


@dataclass(frozen=True)
class AccessExplanation:
    resource: str
    action: str
    roles: list[str]
    effect: Effect
    scopes: list[str]
    rules: list[Rule]
    reason: str


async def explain(session: AsyncSession, caller: Caller, user: User, resource: str, action: str) -> AccessExplanation:
    caller.access.require(Resource.POLICY, Action.READ)
    policy = await current_policy(session, caller)
    roles = policy.roles_of(user_subject(user.id))
    subject = Access(Principal("user", user.id, roles, user.team_id), policy.table(roles))
    table = subject.table
    kind = rulebook.resource_kind(resource)
    if kind == "record":
        ruling = table.record(resource, action)
        effect = Effect.ALLOW if ruling.allow and "all" not in ruling.deny else Effect.DENY
        reason = (
            f"records in scopes {', '.join(ruling.allow)}"
            + (f" except {', '.join(ruling.deny)}" if ruling.deny else "")
            if ruling.allow
            else "no rule allows it (deny by default)"
        )
        return AccessExplanation(
            resource, action, sorted(table.roles), effect, list(ruling.allow), list(ruling.rules), reason
        )
    if kind == "field":
        entity, _, name = resource.partition(".")
        if policy.registry.get(entity, name) is None:
            raise BadInput(f"unknown field {resource!r}", field="resource")
        field_ruling = table.field(entity, name, action)
        ordered = list(field_ruling.ordered)
        if field_ruling.constant is not None:
            effect = field_ruling.constant
            first = ordered[0] if ordered else None
            reason = (
                f"{first.effect.value.upper()} by {first.role}: {first.resource} ({first.scope})"
                if first
                else (
                    "PII is denied unless a rule allows it"
                    if field_ruling.default is Effect.DENY
                    else "non-PII field: follows the record rule"
                )
            )
            scopes = ["all"]
        else:
            effect = ordered[0].effect
            reason = "depends on the record: " + "; ".join(f"{r.effect.value.upper()} on {r.scope}" for r in ordered)
            scopes = [r.scope for r in ordered]
        return AccessExplanation(resource, action, sorted(table.roles), effect, scopes, ordered, reason)
    if kind == "operation":
        allowed = table.allows(resource, action)
        return AccessExplanation(
            resource,
            action,
            sorted(table.roles),
            Effect.ALLOW if allowed else Effect.DENY,
            ["all"] if allowed else [],
            table.matching(resource, action),
            "allowed by a rule" if allowed else "no rule allows it, or a rule denies it",
        )
    raise BadInput(f"explainAccess takes a record, field or operation resource, not {resource!r}", field="resource")


__all__ = ["ADMIN_ROLE", "AccessExplanation", "WorkspacePolicy", "build_policy", "q"]

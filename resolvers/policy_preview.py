"""`previewPolicyChange`: before a rule is added or removed, who gains or loses what, and on how many records.

The current policy and a trial policy (the same lines with the rule added or removed) are compiled by the
same `build_policy`; each active user's and each live API key's decision tables are compared field by field
(`authz.effective`), record rule by record rule, or as an operation check. Nothing is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz import effective
from authz import rules as rulebook
from authz.access import Access
from authz.decisions import DecisionTable
from authz.fields import ENTITIES
from authz.principal import Principal
from authz.rules import Rule
from authz.store import WorkspacePolicy, build_policy
from db.models import Activity, ApiKey, Contact, User
from db.queries import policies as q
from resolvers import policies
from resolvers.errors import Conflict, NotFound
from resolvers.runtime import Caller

MODELS = {"contact": Contact, "activity": Activity}


@dataclass(frozen=True)
class Change:
    resource: str  # a field (`contact.email`), a record rule (`contact`) or an operation (`user`)
    action: str
    before: tuple[effective.ScopedEffect, ...]
    after: tuple[effective.ScopedEffect, ...]


@dataclass(frozen=True)
class Impact:
    kind: str  # user | api_key
    id: uuid.UUID
    label: str
    roles: list[str]
    changes: list[Change]
    records: int | None  # records of the entity in their scope (after the change) where the rule's scope holds


async def preview(session: AsyncSession, caller: Caller, rule: Rule, add: bool, now: datetime) -> list[Impact]:
    caller.access.require("policy", "read")
    policy = await policies.current_policy(session, caller)
    rule = rulebook.validate(rule, policy.registry)
    present = rule in policy.rules(rule.role)
    if add and present:
        raise Conflict("this rule exists already")
    if not add and not present:
        raise NotFound("no such rule")
    trial = _trial(policy, await q.load_policy_lines(session), rule, add)
    impacts: list[Impact] = []
    for principal, label in await _principals(session, policy, now):
        before, after = policy.table(principal.roles), trial.table(principal.roles)
        if rule.role not in after.roles | before.roles:
            continue
        changes = _changes(before, after, rule)
        if changes:
            records = await _records(session, Access(principal, after), rule)
            impacts.append(Impact(principal.kind, principal.id, label, sorted(principal.roles), changes, records))  # type: ignore[arg-type]
    return impacts


def _trial(policy: WorkspacePolicy, lines: list[tuple[str, list[str]]], rule: Rule, add: bool) -> WorkspacePolicy:
    line = ("p", rule.as_casbin())
    kept = [entry for entry in lines if entry != line]
    if add:
        kept.append(line)
    custom = [spec for entity in ENTITIES for spec in policy.registry.custom(entity)]
    return build_policy(policy.version, kept, custom, policy.declared)


async def _principals(session: AsyncSession, policy: WorkspacePolicy, now: datetime) -> list[tuple[Principal, str]]:
    out: list[tuple[Principal, str]] = []
    for user in (await session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.email))).all():
        roles = policy.roles_of(policies.user_subject(user.id))
        out.append((Principal("user", user.id, roles, user.team_id, label=user.email), user.email))
    keys = select(ApiKey).where(ApiKey.revoked_at.is_(None), (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now))
    for key in (await session.scalars(keys.order_by(ApiKey.name))).all():
        out.append((Principal("api_key", key.id, frozenset({key.role}), None, label=key.name), key.name))
    return out


def _entities(rule: Rule) -> tuple[str, ...]:
    kind = rulebook.resource_kind(rule.resource)
    if kind in ("record", "field"):
        return (rule.resource.partition(".")[0],)
    return ENTITIES if kind == "group" else ()


def _changes(before: DecisionTable, after: DecisionTable, rule: Rule) -> list[Change]:
    kind = rulebook.resource_kind(rule.resource)
    changes: list[Change] = []
    if kind == "operation":
        was_allowed, now_allowed = before.allows(rule.resource, rule.action), after.allows(rule.resource, rule.action)
        if was_allowed != now_allowed:
            changes.append(Change(rule.resource, rule.action, _flag(was_allowed), _flag(now_allowed)))
        return changes
    if kind == "record":
        was_allow, was_deny = effective.record_scopes(before, rule.resource, rule.action)
        now_allow, now_deny = effective.record_scopes(after, rule.resource, rule.action)
        if (was_allow, was_deny) != (now_allow, now_deny):
            was, now = _scoped(was_allow, was_deny), _scoped(now_allow, now_deny)
            changes.append(Change(rule.resource, rule.action, was, now))
        return changes
    for entity in _entities(rule):
        for old, new in zip(effective.effective_fields(before, entity), effective.effective_fields(after, entity),
                            strict=True):
            for action in effective.ACTIONS:
                if getattr(old, action) != getattr(new, action):
                    changes.append(Change(f"{entity}.{old.field}", action, getattr(old, action), getattr(new, action)))
    return changes


def _flag(allowed: bool) -> tuple[effective.ScopedEffect, ...]:
    return (effective.ScopedEffect("all", rulebook.Effect.ALLOW if allowed else rulebook.Effect.DENY),)


def _scoped(allow: tuple[str, ...], deny: tuple[str, ...]) -> tuple[effective.ScopedEffect, ...]:
    return tuple([*(effective.ScopedEffect(s, rulebook.Effect.DENY) for s in deny),
                  *(effective.ScopedEffect(s, rulebook.Effect.ALLOW) for s in allow if s not in deny)])


async def _records(session: AsyncSession, access: Access, rule: Rule) -> int | None:
    entities = [e for e in _entities(rule) if e in MODELS]
    if len(entities) != 1:
        return None
    entity = entities[0]
    condition = access.record_filter(entity)
    if rule.scope != "all":
        condition = condition & access.scope_columns(entity, [rule.scope])[rule.scope]
    return int(await session.scalar(select(func.count()).select_from(MODELS[entity].__table__).where(condition)) or 0)


"""Roles as things: each role's description, owner, members and rules; creating a role (empty, or copied from a
template of `authz.templates`) and deleting one that nothing is bound to.

Reading needs `policy read`, changing `policy write`. A change bumps the policy version and is one
POLICY_CHANGE event (`policies.changed`), so every process picks the new rules up within the reload window.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz import rules as rulebook
from authz import templates
from authz.permissions import Action, Resource
from authz.rules import Rule
from authz.store import WorkspacePolicy
from db.models import ApiKey, CasbinRule, RoleDefinition
from resolvers import policies
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.runtime import Caller

MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class RoleInfo:
    name: str
    description: str
    owner_id: uuid.UUID | None
    built_in: bool
    template: str | None
    created_at: datetime | None
    members: int  # users bound to the role directly
    api_keys: int  # live (not revoked, not expired) API keys bound to it
    rules: list[Rule]


def list_templates(caller: Caller) -> list[templates.RoleTemplate]:
    caller.access.require(Resource.POLICY, Action.READ)
    return list(templates.TEMPLATES)


async def list_roles(session: AsyncSession, caller: Caller) -> list[RoleInfo]:
    caller.access.require(Resource.POLICY, Action.READ)
    policy = await policies.current_policy(session, caller)
    rows = await _definitions(session)
    keys = await _live_keys(session, caller)
    return [_info(policy, name, rows.get(name), keys.get(name, 0)) for name in policy.all_roles()]


async def describe(session: AsyncSession, caller: Caller, name: str) -> RoleInfo:
    caller.access.require(Resource.POLICY, Action.READ)
    policy = await policies.current_policy(session, caller)
    if name not in policy.all_roles():
        raise NotFound(f"no role {name!r}")
    row = (await _definitions(session)).get(name)
    return _info(policy, name, row, (await _live_keys(session, caller)).get(name, 0))


async def create(
    session: AsyncSession, caller: Caller, name: str, description: str | None, template: str | None
) -> RoleInfo:
    caller.access.require(Resource.POLICY, Action.WRITE)
    name = rulebook.role_name(name, field="name")
    text = (description or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise BadInput(f"a description is at most {MAX_DESCRIPTION} characters", field="description")
    chosen = None
    if template is not None:
        chosen = templates.BY_NAME.get(template)
        if chosen is None:
            raise BadInput(f"unknown template {template!r}; one of {', '.join(templates.BY_NAME)}",
                           field="fromTemplate")
    policy = await policies.current_policy(session, caller)
    if name in policy.all_roles() or await session.get(RoleDefinition, name) is not None:
        raise Conflict(f"the role {name!r} exists already")
    rules = [rulebook.validate(r, policy.registry) for r in (chosen.rules_for(name) if chosen else [])]
    owner = caller.principal.user_id
    row = RoleDefinition(name=name, description=text, owner_id=owner, template=(chosen.name if chosen else None))
    session.add(row)
    for rule in rules:
        await policies.q.add_line(session, "p", rule.as_casbin())
    await session.flush()
    await policies.changed(session, caller, details={
        "change": "createRole", "role": name, "template": (chosen.name if chosen else None),
        "rules": [r.as_casbin() for r in rules],
    })
    return RoleInfo(name, text, owner, False, row.template, row.created_at, 0, 0, rules)


async def delete_role(session: AsyncSession, caller: Caller, name: str) -> bool:
    """Delete a role and its rules. CONFLICT for a built-in role, and while a user, an API key or another
    role is bound to it (revoke those first: deleting never changes anyone's access silently)."""
    caller.access.require(Resource.POLICY, Action.WRITE)
    policy = await policies.current_policy(session, caller)
    if name not in policy.all_roles():
        raise NotFound(f"no role {name!r}")
    if templates.is_built_in(name):
        raise Conflict(f"{name!r} is a built-in role; remove its rules instead", detail="BUILT_IN_ROLE")
    bound = policy.direct_members(name)
    users = [m for m in bound if m.startswith("user:")]
    heirs = [m for m in bound if ":" not in m]
    keys = (await _live_keys(session, caller)).get(name, 0)
    if users or keys or heirs:
        parts = [f"{len(users)} user(s)" if users else "", f"{keys} API key(s)" if keys else "",
                 f"the role(s) {', '.join(heirs)}" if heirs else ""]
        raise Conflict(f"the role {name!r} is still bound to {', '.join(p for p in parts if p)}; revoke it first",
                       detail="ROLE_IN_USE")
    removed = await session.execute(delete(CasbinRule).where(CasbinRule.ptype == "p", CasbinRule.v0 == name))
    await session.execute(delete(RoleDefinition).where(RoleDefinition.name == name))
    await policies.changed(session, caller, details={
        "change": "deleteRole", "role": name, "rules": int(removed.rowcount or 0),  # type: ignore[attr-defined]
    })
    return True


def _info(policy: WorkspacePolicy, name: str, row: RoleDefinition | None, api_keys: int) -> RoleInfo:
    built_in = templates.is_built_in(name)
    description = templates.BUILT_IN_DESCRIPTIONS.get(name, "") if built_in else (row.description if row else "")
    members = sum(1 for m in policy.direct_members(name) if m.startswith("user:"))
    return RoleInfo(
        name=name,
        description=description,
        owner_id=row.owner_id if row else None,
        built_in=built_in,
        template=row.template if row else None,
        created_at=row.created_at if row else None,
        members=members,
        api_keys=api_keys,
        rules=policy.rules(name),
    )


async def _definitions(session: AsyncSession) -> dict[str, RoleDefinition]:
    return {r.name: r for r in (await session.scalars(select(RoleDefinition))).all()}


async def _live_keys(session: AsyncSession, caller: Caller) -> dict[str, int]:
    now = caller.runtime.now()
    rows = await session.execute(
        select(ApiKey.role, func.count())
        .where(ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now))
        .group_by(ApiKey.role)
    )
    return {role: int(n) for role, n in rows.all()}

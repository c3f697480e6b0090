"""Permissions: a read-only matrix of fields (grouped by PII category) against roles, each cell the compiled
read decision of that role; a cell opens the rules that decided it, in plain words. Rules are added or removed
through the policy resolvers, so the lockout guard's refusal shows inline.

The cells come from one function, `cells`, over the workspace policy the resolvers compile; once the identity
branch's `effectiveAccess` resolver is merged, `cells` calls it instead (same shape: per scope, an effect).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authz.decisions import FieldRuling
from authz.rules import ACTIONS, Effect, Rule
from authz.store import WorkspacePolicy
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers import policies

ENTITIES = ("contact", "activity")


def cells(policy: WorkspacePolicy, entity: str, roles: list[str]) -> list[dict[str, Any]]:
    """Per field of `entity`: its PII category and, per role, the compiled read decision as (scope, effect)
    pairs in precedence order, and the rules behind it."""
    rows = []
    tables = {role: policy.table(frozenset([role])) for role in roles}
    for spec in policy.registry.of(entity).values():
        per_role = {}
        for role, table in tables.items():
            ruling = table.field(entity, spec.name, "read")
            scoped = _effects(ruling)
            per_role[role] = {"effects": scoped, "rules": [r.as_casbin() for r in ruling.ordered],
                              "default": ruling.default.value}
        rows.append({"field": spec.name, "pii": spec.pii, "roles": per_role})
    rows.sort(key=lambda r: (r["pii"] is None, r["pii"] or "", r["field"]))
    return rows


def _effects(ruling: FieldRuling) -> list[tuple[str, str]]:
    """The (scope, effect) pairs that decide, in precedence order: up to the first rule on `all`."""
    if ruling.constant is not None:
        return [("all", ruling.constant.value)]
    out = []
    for rule in ruling.ordered:
        out.append((rule.scope, rule.effect.value))
        if rule.scope == "all":
            break
    return out


async def _render(console: Console, refused: Refusal | None = None) -> Response:
    entity = console.field("entity") if console.field("entity") in ENTITIES else "contact"
    role_filter = console.field("role") or None
    async with console.db() as (db, caller):
        rules = await policies.list_rules(db, caller, None)
        roles = await policies.list_roles(db, caller)
        policy = await policies.current_policy(db, caller)
        may_write = caller.access.can("policy", "write")
    matrix = cells(policy, entity, roles)
    picked = None
    field_name = console.field("field")
    if field_name and role_filter in roles:
        picked = next(({"field": r["field"], "role": role_filter, **r["roles"][role_filter]}
                       for r in matrix if r["field"] == field_name), None)
    shown = [r for r in rules if r.role == role_filter]
    return console.render(
        "permissions.html", status=refused.status if refused else 200, error=refused.message if refused else None,
        entity=entity, entities=ENTITIES, roles=roles, matrix=matrix, picked=picked, may_write=may_write,
        rules=[{"role": r.role, "resource": r.resource, "action": r.action, "effect": r.effect.value,
                "scope": r.scope} for r in shown],
        role_filter=role_filter, actions=ACTIONS, effects=[e.value for e in Effect], draft=dict(console.form or {}),
    )


async def _page(console: Console) -> Response:
    return await _render(console)


def _rule(console: Console) -> Rule:
    effect = console.field("effect").lower()
    return Rule(console.field("role"), console.field("resource"), console.field("action"),
                Effect(effect) if effect in {e.value for e in Effect} else Effect.ALLOW,
                console.field("scope") or "all")


async def _change(console: Console, add: bool) -> Response:
    rule = _rule(console)

    async def work() -> None:
        async with console.mutation() as (db, caller):
            if add:
                await policies.add_rule(db, caller, rule)
            else:
                await policies.remove_rule(db, caller, rule)

    refused = await attempt(work)
    if refused:
        return await _render(console, refused)
    return see_other(f"/admin/permissions?role={rule.role}&done={'rule_added' if add else 'rule_removed'}#rules")


async def index(request: Request) -> Response:
    return await page(request, "policies", _page)


async def add(request: Request) -> Response:
    return await page(request, "addPolicy", lambda c: _change(c, True))


async def remove(request: Request) -> Response:
    return await page(request, "removePolicy", lambda c: _change(c, False))


def routes() -> list[Route]:
    return [
        Route("/permissions", index, methods=["GET"]),
        Route("/permissions/add", add, methods=["POST"]),
        Route("/permissions/remove", remove, methods=["POST"]),
    ]

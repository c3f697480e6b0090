"""Permissions: the matrix of fields (grouped by PII category) against roles, each cell the compiled read effect
per scope from `effectiveAccess`; a cell opens its explanation in plain words. A change goes through a guarded
flow: choose effect and scope -> the preview from `previewPolicyChange` (who gains or loses what, on how many
records) -> confirm -> saved, the lockout guard's refusal shown inline. Also: a contact as another user would
receive it (`previewAs`), and the history of policy changes (POLICY_CHANGE audit events, newest first).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authz.rules import ACTIONS, Effect, Rule
from authz.scopes import CONSENT_PURPOSES, ENTITY_SCOPES
from console.pages import lookup
from console.render import when
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers import access_review, policies, policy_preview
from resolvers.audit import log as audit
from resolvers.errors import TYPED, BadInput, DomainError, NotFound
from resolvers.identity import directory

ENTITIES = ("contact", "activity")
EFFECTS = tuple(e.value for e in Effect)
RULE_KEYS = ("role", "resource", "action", "effect", "scope")


def scopes_of(entity: str) -> list[str]:
    """The record scopes a rule on `entity` may name, `all` first."""
    named = sorted(ENTITY_SCOPES.get(entity, frozenset({"all"})) - {"all"})
    return ["all", *named, *(f"consented:{p}" for p in (*CONSENT_PURPOSES, "any"))]


def chain(effects: Any) -> list[tuple[str, str]]:
    return [(s.scope, s.effect.value) for s in effects]


async def cells(console: Console, entity: str, roles: list[str]) -> list[dict[str, Any]]:
    """Per field of `entity`: its PII category and, per role, `effectiveAccess`'s read (and write) chain."""
    rows: dict[str, dict[str, Any]] = {}
    async with console.db() as (db, caller):
        for role in roles:
            for access in await access_review.effective_access(db, caller, entity, role, None):
                row = rows.setdefault(access.field, {"field": access.field, "pii": access.pii_category,
                                                     "custom": access.custom, "roles": {}})
                row["roles"][role] = {"effects": chain(access.read), "write": chain(access.write)}
    out = list(rows.values())
    out.sort(key=lambda r: (r["pii"] is None, r["pii"] or "", r["field"]))
    return out


def _entity(console: Console) -> str:
    return console.field("entity") if console.field("entity") in ENTITIES else "contact"


async def _render(console: Console, refused: Refusal | None = None) -> Response:
    entity, role_filter = _entity(console), console.field("role") or None
    async with console.db() as (db, caller):
        rules = await policies.list_rules(db, caller, None)
        roles = await policies.list_roles(db, caller)
        policy = await policies.current_policy(db, caller)
        may_write = caller.access.can("policy", "write")
    matrix = await cells(console, entity, roles)
    picked = None
    field_name = console.field("field")
    if field_name and role_filter in roles:
        row = next((r for r in matrix if r["field"] == field_name), None)
        if row is not None:
            ruling = policy.table(frozenset([role_filter])).field(entity, field_name, "read")
            picked = {"field": field_name, "entity": entity, "role": role_filter, "pii": row["pii"],
                      **row["roles"][role_filter], "rules": [r.as_casbin() for r in ruling.ordered],
                      "default": ruling.default.value}
    shown = [r for r in rules if r.role == role_filter]
    return console.render(
        "permissions.html", status=refused.status if refused else 200, error=refused.message if refused else None,
        entity=entity, entities=ENTITIES, roles=roles, matrix=matrix, picked=picked, may_write=may_write,
        rules=[{"role": r.role, "resource": r.resource, "action": r.action, "effect": r.effect.value,
                "scope": r.scope} for r in shown],
        role_filter=role_filter, actions=ACTIONS, effects=EFFECTS, draft=dict(console.form or {}),
    )


async def _page(console: Console) -> Response:
    return await _render(console)


def _rule(console: Console) -> Rule:
    effect = console.field("effect").lower()
    if effect not in EFFECTS:
        raise BadInput("effect is allow, mask or deny", field="effect")
    return Rule(console.field("role"), console.field("resource"), console.field("action") or "read", Effect(effect),
                console.field("scope") or "all")


def _rule_view(rule: Rule) -> dict[str, str]:
    return {"role": rule.role, "resource": rule.resource, "action": rule.action, "effect": rule.effect.value,
            "scope": rule.scope}


def _back(rule: Rule) -> str:
    """The matrix cell a rule bears on (or the role's rules), to come back to once it is saved."""
    entity, _, name = rule.resource.partition(".")
    if entity in ENTITIES and name and name != "*":
        return f"/admin/permissions?entity={entity}&role={rule.role}&field={name}"
    return f"/admin/permissions?role={rule.role}"


# --- Changing a cell: choose -> preview -> confirm -------------------------------------------------------------

async def _choose(console: Console, refused: Refusal | None = None) -> Response:
    """Step 1: the cell as it is, and the effect and scope to give it."""
    await console.require("policy", "write")
    entity, role, name = _entity(console), console.field("role"), console.field("field")
    action = console.field("action") if console.field("action") in ("read", "write") else "read"
    async with console.db() as (db, caller):
        roles = await policies.list_roles(db, caller)
        if role not in roles:
            raise NotFound("no such role")
        fields = {a.field: a for a in await access_review.effective_access(db, caller, entity, role, None)}
    if name not in fields:
        raise NotFound("no such field")
    current = fields[name]
    return console.render(
        "permission_change.html", status=refused.status if refused else 200,
        error=refused.message if refused else None, entity=entity, role=role, field=name, action=action,
        pii=current.pii_category, effects_now=chain(current.read if action == "read" else current.write),
        effects=EFFECTS, scopes=scopes_of(entity), draft=dict(console.form or {}),
    )


async def choose(request: Request) -> Response:
    return await page(request, "changePolicyCell", _choose)


def _count(console: Console, key: str, n: int) -> str:
    return console.t(f"{key}_one" if n == 1 else key, n=n)


def _headline(console: Console, rule: Rule, add: bool, impacts: list[policy_preview.Impact]) -> str:
    """One sentence a person reads before confirming: "3 users gain clear HKID on up to 8 contacts"."""
    users = sum(1 for i in impacts if i.kind == "user")
    parts = [p for p in (_count(console, "preview.users", users) if users else "",
                         _count(console, "preview.keys", len(impacts) - users) if len(impacts) > users else "") if p]
    who = console.t("preview.users_and_keys", users=parts[0], keys=parts[1]) if len(parts) == 2 else parts[0]
    entity, _, name = rule.resource.partition(".")
    label = console.t("field." + name) if ("field." + name) in console.t.words else (name or rule.resource)
    counted = [i.records for i in impacts if i.records is not None]
    where = _count(console, f"preview.on_records.{entity}", max(counted)) if counted and entity in ENTITIES else ""
    verb = rule.effect.value if add else "remove"
    key = f"preview.headline.{verb}.{rule.action}"
    if key not in console.t.words:
        key = f"preview.headline.{verb}"
    if len(impacts) == 1:  # "1 user gains", "3 users gain"
        key += "_one"
    action = console.t("action." + rule.action) if ("action." + rule.action) in console.t.words else rule.action
    return console.t(key, who=who, field=label, action=action, where=where)


async def _preview_page(console: Console, rule: Rule, add: bool, refused: Refusal | None = None) -> Response:
    async with console.db() as (db, caller):
        impacts = await policy_preview.preview(db, caller, rule, add, caller.runtime.now())
    entity = rule.resource.partition(".")[0]
    rows = [{"kind": i.kind, "label": i.label, "roles": i.roles, "records": i.records,
             "changes": [{"resource": c.resource, "action": c.action, "before": chain(c.before),
                          "after": chain(c.after)} for c in i.changes]} for i in impacts]
    return console.render(
        "permission_preview.html", status=refused.status if refused else 200,
        error=refused.message if refused else None, rule=_rule_view(rule), add=add, impacts=rows,
        headline=_headline(console, rule, add, impacts) if impacts else None, entity=entity, back=_back(rule),
    )


async def _preview(console: Console) -> Response:
    """Step 2: `previewPolicyChange` for the chosen rule; nothing is written. A refusal of the rule itself (it
    exists already, no such rule, a bad scope) goes back to where it was chosen."""
    await console.require("policy", "write")
    add = console.field("change") != "remove"
    try:
        rule = _rule(console)
        return await _preview_page(console, rule, add)
    except TYPED as exc:
        if not isinstance(exc, DomainError) or exc.code == "FORBIDDEN":
            raise
        refused = Refusal(exc.code, str(exc))
        if console.field("from") == "cell":
            return await _choose(console, refused)
        return await _render(console, refused)


async def preview(request: Request) -> Response:
    return await page(request, "previewPolicyChange", _preview)


async def _change(console: Console, add: bool) -> Response:
    """Step 3 (confirm): the same `addPolicy` / `removePolicy` as GraphQL. The lockout guard's refusal is shown
    on the preview it was confirmed from."""
    rule = _rule(console)

    async def work() -> None:
        async with console.mutation() as (db, caller):
            if add:
                await policies.add_rule(db, caller, rule)
            else:
                await policies.remove_rule(db, caller, rule)

    refused = await attempt(work)
    if refused:
        if console.field("from") == "preview":
            return await _preview_page(console, rule, add, refused)
        return await _render(console, refused)
    back = _back(rule)
    anchor = "explain" if "field=" in back else "rules"
    return see_other(f"{back}&done={'rule_added' if add else 'rule_removed'}#{anchor}")


async def index(request: Request) -> Response:
    return await page(request, "policies", _page)


async def add(request: Request) -> Response:
    return await page(request, "addPolicy", lambda c: _change(c, True))


async def remove(request: Request) -> Response:
    return await page(request, "removePolicy", lambda c: _change(c, False))


# --- A contact as another user would receive it ------------------------------------------------------------------

def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


async def _preview_as(console: Console) -> Response:
    await console.require("policy", "read")
    user_id, contact_id, q = _uuid(console.field("user")), _uuid(console.field("contact")), console.field("q")
    result, people, contact = None, [], None
    async with console.db() as (db, caller):
        users = (await directory.users(db, caller, first=200, after=None, flt=directory.UserFilter(active=True),
                                       want_total=False)).items
        if q:
            people = await lookup.find(db, caller, "name", q, first=10)
        if contact_id is not None:
            contact = await lookup.one(db, caller, contact_id)
            if contact is None:
                raise NotFound("no such contact")
        if user_id is not None and contact_id is not None:
            shown = await access_review.preview_as(db, caller, user_id, contact_id)
            result = {"visible": shown.visible, "denied": shown.denied,
                      "fields": [(k, _readable(console, k, v)) for k, v in (shown.fields or {}).items()
                                 if k != "customFields"],
                      "custom": (shown.fields or {}).get("customFields") or {}}
    target = next((u for u in users if u.id == user_id), None)
    return console.render(
        "preview_as.html", users=[{"id": str(u.id), "label": f"{u.display_name} ({u.email})",
                                    "roles": caller.roles_of(u.id)} for u in users],
        user_id=str(user_id or ""), target=None if target is None else {"label": target.email,
                                                                         "roles": caller.roles_of(target.id)},
        q=q, people=people, contact=contact, contact_id=str(contact_id or ""), result=result,
    )


def _readable(console: Console, name: str, value: Any) -> Any:
    """A previewed value for a person: times in HKT, yes / no, the stage's label."""
    if isinstance(value, bool):
        return console.t("common.yes" if value else "common.no")
    if isinstance(value, str) and name.endswith("At"):
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    if name == "stage" and isinstance(value, str):
        return console.t(f"stage.{value}")
    return value


async def preview_as(request: Request) -> Response:
    return await page(request, "previewAs", _preview_as)


# --- The history of policy changes -------------------------------------------------------------------------------

def _what(details: dict[str, Any], emails: dict[str, str]) -> dict[str, Any]:
    change = str(details.get("change") or "")
    rule = details.get("rule")
    return {"change": change, "rule": ", ".join(map(str, rule)) if isinstance(rule, list) else None,
            "role": details.get("role") or ", ".join(details.get("roles") or []) or None,
            "user": emails.get(str(details.get("userId") or ""), details.get("userId")),
            "field": details.get("field"), "category": details.get("piiCategory"),
            "version": details.get("policyVersion")}


async def _history(console: Console) -> Response:
    await console.require("audit", "read")
    async with console.db() as (db, caller):
        found = await audit.list_events(db, caller, first=100, after=None,
                                        flt=audit.AuditFilter(action="POLICY_CHANGE"), want_total=True)
        users = (await directory.users(db, caller, first=200, after=None, flt=None, want_total=False)).items \
            if caller.access.can("user", "read") else []
    emails = {str(u.id): u.email for u in users}
    events = [{"occurred_at": e.occurred_at, "who": emails.get(str(e.actor_id), e.actor_kind),
               "actor_kind": e.actor_kind, **_what(e.details or {}, emails)} for e in found.items]
    return console.render("policy_history.html", events=events, total=found.total)


async def history(request: Request) -> Response:
    return await page(request, "policyHistory", _history)


def routes() -> list[Route]:
    return [
        Route("/permissions", index, methods=["GET"]),
        Route("/permissions/change", choose, methods=["GET"]),
        Route("/permissions/preview", preview, methods=["POST"]),
        Route("/permissions/add", add, methods=["POST"]),
        Route("/permissions/remove", remove, methods=["POST"]),
        Route("/permissions/preview-as", preview_as, methods=["GET"]),
        Route("/permissions/history", history, methods=["GET"]),
    ]

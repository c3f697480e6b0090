"""Retention (DPP2): the policies (create, edit, enable, disable, delete after a confirmation; CLEAR_FIELDS with its
field list), a dry run naming what would be affected and how many records the minimum-retention guards keep, a run.
The guard's refusal (MINIMUM_RETENTION) is said in words on the form."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.pages import lookup
from console.unit import Console, Refusal, attempt, in_words, page, see_other
from resolvers.contacts import contacts
from resolvers.errors import NotFound
from resolvers.retention import policies as retention
from resolvers.retention.language import ENTITIES

ACTIONS = ("ARCHIVE", "ANONYMISE", "DELETE", "CLEAR_FIELDS")


def policy_view(p: retention.Policy) -> dict[str, Any]:
    return {"id": str(p.id), "name": p.name, "entity": p.entity, "condition": p.condition,
            "after_days": p.after_days, "action": p.action, "enabled": p.enabled, "last_run_at": p.last_run_at,
            "fields": ", ".join(p.fields)}


def _fields(console: Console) -> tuple[str, ...]:
    """The CLEAR_FIELDS list as typed: names separated by commas or spaces."""
    return tuple(f for f in console.field("fields").replace(",", " ").split() if f)


async def _render(console: Console, run: dict[str, Any] | None = None, refused: Refusal | None = None) -> Response:
    async with console.db() as (db, caller):
        found = [policy_view(p) for p in await retention.list_policies(db, caller)]
        may_write = caller.access.can("retention_policy", "write")
    return console.render("retention.html", status=refused.status if refused else 200, policies=found, run=run,
                          error=in_words(console, refused) if refused else None, may_write=may_write,
                          entities=sorted(ENTITIES), actions=ACTIONS, draft=dict(console.form or {}))


async def _page(console: Console) -> Response:
    return await _render(console)


async def _create(console: Console) -> Response:
    try:
        days = int(console.field("after_days"))
    except ValueError:
        return await _render(console, refused=Refusal("BAD_USER_INPUT", console.t("retention.days_number")))
    data = retention.PolicyInput(console.field("name"), console.field("entity"), console.field("condition"), days,
                                 console.field("action"), console.field("enabled") == "on", _fields(console))

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await retention.create_policy(db, caller, data)

    refused = await attempt(work)
    return await _render(console, refused=refused) if refused else see_other("/admin/retention?done=policy_created")


async def _toggle(console: Console) -> Response:
    try:
        policy_id = uuid.UUID(console.field("policy"))
    except ValueError:
        return await _render(console, refused=Refusal("BAD_USER_INPUT", console.t("error.not_found")))
    enabled = console.field("enabled") == "true"

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await retention.set_enabled(db, caller, policy_id, enabled)

    refused = await attempt(work)
    return await _render(console, refused=refused) if refused else see_other("/admin/retention?done=policy_saved")


async def _run(console: Console) -> Response:
    dry = console.field("mode") != "run"
    if not dry and console.field("confirm") != "on":
        return await _render(console, refused=Refusal("BAD_USER_INPUT", console.t("retention.confirm_needed")))
    result: list[retention.RunResult] = []

    async def work() -> None:
        async with console.mutation() as (db, caller):
            result.append(await retention.run(db, caller, dry_run=dry))

    refused = await attempt(work)
    if refused:
        return await _render(console, refused=refused)
    rows = []
    async with console.db() as (db, caller):
        for item in result[0].policies:
            names: list[str] = []
            if item.sample_contact_ids:  # activity and consent policies: whose records they are
                found = await contacts.contacts_by_ids(db, caller, list(item.sample_contact_ids), lookup.SELECTION)
                names = [lookup.person(r)["name"] for r in found if r is not None]
            rows.append({"policy": policy_view(item.policy), "count": item.count, "guarded": item.guarded,
                         "names": names})
    return await _render(console, run={"dry_run": dry, "ran_at": result[0].ran_at, "rows": rows})


def _policy_id(console: Console) -> uuid.UUID:
    try:
        return uuid.UUID(str(console.request.path_params["id"]))
    except ValueError as exc:
        raise NotFound("no such retention policy") from exc


async def _one(console: Console, policy_id: uuid.UUID) -> dict[str, Any]:
    async with console.db() as (db, caller):
        found = next((p for p in await retention.list_policies(db, caller) if p.id == policy_id), None)
    if found is None:
        raise NotFound("no such retention policy")
    return policy_view(found)


async def _edit(console: Console) -> Response:
    """GET: the policy's form, filled in; POST: `updateRetentionPolicy` with what the form says."""
    await console.require("retention_policy", "write")
    policy_id = _policy_id(console)
    current = await _one(console, policy_id)
    refused: Refusal | None = None
    if console.form is not None:
        try:
            days = int(console.field("after_days"))
        except ValueError:
            refused = Refusal("BAD_USER_INPUT", console.t("retention.days_number"))
        else:
            given = {"name": console.field("name"), "entity": console.field("entity"),
                     "condition": console.field("condition"), "after_days": days, "action": console.field("action"),
                     "enabled": console.field("enabled") == "on", "fields": _fields(console)}

            async def work() -> None:
                async with console.mutation() as (db, caller):
                    await retention.update_policy(db, caller, policy_id, given)

            refused = await attempt(work)
            if refused is None:
                return see_other("/admin/retention?done=policy_saved")
    draft = dict(console.form) if console.form is not None else \
        {**current, "enabled": "on" if current["enabled"] else ""}
    return console.render("retention_edit.html", status=refused.status if refused else 200, policy=current,
                          draft=draft, error=in_words(console, refused) if refused else None,
                          entities=sorted(ENTITIES), actions=ACTIONS)


async def _delete(console: Console) -> Response:
    """GET: a confirmation naming the policy; POST: `deleteRetentionPolicy`."""
    await console.require("retention_policy", "write")
    policy_id = _policy_id(console)
    current = await _one(console, policy_id)
    if console.form is not None:
        async with console.mutation() as (db, caller):
            await retention.delete_policy(db, caller, policy_id)
        return see_other("/admin/retention?done=policy_deleted")
    return console.render("retention_delete.html", policy=current)


async def edit(request: Request) -> Response:
    return await page(request, "updateRetentionPolicy", _edit)


async def delete(request: Request) -> Response:
    return await page(request, "deleteRetentionPolicy", _delete)


async def index(request: Request) -> Response:
    return await page(request, "retentionPolicies", _page)


async def create(request: Request) -> Response:
    return await page(request, "createRetentionPolicy", _create)


async def toggle(request: Request) -> Response:
    return await page(request, "setRetentionPolicyEnabled", _toggle)


async def run(request: Request) -> Response:
    return await page(request, "runRetention", _run)


def routes() -> list[Route]:
    return [
        Route("/retention", index, methods=["GET"]),
        Route("/retention/policies", create, methods=["POST"]),
        Route("/retention/enabled", toggle, methods=["POST"]),
        Route("/retention/run", run, methods=["POST"]),
        Route("/retention/{id}/edit", edit, methods=["GET", "POST"]),
        Route("/retention/{id}/delete", delete, methods=["GET", "POST"]),
    ]

"""Roles as things: every role with its description, owner, members, API keys and whether it is built in
(`roleDetails`); a new role from a template (`roleTemplates`, `createRole`); deleting one (`deleteRole`), its
refusals (BUILT_IN_ROLE, ROLE_IN_USE) said in words next to the list. Linked from the permissions page."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.unit import Console, Refusal, attempt, in_words, page, see_other
from resolvers import roles
from resolvers.identity import directory

MAX_USERS = 200  # the directory's page limit; owners beyond it show as —


async def _render(console: Console, refused: Refusal | None = None, where: str = "") -> Response:
    await console.require("policy", "read")
    async with console.db() as (db, caller):
        found = await roles.list_roles(db, caller)
        made = roles.list_templates(caller)
        owners: dict[uuid.UUID, str] = {}
        if caller.access.can("user", "read") and any(r.owner_id for r in found):
            users = await directory.users(db, caller, first=MAX_USERS, after=None, flt=None, want_total=False)
            owners = {u.id: u.display_name or u.email for u in users.items}
        may_write = caller.access.can("policy", "write")
    rows: list[dict[str, Any]] = [
        {"name": r.name, "description": r.description, "built_in": r.built_in, "template": r.template,
         "created_at": r.created_at, "members": r.members, "api_keys": r.api_keys, "rules": len(r.rules),
         "owner": owners.get(r.owner_id) if r.owner_id else None}
        for r in found
    ]
    return console.render("roles.html", status=refused.status if refused else 200, roles=rows,
                          templates=[{"name": t.name, "description": t.description, "rules": len(t.rules)}
                                     for t in made],
                          error=in_words(console, refused) if refused else None, where=where, may_write=may_write,
                          draft=dict(console.form or {}))


async def _page(console: Console) -> Response:
    return await _render(console)


async def _create(console: Console) -> Response:
    name = console.field("name")

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await roles.create(db, caller, name, console.field("description") or None,
                               console.field("template") or None)

    refused = await attempt(work)
    return await _render(console, refused, "new") if refused else see_other("/admin/roles?done=role_created")


async def _delete(console: Console) -> Response:
    name = str(console.request.path_params["name"])

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await roles.delete_role(db, caller, name)

    refused = await attempt(work)
    return await _render(console, refused, "list") if refused else see_other("/admin/roles?done=role_deleted")


async def index(request: Request) -> Response:
    return await page(request, "roleDetails", _page)


async def create(request: Request) -> Response:
    return await page(request, "createRole", _create)


async def delete(request: Request) -> Response:
    return await page(request, "deleteRole", _delete)


def routes() -> list[Route]:
    return [
        Route("/roles", index, methods=["GET"]),
        Route("/roles/new", create, methods=["POST"]),
        Route("/roles/{name}/delete", delete, methods=["POST"]),
    ]

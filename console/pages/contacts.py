"""Contacts: find a person (as the caller's role sees them: masked and denied values as the API returns them)
and put them under a legal hold, or release it, with a reason."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.pages import lookup
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers.errors import BadInput
from resolvers.privacy import legal_hold


async def _render(console: Console, refused: Refusal | None = None) -> Response:
    await console.require("contact", "read")
    by, text = console.field("by") or "name", console.field("q")
    error, people = (refused.message if refused else None), []
    async with console.db() as (db, caller):
        if text:
            try:
                people = await lookup.find(db, caller, by, text, first=50)
            except BadInput as exc:
                error = str(exc)
        holds = await legal_hold.flags(db, caller, [uuid.UUID(p["id"]) for p in people]) if people else []
        may_hold = caller.access.can("retention_policy", "write")
        may_merge = caller.access.can("contact", "merge")
    for person, flags in zip(people, holds, strict=True):
        person["legal_hold"] = flags.legal_hold
        person["correction_pending"] = flags.correction_pending
    return console.render("contacts.html", status=refused.status if refused else 200, by=by, q=text, people=people,
                          searched=bool(text), error=error, by_options=lookup.BY, may_hold=may_hold,
                          may_merge=may_merge)


async def _page(console: Console) -> Response:
    return await _render(console)


async def _hold(console: Console) -> Response:
    try:
        contact_id = uuid.UUID(console.field("contact"))
    except ValueError:
        return await _render(console, Refusal("NOT_FOUND", console.t("error.not_found")))
    hold = console.field("hold") == "true"

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await legal_hold.set_hold(db, caller, contact_id, hold, console.field("reason"))

    refused = await attempt(work)
    if refused:
        return await _render(console, refused)
    back = f"/admin/contacts?by={console.field('by')}&q={console.field('q')}"
    return see_other(f"{back}&done={'hold_set' if hold else 'hold_released'}")


async def index(request: Request) -> Response:
    return await page(request, "contacts", _page)


async def hold(request: Request) -> Response:
    return await page(request, "setLegalHold", _hold)


def routes() -> list[Route]:
    return [Route("/contacts", index, methods=["GET"]), Route("/contacts/hold", hold, methods=["POST"])]

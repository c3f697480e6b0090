"""The workspace: the full export with its progress and download, support access (grant, revoke), and closing
the workspace (type its slug to confirm)."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import session as cookie
from console.pages.requests import export_view
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers.exports import jobs as exports
from resolvers.identity import support
from resolvers.workspaces import life

MAX_HOURS = 72


async def _render(console: Console, refused: Refusal | None = None, where: str = "") -> Response:
    await console.require("workspace", "read")
    job = None
    job_text = console.request.query_params.get("job")
    async with console.db() as (db, caller):
        if job_text:
            try:
                job = export_view(console, caller, await exports.get_job(db, caller, uuid.UUID(job_text)))
            except ValueError:
                job = None
    now, can = caller.runtime.now(), caller.access.can
    grants = list(await support.list_grants(caller)) if can("support_access", "read") else []
    tenant = caller.tenant
    return console.render(
        "workspace.html", status=refused.status if refused else 200, error=refused.message if refused else None,
        where=where, job=job, grants=[{"reason": g.reason, "starts_at": g.starts_at, "expires_at": g.expires_at,
                                       "revoked_at": g.revoked_at, "active": g.active(now)} for g in grants[:10]],
        ws={"name": tenant.name, "slug": tenant.slug, "region": tenant.region, "status": tenant.status},
        may_export=can("workspace", "export"), may_support=can("support_access", "write"),
        may_close=can("workspace", "write"), may_see_support=can("support_access", "read"), max_hours=MAX_HOURS,
    )


async def _page(console: Console) -> Response:
    return await _render(console)


async def _export(console: Console) -> Response:
    made: list[uuid.UUID] = []

    async def work() -> None:
        async with console.mutation() as (db, caller):
            made.append((await exports.request_workspace_export(db, caller)).id)

    refused = await attempt(work)
    return await _render(console, refused, "export") if refused else see_other(f"/admin/workspace?job={made[0]}#export")


async def _grant(console: Console) -> Response:
    try:
        hours = int(console.field("hours"))
    except ValueError:
        return await _render(console, Refusal("BAD_USER_INPUT", console.t("workspace.hours_number")), "support")

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await support.grant(db, caller, hours, console.field("reason"))

    refused = await attempt(work)
    return await _render(console, refused, "support") if refused else see_other("/admin/workspace?done=support_granted")


async def _revoke(console: Console) -> Response:
    async def work() -> None:
        async with console.mutation() as (db, caller):
            await support.revoke(db, caller)

    refused = await attempt(work)
    return await _render(console, refused, "support") if refused else see_other("/admin/workspace?done=support_revoked")


async def _close(console: Console) -> Response:
    async def work() -> None:
        async with console.mutation() as (db, caller):
            await life.close(db, caller, console.field("confirm_slug"))

    refused = await attempt(work)
    if refused:
        return await _render(console, refused, "close")
    response = see_other("/admin/login?closed=1")
    cookie.clear(response)  # nobody can sign in to a closing workspace
    return response


async def index(request: Request) -> Response:
    return await page(request, "workspace", _page)


async def export(request: Request) -> Response:
    return await page(request, "requestWorkspaceExport", _export)


async def grant(request: Request) -> Response:
    return await page(request, "grantSupportAccess", _grant)


async def revoke(request: Request) -> Response:
    return await page(request, "revokeSupportAccess", _revoke)


async def close(request: Request) -> Response:
    return await page(request, "closeWorkspace", _close)


def routes() -> list[Route]:
    return [
        Route("/workspace", index, methods=["GET"]),
        Route("/workspace/export", export, methods=["POST"]),
        Route("/workspace/support", grant, methods=["POST"]),
        Route("/workspace/support/revoke", revoke, methods=["POST"]),
        Route("/workspace/close", close, methods=["POST"]),
    ]

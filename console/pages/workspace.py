"""The workspace: its settings (business name, DPO contact, time zone, the MFA requirement), the full export with
its progress and download, support access (grant, revoke), and closing the workspace (type its slug to confirm)."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import session as cookie
from console.pages.requests import export_view
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers.exports import jobs as exports
from resolvers.identity import mfa, support
from resolvers.workspaces import life
from resolvers.workspaces import settings as workspace_settings

MAX_HOURS = 72
SETTINGS = ("businessName", "dpoName", "dpoEmail", "dpoPhone", "dpoAddress", "timeZone")


@cache
def time_zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


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
        current = await workspace_settings.get(db, caller)
        require_mfa = await mfa.settings(db, caller)
    grants = list(await support.list_grants(caller)) if can("support_access", "read") else []
    tenant = caller.tenant
    return console.render(
        "workspace.html", status=refused.status if refused else 200, error=refused.message if refused else None,
        where=where, job=job, grants=[{"reason": g.reason, "starts_at": g.starts_at, "expires_at": g.expires_at,
                                       "revoked_at": g.revoked_at, "active": g.active(now)} for g in grants[:10]],
        ws={"name": tenant.name, "slug": tenant.slug, "region": tenant.region, "status": tenant.status},
        may_export=can("workspace", "export"), may_support=can("support_access", "write"),
        may_close=can("workspace", "write"), may_see_support=can("support_access", "read"), max_hours=MAX_HOURS,
        settings=_settings_values(current, require_mfa, console if where == "settings" else None),
        zones=time_zones(), may_settings=can("workspace", "write"),
    )


def _settings_values(s: workspace_settings.Settings, require_mfa: bool, typed: Console | None) -> dict[str, Any]:
    """The form's values: what is saved, or what was typed when the save was refused."""
    if typed is not None:
        values: dict[str, Any] = {name: typed.field(name) for name in SETTINGS}
        values["requireMfa"] = typed.field("requireMfa") == "on"
        return values
    return {"businessName": s.business_name, "dpoName": s.dpo_name or "", "dpoEmail": s.dpo_email or "",
            "dpoPhone": s.dpo_phone or "", "dpoAddress": s.dpo_address or "", "timeZone": s.time_zone,
            "requireMfa": require_mfa}


async def _save_settings(console: Console) -> Response:
    """The same `updateWorkspaceSettings` and `updateSecuritySettings` as GraphQL, in one unit of work: if the MFA
    requirement is refused (set up your own MFA first), nothing of the form is saved."""
    given: dict[str, str | None] = {name: console.field(name) or None for name in SETTINGS}
    require = console.field("requireMfa") == "on"

    async def work() -> None:
        async with console.mutation() as (db, caller):
            await workspace_settings.update(db, caller, given)
            if require != await mfa.settings(db, caller):
                await mfa.update_settings(db, caller, require)

    refused = await attempt(work)
    return await _render(console, refused, "settings") if refused else see_other(
        "/admin/workspace?done=settings_saved#settings")


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


async def save_settings(request: Request) -> Response:
    return await page(request, "updateWorkspaceSettings", _save_settings)


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
        Route("/workspace/settings", save_settings, methods=["POST"]),
        Route("/workspace/export", export, methods=["POST"]),
        Route("/workspace/support", grant, methods=["POST"]),
        Route("/workspace/support/revoke", revoke, methods=["POST"]),
        Route("/workspace/close", close, methods=["POST"]),
    ]

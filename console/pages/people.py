"""People and keys: the workspace's users (roles, team, last sign-in, MFA, active) with deactivate, reactivate,
a password-reset mail and role binding; the teams; partner API keys (created with the key shown once, revoked).

Every action calls the resolver the GraphQL mutation calls. Binding a role needs `policy write`: without it the
refusal is shown next to the form (and audited as DENIED), as the API answers FORBIDDEN.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.pages.requests import uuid_in
from console.render import HKT
from console.unit import Console, Refusal, attempt, page, see_other
from resolvers import policies
from resolvers.errors import BadInput
from resolvers.identity import accounts, directory, lifecycle, passwords

MAX_ROWS = 200


def _user(u: Any, roles: list[str], teams: dict[uuid.UUID, str], me: uuid.UUID | None) -> dict[str, Any]:
    return {"id": str(u.id), "name": u.display_name, "email": u.email, "roles": roles,
            "team": teams.get(u.team_id) if u.team_id else None, "last_login_at": u.last_login_at,
            "mfa": u.mfa_enabled_at is not None, "active": u.is_active, "me": u.id == me}


def _key(k: Any, now: datetime) -> dict[str, Any]:
    return {"id": str(k.id), "name": k.name, "prefix": k.prefix, "role": k.role, "created_at": k.created_at,
            "expires_at": k.expires_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
            "expired": k.expires_at is not None and k.expires_at <= now}


async def _render(console: Console, refused: Refusal | None = None, where: str = "",
                  new_key: dict[str, Any] | None = None) -> Response:
    await console.require("user", "read")
    q = console.request.query_params.get("q", "").strip()
    show_revoked = console.request.query_params.get("revoked") == "1"
    async with console.db() as (db, caller):
        can, now = caller.access.can, caller.runtime.now()
        found = await directory.users(db, caller, first=MAX_ROWS, after=None,
                                      flt=directory.UserFilter(search=q or None), want_total=True)
        team_rows = await directory.teams(db, caller) if can("team", "read") else []
        keys = (await directory.api_keys(db, caller, first=MAX_ROWS, after=None, include_revoked=show_revoked,
                                         want_total=False, now=now)).items if can("api_key", "read") else []
        roles = await policies.list_roles(db, caller)
    teams = {t.id: t.name for t in team_rows}
    users = [_user(u, caller.roles_of(u.id), teams, caller.principal.user_id) for u in found.items]
    members: dict[str, int] = {}
    for u in users:
        if u["team"]:
            members[u["team"]] = members.get(u["team"], 0) + 1
    return console.render(
        "people.html", status=refused.status if refused else 200, error=refused.message if refused else None,
        where=where, users=users, total=found.total, q=q, roles=roles, new_key=new_key,
        teams=[{"name": t.name, "members": members.get(t.name, 0)} for t in team_rows],
        keys=[_key(k, now) for k in keys], show_revoked=show_revoked, may_users=can("user", "write"),
        may_teams=can("team", "write"), may_see_teams=can("team", "read"), may_see_keys=can("api_key", "read"),
        may_keys=can("api_key", "write"), may_bind=can("policy", "write"), draft=dict(console.form or {}),
    )


async def _page(console: Console) -> Response:
    return await _render(console)


async def _lifecycle(console: Console, deactivate: bool) -> Response:
    user_id = uuid_in(console.request)

    async def work() -> None:
        async with console.mutation() as (db, caller):
            if deactivate:
                await lifecycle.deactivate(db, caller, user_id)
            else:
                await lifecycle.reactivate(db, caller, user_id)

    refused = await attempt(work)
    if refused:
        return await _render(console, refused, "users")
    return see_other(f"/admin/people?done={'user_deactivated' if deactivate else 'user_reactivated'}")


async def _reset(console: Console) -> Response:
    """The same mail `requestPasswordReset` sends (a one-time link, valid an hour), started by an admin."""
    user_id = uuid_in(console.request)
    await console.require("user", "write")
    async with console.mutation() as (db, caller):
        user = await accounts.get_user(db, user_id)
        await passwords.request_reset(db, caller.runtime, caller.tenant, caller.audit, user.email)
    return see_other("/admin/people?done=reset_sent")


async def _role(console: Console) -> Response:
    user_id, role, add = uuid_in(console.request), console.field("role"), console.field("op") != "remove"

    async def work() -> None:
        async with console.mutation() as (db, caller):
            user = await accounts.get_user(db, user_id)
            if add:
                await policies.assign_role(db, caller, user, role)
            else:
                await policies.revoke_role(db, caller, user, role)

    refused = await attempt(work, denied_inline=(console, "assignRole" if add else "revokeRole",
                                                    "people.bind_refused"))
    if refused:
        return await _render(console, refused, f"user-{user_id}")
    return see_other(f"/admin/people?done={'role_assigned' if add else 'role_revoked'}")


async def _team(console: Console) -> Response:
    async def work() -> None:
        async with console.mutation() as (db, caller):
            await accounts.create_team(db, caller, console.field("name"))

    refused = await attempt(work)
    return await _render(console, refused, "teams") if refused else see_other("/admin/people?done=team_created#teams")


def _expiry(text: str) -> datetime | None:
    """A date from the form: the key works until the end of that day, Hong Kong time."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise BadInput("expiresAt: a date as YYYY-MM-DD", field="expiresAt") from exc
    return datetime.combine(day, time(23, 59, 59), HKT)


async def _create_key(console: Console) -> Response:
    made: list[accounts.NewApiKey] = []

    async def work() -> None:
        expires = _expiry(console.field("expires"))
        async with console.mutation() as (db, caller):
            made.append(await accounts.create_api_key(db, caller, console.field("name"), console.field("role"),
                                                      expires))

    refused = await attempt(work, denied_inline=(console, "createApiKey", "people.bind_refused"))
    if refused:
        return await _render(console, refused, "keys")
    created = made[0]
    # Shown on this response only (no redirect, no-store): only the key's hash is kept.
    return await _render(console, new_key={"key": created.key, "name": created.api_key.name,
                                           "role": created.api_key.role})


async def _revoke_key(console: Console) -> Response:
    key_id = uuid_in(console.request)
    async with console.mutation() as (db, caller):
        await accounts.revoke_api_key(db, caller, key_id)
    return see_other("/admin/people?done=key_revoked#keys")


async def index(request: Request) -> Response:
    return await page(request, "users", _page)


async def deactivate(request: Request) -> Response:
    return await page(request, "deactivateUser", lambda c: _lifecycle(c, True))


async def reactivate(request: Request) -> Response:
    return await page(request, "reactivateUser", lambda c: _lifecycle(c, False))


async def reset(request: Request) -> Response:
    return await page(request, "requestPasswordReset", _reset)


async def role(request: Request) -> Response:
    return await page(request, "assignRole", _role)


async def team(request: Request) -> Response:
    return await page(request, "createTeam", _team)


async def create_key(request: Request) -> Response:
    return await page(request, "createApiKey", _create_key)


async def revoke_key(request: Request) -> Response:
    return await page(request, "revokeApiKey", _revoke_key)


def routes() -> list[Route]:
    return [
        Route("/people", index, methods=["GET"]),
        Route("/people/users/{id}/deactivate", deactivate, methods=["POST"]),
        Route("/people/users/{id}/reactivate", reactivate, methods=["POST"]),
        Route("/people/users/{id}/reset", reset, methods=["POST"]),
        Route("/people/users/{id}/roles", role, methods=["POST"]),
        Route("/people/teams", team, methods=["POST"]),
        Route("/people/keys", create_key, methods=["POST"]),
        Route("/people/keys/{id}/revoke", revoke_key, methods=["POST"]),
    ]

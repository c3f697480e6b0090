"""Who has access: the admin lists of users, teams and API keys (keyset pages, newest first).

Each list needs its resource's `read` permission. Role membership comes from the compiled policy (roles
may inherit roles), so a role filter turns into an `id IN (...)` on the users query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey, Team, User
from resolvers import pagination, policies
from resolvers.errors import BadInput
from resolvers.runtime import Caller

MAX_SEARCH = 200


@dataclass(frozen=True)
class UserFilter:
    role: str | None = None
    team_id: uuid.UUID | None = None
    active: bool | None = None
    search: str | None = None


async def users(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    flt: UserFilter | None,
    want_total: bool,
) -> pagination.Page[User]:
    caller.access.require("user", "read")
    flt = flt or UserFilter()
    stmt = select(User)
    if flt.role is not None:
        policy = await policies.current_policy(session, caller)
        if flt.role not in policy.all_roles():
            raise BadInput(f"unknown role {flt.role!r}", field="role")
        stmt = stmt.where(User.id.in_(policy.user_ids_with_role(flt.role)))
    if flt.team_id is not None:
        stmt = stmt.where(User.team_id == flt.team_id)
    if flt.active is not None:
        stmt = stmt.where(User.is_active.is_(flt.active))
    if flt.search is not None and flt.search.strip():
        if len(flt.search) > MAX_SEARCH:
            raise BadInput(f"search is at most {MAX_SEARCH} characters", field="search")
        pattern = "%" + flt.search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(User.email.ilike(pattern), User.display_name.ilike(pattern)))
    return await pagination.newest_first(
        session, stmt, User.created_at, User.id, kind="users.datetime", first=first, after=after, want_total=want_total
    )


async def teams(session: AsyncSession, caller: Caller) -> list[Team]:
    caller.access.require("team", "read")
    return list((await session.scalars(select(Team).order_by(Team.name))).all())


async def api_keys(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    include_revoked: bool,
    want_total: bool,
    now: datetime,
) -> pagination.Page[ApiKey]:
    """Live keys (not revoked; expired ones included, their `expiresAt` says so), or all with `include_revoked`."""
    caller.access.require("api_key", "read")
    stmt = select(ApiKey)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return await pagination.newest_first(
        session,
        stmt,
        ApiKey.created_at,
        ApiKey.id,
        kind="api_keys.datetime",
        first=first,
        after=after,
        want_total=want_total,
    )

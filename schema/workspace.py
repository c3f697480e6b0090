"""The workspace's life and support access: closeWorkspace, grantSupportAccess, revokeSupportAccess,
supportGrants. Adapters only (resolvers/workspace_life.py, resolvers/support.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from resolvers.identity import support
from resolvers.workspaces import life as workspace_life
from schema.admin import Workspace
from schema.context import Context
from schema.enums import WorkspaceStatus
from schema.identity import User, user_of
from schema.ids import to_global


@strawberry.type(description="A time-bounded window in which the vendor's support staff may sign in, read-only.")
class SupportGrant:
    id: strawberry.ID
    reason: str
    starts_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool
    granted_by_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="Who granted it (null for an API key, or without `user` read).")
    async def granted_by(self, info: Info[Context, None]) -> User | None:
        return await user_of(info, self.granted_by_id)

    @classmethod
    def from_grant(cls, g: support.Grant) -> SupportGrant:
        return cls(
            id=strawberry.ID(to_global("SupportGrant", g.id)),
            reason=g.reason,
            starts_at=g.starts_at,
            expires_at=g.expires_at,
            revoked_at=g.revoked_at,
            active=g.active(dt.datetime.now(dt.UTC)),
            granted_by_id=g.granted_by,
        )


@strawberry.type
class WorkspaceLifeQueries:
    @strawberry.field(description="Support access grants of this workspace, newest first (admins).")
    async def support_grants(self, info: Info[Context, None]) -> list[SupportGrant]:
        caller = await info.context.caller()
        return [SupportGrant.from_grant(g) for g in await support.list_grants(caller)]


@strawberry.type
class WorkspaceLifeMutations:
    @strawberry.mutation(
        description="Close the workspace (admins; `confirmSlug` must be its slug). Every login and API key stops "
        "at once; the data is kept for the grace period (30 days) and can be restored with `main.py workspace "
        "reopen`, then the database is deleted."
    )
    async def close_workspace(self, info: Info[Context, None], confirm_slug: str) -> Workspace:
        async with info.context.mutation() as (session, caller):
            state = await workspace_life.close(session, caller, confirm_slug)
        return Workspace(
            slug=state.slug,
            name=state.name,
            region=state.region,
            status=WorkspaceStatus(state.status),
            purge_after=state.purge_after,
        )

    @strawberry.mutation(description="Let the vendor's support staff sign in for `hours` (1-72), read-only.")
    async def grant_support_access(self, info: Info[Context, None], hours: int, reason: str) -> SupportGrant:
        async with info.context.mutation() as (session, caller):
            grant = await support.grant(session, caller, hours, reason)
        return SupportGrant.from_grant(grant)

    @strawberry.mutation(description="End every active support grant at once; false when there was none.")
    async def revoke_support_access(self, info: Info[Context, None]) -> bool:
        async with info.context.mutation() as (session, caller):
            return await support.revoke(session, caller)

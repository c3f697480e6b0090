"""The workspace's life and support access: closeWorkspace, grantSupportAccess, revokeSupportAccess,
supportGrants. Adapters only (resolvers/workspace_life.py, resolvers/support.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.identity import support
from resolvers.workspaces import life as workspace_life
from resolvers.workspaces import settings as workspace_settings
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


@strawberry.type(description="Who the business is and how to reach its data protection officer; its time zone.")
class WorkspaceSettings:
    business_name: str = strawberry.field(description="The business named in letters, notices and copies.")
    dpo_name: str | None = strawberry.field(description="Who handles data access and correction requests.")
    dpo_email: str | None = strawberry.field(description="The DPO's e-mail address.")
    dpo_phone: str | None = strawberry.field(description="The DPO's phone number.")
    dpo_address: str | None = strawberry.field(description="The DPO's postal address.")
    time_zone: str = strawberry.field(description="IANA time zone of every date a person reads (Asia/Hong_Kong).")

    @classmethod
    def of(cls, s: workspace_settings.Settings) -> WorkspaceSettings:
        return cls(business_name=s.business_name, dpo_name=s.dpo_name, dpo_email=s.dpo_email, dpo_phone=s.dpo_phone,
                   dpo_address=s.dpo_address, time_zone=s.time_zone)


@strawberry.input(description="Workspace settings to change; an explicit null clears one.")
class WorkspaceSettingsInput:
    business_name: str | None = strawberry.field(default=strawberry.UNSET, description="The business's name.")
    dpo_name: str | None = strawberry.field(default=strawberry.UNSET, description="The DPO's name or title.")
    dpo_email: str | None = strawberry.field(default=strawberry.UNSET, description="The DPO's e-mail address.")
    dpo_phone: str | None = strawberry.field(default=strawberry.UNSET, description="The DPO's phone number.")
    dpo_address: str | None = strawberry.field(default=strawberry.UNSET, description="The DPO's postal address.")
    time_zone: str | None = strawberry.field(default=strawberry.UNSET, description="An IANA time zone.")

    def given(self) -> dict[str, str | None]:
        names = {"business_name": "businessName", "dpo_name": "dpoName", "dpo_email": "dpoEmail",
                 "dpo_phone": "dpoPhone", "dpo_address": "dpoAddress", "time_zone": "timeZone"}
        values = {camel: getattr(self, name) for name, camel in names.items()}
        return {k: v for k, v in values.items() if v is not strawberry.UNSET}


@strawberry.type
class WorkspaceLifeQueries:
    @strawberry.field(description="The workspace's settings. Requires `workspace read`.")
    async def workspace_settings(self, info: Info[Context, None]) -> WorkspaceSettings:
        async with info.context.db() as (session, caller):
            return WorkspaceSettings.of(await workspace_settings.get(session, caller))

    @strawberry.field(
        description="Support access grants of this workspace, newest first (admins). "
        + requires(Resource.SUPPORT_ACCESS, Action.READ)
    )
    async def support_grants(self, info: Info[Context, None]) -> list[SupportGrant]:
        caller = await info.context.caller()
        return [SupportGrant.from_grant(g) for g in await support.list_grants(caller)]


@strawberry.type
class WorkspaceLifeMutations:
    @strawberry.mutation(description="Sets the business name, DPO contact and time zone. Requires `workspace write`.")
    async def update_workspace_settings(self, info: Info[Context, None],
                                        input: WorkspaceSettingsInput) -> WorkspaceSettings:
        async with info.context.mutation() as (session, caller):
            return WorkspaceSettings.of(await workspace_settings.update(session, caller, input.given()))

    @strawberry.mutation(
        description="Close the workspace (admins; `confirmSlug` must be its slug). Every login and API key stops "
        "at once; the data is kept for the grace period (30 days) and can be restored with `main.py workspace "
        "reopen`, then the database is deleted."
        + " " + requires(Resource.WORKSPACE, Action.WRITE)
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

    @strawberry.mutation(
        description="Let the vendor's support staff sign in for `hours` (1-72), read-only. "
        + requires(Resource.SUPPORT_ACCESS, Action.WRITE)
    )
    async def grant_support_access(self, info: Info[Context, None], hours: int, reason: str) -> SupportGrant:
        async with info.context.mutation() as (session, caller):
            grant = await support.grant(session, caller, hours, reason)
        return SupportGrant.from_grant(grant)

    @strawberry.mutation(
        description="End every active support grant at once; false when there was none. "
        + requires(Resource.SUPPORT_ACCESS, Action.WRITE)
    )
    async def revoke_support_access(self, info: Info[Context, None]) -> bool:
        async with info.context.mutation() as (session, caller):
            return await support.revoke(session, caller)

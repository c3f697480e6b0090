"""Identity administration: the lists of users, teams, API keys; sessions, passwords, MFA, deactivation."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from authz.permissions import NO_SIGN_IN, SIGNED_IN
from resolvers.errors import Unauthenticated
from resolvers.identity import directory, lifecycle, mfa, passwords, sessions
from schema import selection
from schema.context import Context
from schema.identity import ApiKey, Session, Team, User
from schema.ids import uuid_of
from schema.nodes import Connection, connection

UserConnection = Connection[User]
ApiKeyConnection = Connection[ApiKey]


@strawberry.input(description="Narrow `users`; every field is optional and they combine with AND.")
class UserFilter:
    role: str | None = strawberry.field(default=None, description="Holds this role (directly or inherited).")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Belongs to this team.")
    active: bool | None = strawberry.field(default=None, description="Active (true) or deactivated (false).")
    search: str | None = strawberry.field(default=None, description="Part of the email or display name (<= 200).")

    def to_filter(self) -> directory.UserFilter:
        team = uuid_of(str(self.team_id), "Team", "teamId") if self.team_id else None
        return directory.UserFilter(self.role, team, self.active, self.search)


@strawberry.type(description="A TOTP enrolment: add `secret` (or scan `otpauthUri`) to an authenticator app.")
class MfaEnrollment:
    secret: str = strawberry.field(description="The base32 TOTP secret (RFC 6238, 30 s, 6 digits).")
    otpauth_uri: str = strawberry.field(description="`otpauth://totp/...` for a QR code.")
    recovery_codes: list[str] = strawberry.field(
        description="One-use codes for `login(otp:)` when the phone is lost. Shown once: only hashes are kept."
    )


@strawberry.type(description="Workspace-wide security settings.")
class SecuritySettings:
    require_mfa: bool = strawberry.field(
        description="Everyone whose roles hold `policy write` or `workspace write` must sign in with MFA."
    )


@strawberry.type
class PeopleQueries:
    @strawberry.field(description="Users, newest first, at most 200 a page. Requires `user read`.")
    async def users(
        self,
        info: Info[Context, None],
        first: int | None = 50,
        after: str | None = None,
        filter: UserFilter | None = None,
    ) -> UserConnection:
        flt, total = (filter.to_filter() if filter else None), selection.connection_wants(info, "totalCount")
        async with info.context.db() as (session, caller):
            page = await directory.users(session, caller, first=first, after=after, flt=flt, want_total=total)
        return connection(page, lambda u: User.from_model(u, caller.roles_of(u.id)))  # type: ignore[no-any-return]

    @strawberry.field(description="Every team, by name. Requires `team read`.")
    async def teams(self, info: Info[Context, None]) -> list[Team]:
        async with info.context.db() as (session, caller):
            return [Team.from_model(t) for t in await directory.teams(session, caller)]

    @strawberry.field(description="Partner API keys, newest first, at most 200 a page. Requires `api_key read`.")
    async def api_keys(
        self,
        info: Info[Context, None],
        first: int | None = 50,
        after: str | None = None,
        include_revoked: Annotated[bool, strawberry.argument(description="Also the revoked keys.")] = False,
    ) -> ApiKeyConnection:
        total = selection.connection_wants(info, "totalCount")
        async with info.context.db() as (session, caller):
            page = await directory.api_keys(session, caller, first=first, after=after, include_revoked=include_revoked,
                                            want_total=total, now=caller.runtime.now())
        return connection(page, ApiKey.from_model)  # type: ignore[no-any-return]

    @strawberry.field(description="The workspace's security settings. Requires `workspace read`.")
    async def security_settings(self, info: Info[Context, None]) -> SecuritySettings:
        async with info.context.db() as (session, caller):
            return SecuritySettings(require_mfa=await mfa.settings(session, caller))


@strawberry.type
class PeopleMutations:
    @strawberry.mutation(
        description="A new access token and refresh token; the refresh token given stops working. " + NO_SIGN_IN
    )
    async def refresh_session(self, info: Info[Context, None], refresh_token: str) -> Session:
        ctx = info.context
        session = await ctx.open_workspace(sessions.workspace_of(refresh_token))
        assert ctx.tenant is not None
        async with ctx.locked_session():
            issued, user, roles = await sessions.refresh(session, ctx.runtime, ctx.tenant, ctx.audit, refresh_token)
        return Session(token=issued.token, expires_at=issued.expires_at, refresh_token=issued.refresh_token,
                       user=User.from_model(user, roles))

    @strawberry.mutation(
        description="End this session: the token used and its refresh token stop working. " + SIGNED_IN
    )
    async def logout(self, info: Info[Context, None]) -> bool:
        async with info.context.mutation() as (session, caller):
            return await sessions.end(session, caller)

    @strawberry.mutation(description="Change your own password; your other sessions end. " + SIGNED_IN)
    async def change_password(self, info: Info[Context, None], current_password: str, new_password: str) -> bool:
        async with info.context.mutation() as (session, caller):
            return await passwords.change(session, caller, current_password, new_password)

    @strawberry.mutation(
        description="Mail a one-time link to reset the password (valid 1 hour). Always true, whether or not the "
        "address belongs to a user. " + NO_SIGN_IN
    )
    async def request_password_reset(self, info: Info[Context, None], workspace: str, email: str) -> bool:
        ctx = info.context
        try:
            session = await ctx.open_workspace(workspace)
        except Unauthenticated:  # an unknown or closed workspace answers like an unknown address
            return True
        assert ctx.tenant is not None
        async with ctx.locked_session():
            return await passwords.request_reset(session, ctx.runtime, ctx.tenant, ctx.audit, email)

    @strawberry.mutation(
        description="Set a new password with the mailed link's token; every session of the user ends. " + NO_SIGN_IN
    )
    async def reset_password(self, info: Info[Context, None], token: str, new_password: str) -> bool:
        ctx = info.context
        session = await ctx.open_workspace(passwords.workspace_of(token))
        async with ctx.locked_session():
            return await passwords.reset(session, ctx.runtime, ctx.audit, token, new_password)

    @strawberry.mutation(
        description="Switch a leaver off at once: sign-in, sessions, refresh tokens and the API keys they created "
        "are refused. Requires `user write`."
    )
    async def deactivate_user(self, info: Info[Context, None], id: strawberry.ID) -> User:
        uid = uuid_of(str(id), "User", "id")
        async with info.context.mutation() as (session, caller):
            user = await lifecycle.deactivate(session, caller, uid)
        return User.from_model(user, caller.roles_of(user.id))

    @strawberry.mutation(description="Let a deactivated user sign in again. Requires `user write`.")
    async def reactivate_user(self, info: Info[Context, None], id: strawberry.ID) -> User:
        uid = uuid_of(str(id), "User", "id")
        async with info.context.mutation() as (session, caller):
            user = await lifecycle.reactivate(session, caller, uid)
        return User.from_model(user, caller.roles_of(user.id))

    @strawberry.mutation(
        description="Start TOTP enrolment for yourself; `confirmMfa` with a first code turns it on. " + SIGNED_IN
    )
    async def enroll_mfa(self, info: Info[Context, None]) -> MfaEnrollment:
        async with info.context.mutation() as (session, caller):
            e = await mfa.enroll(session, caller)
        return MfaEnrollment(secret=e.secret, otpauth_uri=e.otpauth_uri, recovery_codes=e.recovery_codes)

    @strawberry.mutation(
        description="Confirm the enrolment with a code from the app; from then on login needs `otp`. " + SIGNED_IN
    )
    async def confirm_mfa(self, info: Info[Context, None], code: str) -> User:
        async with info.context.mutation() as (session, caller):
            user = await mfa.confirm(session, caller, code)
        return User.from_model(user, caller.roles_of(user.id))

    @strawberry.mutation(description="Change the workspace's security settings. Requires `workspace write`.")
    async def update_security_settings(
        self,
        info: Info[Context, None],
        require_mfa: Annotated[
            bool | None, strawberry.argument(description="Require MFA of policy editors and workspace admins.")
        ] = None,
    ) -> SecuritySettings:
        async with info.context.mutation() as (session, caller):
            return SecuritySettings(require_mfa=await mfa.update_settings(session, caller, require_mfa))

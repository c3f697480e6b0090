"""A user's life: deactivating a leaver (at once: sign-in, sessions, refresh tokens, their API keys) and back.

Nothing here waits for a cache: `accounts.authenticate` reads the user with the session (or the API
key with its creator) on every request, so the next request to any process is refused.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User
from resolvers import policies
from resolvers.errors import Conflict
from resolvers.identity import sessions
from resolvers.identity.accounts import get_user
from resolvers.runtime import Caller


async def deactivate(session: AsyncSession, caller: Caller, user_id: uuid.UUID) -> User:
    caller.access.require("user", "write")
    user = await get_user(session, user_id)
    if user.id == caller.principal.user_id:
        raise Conflict("you cannot deactivate yourself: ask another admin", field="id")
    if user.is_active:
        await policies.guard_deactivation(session, caller, user.id)
        user.is_active = False
        await session.flush()
    await sessions.end_all(session, caller.runtime, user.id, "deactivated")
    caller.audit.event("UPDATE", entity_type="user", entity_id=str(user.id), fields=["active"],
                       details={"change": "deactivateUser"})
    return user


async def reactivate(session: AsyncSession, caller: Caller, user_id: uuid.UUID) -> User:
    """The user may sign in again (old sessions stay ended); API keys they created work again."""
    caller.access.require("user", "write")
    user = await get_user(session, user_id)
    if not user.is_active:
        user.is_active = True
        await session.flush()
        caller.audit.event("UPDATE", entity_type="user", entity_id=str(user.id), fields=["active"],
                           details={"change": "reactivateUser"})
    return user

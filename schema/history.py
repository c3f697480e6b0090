"""The change history query: who changed which field of a contact, with old and new values."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.contacts import history
from schema.context import Context
from schema.ids import to_global, uuid_of


@strawberry.type(description="One changed field. Values are personal data: reading them is audited.")
class ContactChange:
    id: strawberry.ID
    occurred_at: dt.datetime
    actor_id: strawberry.ID | None
    actor_kind: str
    field: str
    old_value: JSON | None
    new_value: JSON | None


@strawberry.type
class HistoryQueries:
    @strawberry.field(
        description="The contact's change history with values; the contact must be in your record scope. "
        + requires(Resource.AUDIT, Action.READ)
    )
    async def contact_history(self, info: Info[Context, None], contact_id: strawberry.ID) -> list[ContactChange]:
        cid = uuid_of(str(contact_id), "Contact", "contactId")
        async with info.context.db() as (session, caller):
            rows = await history.changes(session, caller, cid)
        return [
            ContactChange(
                id=strawberry.ID(to_global("ContactChange", c.id)),
                occurred_at=c.occurred_at,
                actor_id=strawberry.ID(to_global("User" if c.actor_kind == "user" else "ApiKey", c.actor_id))
                if c.actor_id
                else None,
                actor_kind=c.actor_kind,
                field=c.field,
                old_value=c.old_value,
                new_value=c.new_value,
            )
            for c in rows
        ]

"""Activity inputs, queries and mutations. The Activity type lives with Contact (`schema.contacts`): each links
to the other."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires, requires_in_scope
from resolvers.contacts import activities
from resolvers.errors import NotFound
from schema import selection
from schema.contacts import ACTIVITY_FIELDS as ACTIVITY_FIELDS
from schema.contacts import Activity as Activity
from schema.contacts import ActivityConnection as ActivityConnection
from schema.contacts import Attachment as Attachment
from schema.contacts import activity_page_key as activity_page_key
from schema.context import Context
from schema.enums import ActivityKind
from schema.ids import uuid_of
from schema.nodes import connection


@strawberry.input
class ActivityInput:
    contact_id: strawberry.ID
    kind: ActivityKind
    subject: str | None = None
    body: str | None = None
    private: bool | None = False
    occurred_at: dt.datetime | None = None
    attachment_ids: list[strawberry.ID] | None = None


@strawberry.type
class ActivityQueries:
    @strawberry.field(
        description="Activities the caller may see (their own scope, and their contact visible). "
        + requires_in_scope(Resource.ACTIVITY, Action.READ)
    )
    async def activities(
        self,
        info: Info[Context, None],
        first: int | None = 50,
        after: str | None = None,
        contact_id: strawberry.ID | None = None,
    ) -> ActivityConnection:
        cid = uuid_of(str(contact_id), "Contact", "contactId") if contact_id else None
        fields = selection.names(selection.node_fields(info, "edges", "node"))
        async with info.context.db() as (session, caller):
            page = await activities.list_activities(
                session,
                caller,
                first=first,
                after=after,
                contact_id=cid,
                selection=fields,
                want_total=selection.connection_wants(info, "totalCount"),
            )
        info.context.redact_page(info, page)
        return connection(page, Activity.wrap)  # type: ignore[no-any-return]


@strawberry.type
class ActivityMutations:
    @strawberry.mutation(
        description="Logs an activity on a contact in your record scope. " + requires(Resource.ACTIVITY, Action.WRITE)
    )
    async def create_activity(self, info: Info[Context, None], input: ActivityInput) -> Activity:
        cid = uuid_of(str(input.contact_id), "Contact", "contactId")
        attachment_ids = [uuid_of(str(a), "Attachment", "attachmentIds") for a in input.attachment_ids or []]
        fields = selection.names(selection.node_fields(info))
        async with info.context.mutation() as (session, caller):
            activity_id = await activities.create(
                session,
                caller,
                contact_id=cid,
                kind=input.kind.value,
                subject=input.subject,
                body=input.body,
                private=bool(input.private),
                occurred_at=input.occurred_at,
                attachment_ids=attachment_ids,
            )
            record = (await activities.activities_by_ids(session, caller, [activity_id], fields))[0]
        if record is None:  # created but outside the caller's read scope
            raise NotFound("the activity was created but is outside what you may read")
        info.context.redact_record(info, record)
        return Activity.wrap(record)  # type: ignore[return-value]

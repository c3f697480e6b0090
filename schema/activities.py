"""Activity types, inputs, queries and mutations."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.contacts import activities
from resolvers.errors import NotFound
from resolvers.projection import Record
from schema import selection
from schema.context import Context
from schema.descriptions import pii
from schema.enums import ActivityKind
from schema.identity import user_of
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, Node, connection, from_record, guarded, plain_fields

if TYPE_CHECKING:
    from schema.contacts import Contact
    from schema.identity import User


@strawberry.type
class Attachment:
    id: strawberry.ID
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime

    @classmethod
    def from_model(cls, a: Any) -> Attachment:
        return cls(
            id=strawberry.ID(to_global("Attachment", a.id)),
            filename=a.filename,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            sha256=a.sha256,
            created_at=a.created_at,
        )


@strawberry.type(description="Something that happened with a contact: a message, call, meeting, note or purchase.")
class Activity(Node):
    id: strawberry.ID
    subject: str | None = strawberry.field(description=pii("activity", "subject"))
    body: str | None = strawberry.field(description=pii("activity", "body"))
    record: strawberry.Private[Record]

    @strawberry.field
    def kind(self) -> ActivityKind:
        return ActivityKind(guarded(self.record, "kind", "activity"))

    @strawberry.field
    def private(self) -> bool:
        return bool(guarded(self.record, "private", "activity"))

    @strawberry.field
    def occurred_at(self) -> dt.datetime:
        return guarded(self.record, "occurredAt", "activity")  # type: ignore[no-any-return]

    @strawberry.field
    async def contact(self, info: Info[Context, None]) -> Annotated[Contact, strawberry.lazy("schema.contacts")] | None:
        from schema.contacts import Contact

        fields = selection.names(selection.node_fields(info))
        record = await info.context.loaders.contacts_by_id.load((self.record.source.contact_id, fields.names))
        if record is not None:
            info.context.redact_record(info, record)
        return Contact.wrap(record)

    @strawberry.field
    async def author(self, info: Info[Context, None]) -> Annotated[User, strawberry.lazy("schema.identity")] | None:
        author_id = self.record.values.get("author")
        return None if author_id is None else await user_of(info, author_id)

    @strawberry.field
    async def attachments(self, info: Info[Context, None]) -> list[Attachment]:
        guarded(self.record, "attachments", "activity")
        rows = await info.context.loaders.attachments_by_activity.load(self.record.id)
        return [Attachment.from_model(a) for a in rows]

    @classmethod
    def wrap(cls, record: Record | None) -> Activity | None:
        return None if record is None else from_record(cls, record, ACTIVITY_FIELDS)


ACTIVITY_FIELDS = plain_fields(Activity)
ActivityConnection = Connection[Activity]


def activity_page_key(
    info: Info[Context, None], contact_id: Any, first: int | None, after: str | None
) -> tuple[Any, ...]:
    fields = selection.names(selection.node_fields(info, "edges", "node"))
    return (contact_id, first, after, fields.names, selection.connection_wants(info, "totalCount"))


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
    @strawberry.field(description="Activities the caller may see (their own scope, and their contact visible).")
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
    @strawberry.mutation
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

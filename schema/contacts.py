"""Contact and Activity types (one graph: each links to the other), contact inputs, queries and mutations.
Adapters only: parse, call one resolver, wrap. Activity inputs and operations: `schema.activities`."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz.permissions import Action, Resource, requires, requires_in_scope
from resolvers.contacts import attachments, contacts
from resolvers.pagination import Page
from resolvers.privacy import erasure
from resolvers.projection import Record
from resolvers.projection import Selection as FieldSelection
from schema import selection
from schema.context import Context
from schema.descriptions import pii
from schema.enums import ActivityKind, ConsentPurpose, ContactOrderField, ContactStage, OrderDirection
from schema.identity import team_of, user_of
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, Node, camel, connection, from_record, guarded, plain_fields

if TYPE_CHECKING:
    from schema.identity import Team, User


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
    async def contact(self, info: Info[Context, None]) -> Contact | None:
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
        attachments.FILE_NAME.audit(info.context.audit, rows, selection.names(selection.node_fields(info)).names)
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


@strawberry.type
class Consent:
    id: strawberry.ID
    purpose: ConsentPurpose
    granted: bool
    source: str
    notice_version: str | None
    granted_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    expires_at: dt.datetime | None

    @strawberry.field(description="Granted, not withdrawn and not expired.")
    def active(self) -> bool:
        now = dt.datetime.now(dt.UTC)
        return self.granted and self.withdrawn_at is None and (self.expires_at is None or self.expires_at > now)

    @classmethod
    def from_model(cls, c: Any) -> Consent:
        return cls(
            id=strawberry.ID(to_global("Consent", c.id)),
            purpose=ConsentPurpose(c.purpose),
            granted=c.granted,
            source=c.source,
            notice_version=c.notice_version,
            granted_at=c.granted_at,
            withdrawn_at=c.withdrawn_at,
            expires_at=c.expires_at,
        )


@strawberry.type(description="A person the business holds data on. PII fields follow the caller's field rules.")
class Contact(Node):
    id: strawberry.ID
    first_name: str | None = strawberry.field(description=pii("contact", "firstName"))
    last_name: str | None = strawberry.field(description=pii("contact", "lastName"))
    email: str | None = strawberry.field(description=pii("contact", "email"))
    phone: str | None = strawberry.field(description=pii("contact", "phone"))
    hkid: str | None = strawberry.field(description=pii("contact", "hkid"))
    tax_id: str | None = strawberry.field(description=pii("contact", "taxId"))
    date_of_birth: dt.date | None = strawberry.field(description=pii("contact", "dateOfBirth", "Null when masked."))
    date_of_birth_masked: str | None = strawberry.field(description="The masked date of birth (year only).")
    linkedin_url: str | None = strawberry.field(description=pii("contact", "linkedinUrl"))
    bio: str | None = strawberry.field(description=pii("contact", "bio"))
    salary: int | None = strawberry.field(description=pii("contact", "salary", "Null when masked."))
    salary_masked: str | None = strawberry.field(description="The masked salary (a range band).")
    company: str | None
    job_title: str | None
    custom_fields: JSON | None = strawberry.field(
        description="Custom field values keyed by name; PII rules apply per key (denied keys are left out)."
    )
    last_activity_at: dt.datetime | None
    anonymised_at: dt.datetime | None
    archived_at: dt.datetime | None
    record: strawberry.Private[Record]

    @strawberry.field
    def stage(self) -> ContactStage:
        return ContactStage(guarded(self.record, "stage", "contact"))

    @strawberry.field
    def vip(self) -> bool:
        return bool(guarded(self.record, "vip", "contact"))

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return guarded(self.record, "createdAt", "contact")  # type: ignore[no-any-return]

    @strawberry.field
    def updated_at(self) -> dt.datetime:
        return guarded(self.record, "updatedAt", "contact")  # type: ignore[no-any-return]

    @strawberry.field
    async def owner(self, info: Info[Context, None]) -> Annotated[User, strawberry.lazy("schema.identity")] | None:
        owner_id = self.record.values.get("owner")
        return None if owner_id is None else await user_of(info, owner_id)

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> Annotated[Team, strawberry.lazy("schema.identity")] | None:
        team_id = self.record.values.get("team")
        return None if team_id is None else await team_of(info, team_id)

    @strawberry.field
    async def consents(self, info: Info[Context, None]) -> list[Consent]:
        guarded(self.record, "consents", "contact")
        rows = await info.context.loaders.consents_by_contact.load(self.record.id)
        contacts.CONSENT_SOURCE.audit(info.context.audit, rows, selection.names(selection.node_fields(info)).names)
        return [Consent.from_model(c) for c in rows]

    @strawberry.field(
        description="Under legal hold: retention skips it and it cannot be erased. Null unless the caller may read "
        "retention policies."
    )
    async def legal_hold(self, info: Info[Context, None]) -> bool | None:
        return (await info.context.loaders.privacy_flags_by_contact.load(self.record.id)).legal_hold

    @strawberry.field(description="An OPEN correction request disputes its data; every export flags it.")
    async def correction_pending(self, info: Info[Context, None]) -> bool:
        return bool((await info.context.loaders.privacy_flags_by_contact.load(self.record.id)).correction_pending)

    @strawberry.field
    async def activities(
        self, info: Info[Context, None], first: int | None = 50, after: str | None = None
    ) -> ActivityConnection:

        page = await info.context.loaders.activity_pages.load(activity_page_key(info, self.record.id, first, after))
        info.context.redact_page(info, page)
        return connection(page, Activity.wrap)  # type: ignore[no-any-return]

    @classmethod
    def wrap(cls, record: Record | None) -> Contact | None:
        return None if record is None else from_record(cls, record, CONTACT_FIELDS)


CONTACT_FIELDS = plain_fields(Contact)


async def contacts_by_ids(info: Info[Context, None], ids: list[Any]) -> list[Contact]:
    """The contacts of `ids` the caller may see, in that order, through the field decisions (and READ audit) of
    any Contact; invisible or missing ones are left out."""
    fields = selection.names(selection.node_fields(info))
    records = await info.context.loaders.contacts_by_id.load_many([(i, fields.names) for i in ids])
    out: list[Contact] = []
    for record in records:
        if record is not None:
            info.context.redact_record(info, record)
            contact = Contact.wrap(record)
            if contact is not None:
                out.append(contact)
    return out


@strawberry.input
class ContactInput:
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    hkid: str | None = strawberry.UNSET
    tax_id: str | None = strawberry.UNSET
    date_of_birth: dt.date | None = strawberry.UNSET
    linkedin_url: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    salary: int | None = strawberry.UNSET
    company: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    stage: ContactStage | None = strawberry.UNSET
    vip: bool | None = strawberry.UNSET
    owner_id: strawberry.ID | None = strawberry.UNSET
    team_id: strawberry.ID | None = strawberry.UNSET
    custom_fields: JSON | None = strawberry.UNSET

    def given(self) -> dict[str, Any]:
        """Only the fields the client sent, by GraphQL name, ids decoded."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is strawberry.UNSET:
                continue
            name = camel(f.name)
            if name in ("ownerId", "teamId") and value is not None:
                value = uuid_of(str(value), "User" if name == "ownerId" else "Team", name)
            elif isinstance(value, ContactStage):
                value = value.value
            out[name] = value
        return out


@strawberry.input
class ContactFilter:
    stage: ContactStage | None = None
    owner_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None
    vip: bool | None = None
    search: str | None = strawberry.field(
        default=None, description="Words matched in names and company; at most 200 characters."
    )
    email: str | None = None
    phone: str | None = None
    hkid: str | None = None

    def to_filter(self) -> contacts.ContactFilter:
        return contacts.ContactFilter(
            stage=self.stage.value if self.stage else None,
            owner_id=uuid_of(str(self.owner_id), "User", "filter.ownerId") if self.owner_id else None,
            team_id=uuid_of(str(self.team_id), "Team", "filter.teamId") if self.team_id else None,
            vip=self.vip,
            search=self.search,
            email=self.email,
            phone=self.phone,
            hkid=self.hkid,
        )


@strawberry.input
class ContactOrder:
    field: ContactOrderField
    direction: OrderDirection


ContactConnection = Connection[Contact]


async def read_contact(context: Context, id: strawberry.ID, fields: FieldSelection) -> Record:
    """`contact(id)`: the one visible contact with its field decisions (also the compiled path's read)."""
    contact_id = uuid_of(str(id), "Contact", "id")
    async with context.db() as (session, caller):
        return await contacts.get_contact(session, caller, contact_id, fields)


async def contacts_page(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    filter: ContactFilter | None,
    order_by: ContactOrder | None,
    fields: FieldSelection,
    want_total: bool,
) -> Page[Record]:
    """`contacts(...)`: one scoped page with its field decisions (also the compiled path's read)."""
    order = contacts.ContactOrder(order_by.field.value, order_by.direction is OrderDirection.DESC) if order_by else None
    async with context.db() as (session, caller):
        return await contacts.list_contacts(
            session,
            caller,
            first=first,
            after=after,
            flt=filter.to_filter() if filter else None,
            order=order,
            selection=fields,
            want_total=want_total,
        )


@strawberry.type
class ContactQueries:
    @strawberry.field(
        description="One contact; null with NOT_FOUND outside your record scope, each field under your field rules. "
        + requires_in_scope(Resource.CONTACT, Action.READ)
    )
    async def contact(self, info: Info[Context, None], id: strawberry.ID) -> Contact | None:
        record = await read_contact(info.context, id, selection.names(selection.node_fields(info)))
        info.context.redact_record(info, record)
        return Contact.wrap(record)

    @strawberry.field(
        description="Contacts in the caller's record scope (filtered in SQL). At most 200 a page. "
        + requires_in_scope(Resource.CONTACT, Action.READ)
    )
    async def contacts(
        self,
        info: Info[Context, None],
        first: int | None = 50,
        after: str | None = None,
        filter: ContactFilter | None = None,
        order_by: ContactOrder | None = None,
    ) -> ContactConnection:
        page = await contacts_page(
            info.context,
            first=first,
            after=after,
            filter=filter,
            order_by=order_by,
            fields=selection.names(selection.node_fields(info, "edges", "node")),
            want_total=selection.connection_wants(info, "totalCount"),
        )
        info.context.redact_page(info, page)
        return connection(page, Contact.wrap)  # type: ignore[no-any-return]


@strawberry.type
class ContactMutations:
    @strawberry.mutation(
        description="A new contact. " + requires(Resource.CONTACT, Action.WRITE)
        + " Each field given needs its field write rule."
    )
    async def create_contact(
        self,
        info: Info[Context, None],
        input: ContactInput,
        suppression_override: Annotated[
            str | None,
            strawberry.argument(description="Admins: why a person on the suppression list is re-admitted (audited)."),
        ] = None,
    ) -> Contact:
        fields = selection.names(selection.node_fields(info))
        async with info.context.mutation() as (session, caller):
            contact_id = await contacts.create(session, caller, input.given(), suppression_override)
            record = await contacts.get_contact(session, caller, contact_id, fields)
        info.context.redact_record(info, record)
        return Contact.wrap(record)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Changes only the fields given (null clears one). "
        + requires_in_scope(Resource.CONTACT, Action.WRITE)
        + " Each field given needs its field write rule."
    )
    async def update_contact(self, info: Info[Context, None], id: strawberry.ID, input: ContactInput) -> Contact:
        contact_id = uuid_of(str(id), "Contact", "id")
        fields = selection.names(selection.node_fields(info))
        async with info.context.mutation() as (session, caller):
            await contacts.update_contact(session, caller, contact_id, input.given())
            record = await contacts.get_contact(session, caller, contact_id, fields)
        info.context.redact_record(info, record)
        return Contact.wrap(record)  # type: ignore[return-value]

    @strawberry.mutation(
        description="Records a consent given or withdrawn. " + requires_in_scope(Resource.CONTACT, Action.WRITE)
    )
    async def record_consent(
        self,
        info: Info[Context, None],
        contact_id: strawberry.ID,
        purpose: ConsentPurpose,
        granted: bool,
        source: str,
        notice_version: str | None = None,
        expires_at: dt.datetime | None = None,
        opt_out_override: Annotated[
            str | None,
            strawberry.argument(description="Why a standing opt-out no longer applies (granting again; audited). "
                                            "Requires `consent override` and consentObtainedAt."),
        ] = None,
        consent_obtained_at: Annotated[
            dt.datetime | None,
            strawberry.argument(description="Evidence for an override: when the new consent was given (with "
                                            "`source` saying how)."),
        ] = None,
    ) -> Consent:
        cid = uuid_of(str(contact_id), "Contact", "contactId")
        async with info.context.mutation() as (session, caller):
            consent = await contacts.record_consent(
                session, caller, cid, purpose.value, granted, source, notice_version, expires_at, opt_out_override,
                consent_obtained_at,
            )
        contacts.CONSENT_SOURCE.audit(caller.audit, [consent], selection.names(selection.node_fields(info)).names)
        return Consent.from_model(consent)

    @strawberry.mutation(
        description="Anonymise in place; links, history and counts survive. Idempotent. "
        + requires_in_scope(Resource.CONTACT, Action.ERASE)
    )
    async def erase_contact(self, info: Info[Context, None], id: strawberry.ID, reason: str) -> Contact:
        contact_id = uuid_of(str(id), "Contact", "id")
        fields = selection.names(selection.node_fields(info))
        async with info.context.mutation() as (session, caller):
            await erasure.erase_contact(session, caller, contact_id, reason)
            record = await contacts.get_contact(session, caller, contact_id, fields)
        info.context.redact_record(info, record)
        return Contact.wrap(record)  # type: ignore[return-value]

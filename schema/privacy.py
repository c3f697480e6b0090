"""The privacy notice and legal holds. Adapters only: parse, call one resolver, wrap."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.contacts import contacts
from resolvers.privacy import legal_hold
from resolvers.privacy import notice as privacy_notice
from schema import selection
from schema.contacts import Contact
from schema.context import Context
from schema.enums import Language
from schema.ids import uuid_of


@strawberry.type
class PrivacyNoticeSection:
    heading: str
    body: str


@strawberry.type(description="What the workspace stores and why, for the business's privacy policy (DPP1, DPP5).")
class PrivacyNotice:
    language: Language
    title: str
    sections: list[PrivacyNoticeSection]
    text: str = strawberry.field(description="The whole notice as plain text.")


@strawberry.type
class PrivacyQueries:
    @strawberry.field(
        description="Generated from the field definitions, PII tags, purposes and retention policies. "
        + requires(Resource.FIELD_DEFINITION, Action.READ)
    )
    async def privacy_notice(self, info: Info[Context, None], language: Language = Language.EN) -> PrivacyNotice:
        async with info.context.db() as (session, caller):
            notice = await privacy_notice.notice(session, caller, language.value)
        return PrivacyNotice(
            language=language,
            title=notice.title,
            sections=[PrivacyNoticeSection(heading=s.heading, body=s.body) for s in notice.sections],
            text=notice.text,
        )


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        description="A contact under legal hold is skipped by retention and cannot be erased. "
        + requires(Resource.RETENTION_POLICY, Action.WRITE)
    )
    async def set_legal_hold(
        self, info: Info[Context, None], contact_id: strawberry.ID, hold: bool, reason: str
    ) -> Contact:
        cid = uuid_of(str(contact_id), "Contact", "contactId")
        fields = selection.names(selection.node_fields(info))
        async with info.context.mutation() as (session, caller):
            await legal_hold.set_hold(session, caller, cid, hold, reason)
            record = await contacts.get_contact(session, caller, cid, fields)
        info.context.redact_record(info, record)
        return Contact.wrap(record)  # type: ignore[return-value]

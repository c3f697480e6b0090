"""Duplicate contacts and merging them. Adapters only: parse, call one resolver, wrap."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.contacts import contacts
from resolvers.privacy import matches, merge
from schema import selection
from schema.contacts import Contact, contacts_by_ids
from schema.context import Context
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, connection


@strawberry.enum(description="The key on which records of one person matched (never its value).")
class MatchKey(enum.Enum):
    EMAIL = strawberry.enum_value("EMAIL", description="The same e-mail address, case-insensitively.")
    PHONE = strawberry.enum_value("PHONE", description="The same phone number (E.164).")
    HKID = strawberry.enum_value("HKID", description="The same HKID, compared through its keyed blind index.")


@strawberry.type(description="Records in your scope that may be one person: they share an e-mail, phone or HKID.")
class DuplicateGroup:
    matched_on: list[MatchKey] = strawberry.field(description="The keys that matched; never their values.")
    contact_ids: strawberry.Private[list[Any]]

    @strawberry.field(description="The records, oldest first (the usual primary), with your field rules applied.")
    async def contacts(self, info: Info[Context, None]) -> list[Contact]:
        return await contacts_by_ids(info, self.contact_ids)

    @classmethod
    def of(cls, group: matches.DuplicateGroup) -> DuplicateGroup:
        return cls(matched_on=[MatchKey(k) for k in group.matched_on], contact_ids=group.contact_ids)


DuplicateGroupConnection = Connection[DuplicateGroup]


@strawberry.type(description="What a merge moved to the primary (a dry run reports the same without writing).")
class MergeResult:
    record: strawberry.Private[Any]
    merged_ids: list[strawberry.ID] = strawberry.field(description="The duplicates, now erased, merged into primary.")
    dry_run: bool
    activities: int = strawberry.field(description="Activities moved to the primary.")
    attachments: int = strawberry.field(description="Attachments (of those activities) now on the primary.")
    history: int = strawberry.field(description="Change-history entries moved to the primary.")
    consents: int = strawberry.field(description="Purposes whose consent the primary took from a duplicate "
                                                 "(the strictest wins: a withdrawal beats a grant).")
    opt_outs: int = strawberry.field(description="Direct-marketing opt-outs moved to the primary.")
    data_requests: int = strawberry.field(description="Data requests that named a duplicate and now name the primary.")
    disclosures: int = strawberry.field(description="Disclosure events of the last 12 months about the duplicates, "
                                                    "now reported for the primary.")
    filled_fields: list[str] = strawberry.field(description="Fields empty on the primary, filled from a duplicate.")
    suppressed: list[str] = strawberry.field(description="Kinds of the duplicates' identifiers put on the "
                                                         "suppression list (those not now on the primary).")

    @strawberry.field(description="The primary record after the merge (as it is, after a dry run).")
    def primary(self, info: Info[Context, None]) -> Contact:
        info.context.redact_record(info, self.record)
        return Contact.wrap(self.record)  # type: ignore[return-value]


@strawberry.type
class MergeQueries:
    @strawberry.field(
        description="Groups of contacts that share an e-mail, phone or HKID, oldest record first. Only keys you "
        "may read on every record are compared. At most 200 a page. Requires `contact merge` (and `contact read`)."
    )
    async def duplicate_contacts(
        self, info: Info[Context, None], first: int | None = 50, after: str | None = None
    ) -> DuplicateGroupConnection:
        async with info.context.db() as (session, caller):
            page = await matches.duplicate_groups(session, caller, first, after)
        return connection(page, DuplicateGroup.of)  # type: ignore[no-any-return]


@strawberry.type
class MergeMutations:
    @strawberry.mutation(
        description="Moves the duplicates' activities, attachments, history, consents (strictest wins), opt-outs "
        "and data requests to the primary, fills the primary's empty fields you may write, then erases the "
        "duplicates (pointing at the primary): one MERGE audit event. CONFLICT under legal hold. "
        + requires(Resource.CONTACT, Action.MERGE)
    )
    async def merge_contacts(
        self,
        info: Info[Context, None],
        primary_id: strawberry.ID,
        duplicate_ids: list[strawberry.ID],
        dry_run: Annotated[bool, strawberry.argument(description="Report the counts; write nothing.")] = False,
    ) -> MergeResult:
        primary = uuid_of(str(primary_id), "Contact", "primaryId")
        duplicates = [uuid_of(str(d), "Contact", "duplicateIds") for d in duplicate_ids]
        fields = selection.names(selection.node_fields(info, "primary"))
        async with info.context.mutation() as (session, caller):
            result = await merge.merge_contacts(session, caller, primary, duplicates, dry_run=dry_run)
            record = await contacts.get_contact(session, caller, primary, fields)
        return MergeResult(
            record=record,
            merged_ids=[strawberry.ID(to_global("Contact", i)) for i in result.merged_ids],
            dry_run=result.dry_run,
            activities=result.activities,
            attachments=result.attachments,
            history=result.history,
            consents=result.consents,
            opt_outs=result.opt_outs,
            data_requests=result.data_requests,
            disclosures=result.disclosures,
            filled_fields=result.filled_fields,
            suppressed=result.suppressed,
        )

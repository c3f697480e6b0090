"""Per-request DataLoaders, one small loader per relation. Nothing is cached across requests or tenants.

Wiring only: each batch function takes the request's session lock itself and calls a read of
`resolvers.loaders` (or of the capability), which applies the same record scope and field decisions as the
top-level queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from db.models import Attachment, Consent, ExportJob, Team, User
from resolvers import loaders
from resolvers.contacts import activities, contacts
from resolvers.pagination import Page
from resolvers.privacy import data_requests, legal_hold
from resolvers.projection import Record

if TYPE_CHECKING:
    from schema.context import Context


@dataclass
class Loaders:
    contacts_by_id: DataLoader[tuple[uuid.UUID, frozenset[str]], Record | None]
    activities_by_id: DataLoader[tuple[uuid.UUID, frozenset[str]], Record | None]
    activity_pages: DataLoader[tuple[Any, ...], Page[Record]]
    users_by_id: DataLoader[uuid.UUID, User | None]
    teams_by_id: DataLoader[uuid.UUID, Team | None]
    consents_by_contact: DataLoader[uuid.UUID, list[Consent]]
    attachments_by_activity: DataLoader[uuid.UUID, list[Attachment]]
    privacy_flags_by_contact: DataLoader[uuid.UUID, legal_hold.PrivacyFlags]
    linked_exports_by_id: DataLoader[uuid.UUID, tuple[ExportJob, bool] | None]
    data_request_contacts: DataLoader[uuid.UUID, list[uuid.UUID]]


def build_loaders(ctx: Context) -> Loaders:
    """Each batch function takes the request's session (and its lock) and calls one `resolvers.loaders` read."""

    def with_caller(read: Any) -> Any:
        async def load(keys: list[Any]) -> list[Any]:
            async with ctx.db() as (session, caller):
                return await read(session, caller, keys)

        return load

    def by_id(fetch: loaders.FetchByIds) -> Any:
        return with_caller(lambda session, caller, keys: loaders.records_by_ids(fetch, session, caller, keys))

    async def load_request_contacts(keys: list[uuid.UUID]) -> list[list[uuid.UUID]]:
        async with ctx.db() as (session, _):
            return await data_requests.contacts_of(session, keys)

    return Loaders(
        contacts_by_id=DataLoader(by_id(contacts.contacts_by_ids)),
        activities_by_id=DataLoader(by_id(activities.activities_by_ids)),
        activity_pages=DataLoader(with_caller(loaders.activity_pages)),
        users_by_id=DataLoader(with_caller(loaders.users_by_ids)),
        teams_by_id=DataLoader(with_caller(loaders.teams_by_ids)),
        consents_by_contact=DataLoader(with_caller(lambda session, _, keys: contacts.consents_for(session, keys))),
        attachments_by_activity=DataLoader(
            with_caller(lambda session, _, keys: loaders.attachments_by_activities(session, keys))
        ),
        privacy_flags_by_contact=DataLoader(with_caller(legal_hold.flags)),
        linked_exports_by_id=DataLoader(with_caller(data_requests.linked_exports)),
        data_request_contacts=DataLoader(load_request_contacts),
    )

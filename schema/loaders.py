"""Per-request DataLoaders, one small loader per relation. Nothing is cached across requests or tenants.

Each batch function takes the request's session lock itself and applies the same record scope and
field decisions as the top-level queries.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from db.models import Attachment, Consent, ExportJob, Team, User
from resolvers.contacts import activities, contacts
from resolvers.pagination import Page
from resolvers.privacy import data_requests, legal_hold
from resolvers.projection import Record, Selection

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

    def by_id(fetch: Any) -> Any:
        async def load(keys: list[tuple[uuid.UUID, frozenset[str]]]) -> list[Record | None]:
            by_selection: dict[frozenset[str], list[uuid.UUID]] = defaultdict(list)
            for record_id, names in keys:
                by_selection[names].append(record_id)
            found: dict[tuple[uuid.UUID, frozenset[str]], Record | None] = {}
            async with ctx.db() as (session, caller):
                for names, ids in by_selection.items():
                    records = await fetch(session, caller, ids, Selection(names))
                    found.update({(i, names): r for i, r in zip(ids, records, strict=True)})
            return [found[k] for k in keys]

        return load

    async def load_activity_pages(keys: list[tuple[Any, ...]]) -> list[Page[Record]]:
        groups: dict[tuple[Any, ...], list[uuid.UUID]] = defaultdict(list)
        for contact_id, *rest in keys:
            groups[tuple(rest)].append(contact_id)
        found: dict[tuple[Any, ...], Page[Record]] = {}
        async with ctx.db() as (session, caller):
            for (first, after, names, want_total), ids in groups.items():
                pages = await activities.pages_for_contacts(
                    session, caller, ids, first=first, after=after, selection=Selection(names), want_total=want_total
                )
                found.update({(i, first, after, names, want_total): p for i, p in zip(ids, pages, strict=True)})
        return [found[k] for k in keys]

    async def load_users(keys: list[uuid.UUID]) -> list[User | None]:
        async with ctx.db() as (session, caller):
            if not caller.access.can("user", "read"):
                return [None] * len(keys)
            rows = {u.id: u for u in (await session.execute(select(User).where(User.id.in_(set(keys))))).scalars()}
        return [rows.get(k) for k in keys]

    async def load_teams(keys: list[uuid.UUID]) -> list[Team | None]:
        async with ctx.db() as (session, caller):
            if not caller.access.can("team", "read"):
                return [None] * len(keys)
            rows = {t.id: t for t in (await session.execute(select(Team).where(Team.id.in_(set(keys))))).scalars()}
        return [rows.get(k) for k in keys]

    async def load_consents(keys: list[uuid.UUID]) -> list[list[Consent]]:
        async with ctx.db() as (session, _):
            return await contacts.consents_for(session, keys)

    async def load_attachments(keys: list[uuid.UUID]) -> list[list[Attachment]]:
        async with ctx.db() as (session, _):
            rows = (
                await session.execute(
                    select(Attachment).where(Attachment.activity_id.in_(set(keys)), Attachment.deleted_at.is_(None))
                )
            ).scalars()
        grouped: dict[uuid.UUID, list[Attachment]] = defaultdict(list)
        for a in rows:
            grouped[a.activity_id].append(a)  # type: ignore[index]
        return [grouped.get(k, []) for k in keys]

    async def load_privacy_flags(keys: list[uuid.UUID]) -> list[legal_hold.PrivacyFlags]:
        async with ctx.db() as (session, caller):
            return await legal_hold.flags(session, caller, keys)

    async def load_linked_exports(keys: list[uuid.UUID]) -> list[tuple[ExportJob, bool] | None]:
        async with ctx.db() as (session, caller):
            return await data_requests.linked_exports(session, caller, keys)

    async def load_request_contacts(keys: list[uuid.UUID]) -> list[list[uuid.UUID]]:
        async with ctx.db() as (session, _):
            return await data_requests.contacts_of(session, keys)

    return Loaders(
        contacts_by_id=DataLoader(by_id(contacts.contacts_by_ids)),
        activities_by_id=DataLoader(by_id(activities.activities_by_ids)),
        activity_pages=DataLoader(load_activity_pages),
        users_by_id=DataLoader(load_users),
        teams_by_id=DataLoader(load_teams),
        consents_by_contact=DataLoader(load_consents),
        attachments_by_activity=DataLoader(load_attachments),
        privacy_flags_by_contact=DataLoader(load_privacy_flags),
        linked_exports_by_id=DataLoader(load_linked_exports),
        data_request_contacts=DataLoader(load_request_contacts),
    )

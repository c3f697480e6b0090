"""The batch reads behind the schema's DataLoaders: one function per relation, keys in, results in key order
(None or [] for a miss), with the same record scope and permission checks as the top-level queries.

They take the request's session and caller; `schema.loaders` only wires them into per-request DataLoaders
(and holds the session lock around each batch).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Attachment, Team, User
from resolvers.contacts import activities
from resolvers.pagination import Page
from resolvers.projection import Record, Selection
from resolvers.runtime import Caller

RecordKey = tuple[uuid.UUID, frozenset[str]]  # (id, the selected field names)
PageKey = tuple[Any, ...]  # (contact id, first, after, field names, want_total)
FetchByIds = Callable[[AsyncSession, Caller, list[uuid.UUID], Selection], Awaitable[Sequence[Record | None]]]


async def records_by_ids(
    fetch: FetchByIds, session: AsyncSession, caller: Caller, keys: Sequence[RecordKey]
) -> list[Record | None]:
    """Records by id, one query per distinct selection (`fetch`: contacts or activities by ids)."""
    by_selection: dict[frozenset[str], list[uuid.UUID]] = defaultdict(list)
    for record_id, names in keys:
        by_selection[names].append(record_id)
    found: dict[RecordKey, Record | None] = {}
    for names, ids in by_selection.items():
        records = await fetch(session, caller, ids, Selection(names))
        found.update({(i, names): r for i, r in zip(ids, records, strict=True)})
    return [found[k] for k in keys]


async def activity_pages(session: AsyncSession, caller: Caller, keys: Sequence[PageKey]) -> list[Page[Record]]:
    """A page of activities per contact, one query per distinct (first, after, selection, want_total)."""
    groups: dict[tuple[Any, ...], list[uuid.UUID]] = defaultdict(list)
    for contact_id, *rest in keys:
        groups[tuple(rest)].append(contact_id)
    found: dict[tuple[Any, ...], Page[Record]] = {}
    for (first, after, names, want_total), ids in groups.items():
        pages = await activities.pages_for_contacts(
            session, caller, ids, first=first, after=after, selection=Selection(names), want_total=want_total
        )
        found.update({(i, first, after, names, want_total): p for i, p in zip(ids, pages, strict=True)})
    return [found[k] for k in keys]


async def users_by_ids(session: AsyncSession, caller: Caller, keys: Sequence[uuid.UUID]) -> list[User | None]:
    """Users by id; all None without `user` `read`."""
    if not caller.access.can(Resource.USER, Action.READ):
        return [None] * len(keys)
    rows = {u.id: u for u in (await session.execute(select(User).where(User.id.in_(set(keys))))).scalars()}
    return [rows.get(k) for k in keys]


async def teams_by_ids(session: AsyncSession, caller: Caller, keys: Sequence[uuid.UUID]) -> list[Team | None]:
    """Teams by id; all None without `team` `read`."""
    if not caller.access.can(Resource.TEAM, Action.READ):
        return [None] * len(keys)
    rows = {t.id: t for t in (await session.execute(select(Team).where(Team.id.in_(set(keys))))).scalars()}
    return [rows.get(k) for k in keys]


async def attachments_by_activities(session: AsyncSession, keys: Sequence[uuid.UUID]) -> list[list[Attachment]]:
    """The live (not deleted) attachments of each activity (the activity itself was read through its scope)."""
    rows = (
        await session.execute(
            select(Attachment).where(Attachment.activity_id.in_(set(keys)), Attachment.deleted_at.is_(None))
        )
    ).scalars()
    grouped: dict[uuid.UUID, list[Attachment]] = defaultdict(list)
    for a in rows:
        grouped[a.activity_id].append(a)  # type: ignore[index]
    return [grouped.get(k, []) for k in keys]

"""Records that may be the same person, matched on e-mail (case-insensitive), phone (E.164) or HKID (through
the keyed blind index, never in clear):

* `possible_matches`: other records matching those a data request names, or the requester's own e-mail
  (DPP6 covers all of them);
* `duplicate_groups`: every group of records in the caller's scope that share one of these keys
  (`duplicateContacts`, before `mergeContacts`).

Only keys the caller may read on every record take part (filtering by a field needs read on it), and only
contacts the caller can see are returned; erased records are left out. The keys' values never leave: a group
names which keys matched, and its contacts go through the normal field decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Contact
from resolvers import pagination
from resolvers.privacy import data_requests
from resolvers.runtime import Caller

LIMIT = 50
# Matching key -> the contact field whose read it needs, and the normalised column it compares.
KEYS: dict[str, tuple[str, Callable[[], Any]]] = {
    "EMAIL": ("email", lambda: func.lower(Contact.email)),
    "PHONE": ("phone", lambda: Contact.phone),
    "HKID": ("hkid", lambda: Contact.hkid_bidx),
}
CURSOR_KIND = "duplicates.datetime"
MAX_GROUP = 50  # contacts shown per group (a group larger than that is a data-quality problem of its own)


def usable_keys(caller: Caller) -> list[str]:
    """The matching keys this caller may compare: read on the field on every record."""
    readable = caller.access.readable_everywhere
    return [key for key, (field, _) in KEYS.items() if readable("contact", field)]


async def possible_matches(session: AsyncSession, caller: Caller, request_id: uuid.UUID) -> list[uuid.UUID]:
    request = await data_requests.get(session, caller, request_id)
    named = (await data_requests.contacts_of(session, [request.id]))[0]
    values: dict[str, set[Any]] = {
        "EMAIL": {request.requester_email.lower()} if request.requester_email else set(), "PHONE": set(), "HKID": set()
    }
    if named:
        for email, phone, hkid in (await session.execute(
            select(Contact.email, Contact.phone, Contact.hkid_bidx).where(Contact.id.in_(named))
        )).all():
            values["EMAIL"].update([email.lower()] if email else [])
            values["PHONE"].update([phone] if phone else [])
            values["HKID"].update([hkid] if hkid else [])
    tests: list[ColumnElement[bool]] = [KEYS[key][1]().in_(values[key]) for key in usable_keys(caller) if values[key]]
    if not tests:
        return []
    stmt = (
        select(Contact.id)
        .where(caller.access.record_filter("contact"), Contact.anonymised_at.is_(None), or_(*tests),
               Contact.id.not_in(named) if named else Contact.id.is_not(None))
        .order_by(Contact.created_at, Contact.id)
        .limit(LIMIT)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class DuplicateGroup:
    contact_ids: list[uuid.UUID]  # oldest first: the first is the natural primary
    matched_on: list[str]  # EMAIL | PHONE | HKID
    first_created_at: datetime


async def _key_groups(session: AsyncSession, caller: Caller, key: str) -> list[list[uuid.UUID]]:
    value = KEYS[key][1]()
    stmt = (
        select(func.array_agg(Contact.id))
        .where(caller.access.record_filter("contact"), Contact.anonymised_at.is_(None), value.is_not(None))
        .group_by(value)
        .having(func.count() > 1)
    )
    return [list(ids) for ids in (await session.execute(stmt)).scalars()]


def _union(groups: list[tuple[str, list[uuid.UUID]]]) -> list[tuple[set[uuid.UUID], set[str]]]:
    """Records sharing any key with each other form one group (A~B by e-mail, B~C by phone: A, B, C)."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(x: uuid.UUID) -> uuid.UUID:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, ids in groups:
        for other in ids[1:]:
            parent[root(other)] = root(ids[0])
    members: dict[uuid.UUID, set[uuid.UUID]] = {}
    for x in list(parent):
        members.setdefault(root(x), set()).add(x)
    keys: dict[uuid.UUID, set[str]] = {}
    for key, ids in groups:
        keys.setdefault(root(ids[0]), set()).add(key)
    return [(members[r], keys[r]) for r in members]


async def duplicate_groups(
    session: AsyncSession, caller: Caller, first: int | None, after: str | None
) -> pagination.Page[DuplicateGroup]:
    """Groups of visible records sharing a key, ordered by their oldest record (keyset cursor on it).

    Needs `contact read` and `contact merge`. The grouping is one GROUP BY per usable key over the indexed
    key columns; the page is cut from the groups found."""
    access = caller.access
    access.require(Resource.CONTACT, Action.READ)
    access.require(Resource.CONTACT, Action.MERGE)
    size = pagination.page_size(first)
    start = pagination.decode_cursor(after, CURSOR_KIND) if after else None
    found: list[tuple[str, list[uuid.UUID]]] = []
    for key in usable_keys(caller):
        found.extend((key, ids) for ids in await _key_groups(session, caller, key))
    united = _union(found)
    if not united:
        return pagination.Page([], [], False)
    everyone = {i for members, _ in united for i in members}
    created = {r.id: r.created_at for r in await session.execute(
        select(Contact.id, Contact.created_at).where(Contact.id.in_(everyone))
    )}
    groups = []
    for members, keys in united:
        ordered = sorted(members, key=lambda i: (created[i], i))
        groups.append(DuplicateGroup(ordered[:MAX_GROUP], [k for k in KEYS if k in keys], created[ordered[0]]))
    groups.sort(key=lambda g: (g.first_created_at, g.contact_ids[0]))
    if start is not None:
        groups = [g for g in groups if (g.first_created_at, g.contact_ids[0]) > start]
    page, more = groups[:size], len(groups) > size
    cursors = [pagination.encode_cursor(g.first_created_at, g.contact_ids[0], CURSOR_KIND) for g in page]
    return pagination.Page(page, cursors, more, len(united))

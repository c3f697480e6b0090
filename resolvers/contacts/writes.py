"""The write check shared by contacts and activities: the written row must be in the caller's `write` record
scope, and every written field writable on that row (field write rules may carry a scope). This module reads
the row's scope flags in one query; `authz` decides (`Access.require_writes`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import Access
from authz.errors import AccessDenied
from authz.permissions import Action
from db.models import Activity, Contact

WRITABLE = "_writable"
_ID_COLUMNS = {"contact": Contact.id, "activity": Activity.id}


async def row_flags(
    session: AsyncSession, access: Access, entity: str, row_id: uuid.UUID, names: Sequence[str]
) -> dict[str, bool]:
    """Whether the row is in the caller's write scope (`WRITABLE`), and the scope flags its field write rules
    for `names` need."""
    scope_names = access.write_scopes(entity, names)
    columns = access.scope_columns(entity, scope_names)
    stmt = select(
        access.record_filter(entity, Action.WRITE).label(WRITABLE), *(columns[s].label(s) for s in scope_names)
    ).where(_ID_COLUMNS[entity] == row_id)
    row = (await session.execute(stmt)).one()
    return {WRITABLE: bool(row[0]), **{s: bool(row._mapping[s]) for s in scope_names}}


def check(
    access: Access,
    entity: str,
    names: Sequence[str],
    flags: Mapping[str, bool],
    *,
    outside: str,
    labels: Mapping[str, str] | None = None,
) -> None:
    """FORBIDDEN with `outside` when the row is not writable, else FORBIDDEN naming the first unwritable field."""
    if not flags[WRITABLE]:
        raise AccessDenied(outside)
    access.require_writes(entity, names, flags, labels)

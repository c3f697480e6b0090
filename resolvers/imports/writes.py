"""A batch's writes, once every row is decided (resolvers/imports/rows.py): the new contacts (one COPY), the changed
ones (one UPDATE ... FROM (VALUES ...)), their history (one COPY), the webhook events (one statement).

The history rows are sealed (`contacts.history_rows`: each old and new value encrypted for its own row, as
`createContact` / `updateContact` record them) in a worker thread while the database writes the contacts: sealing
is most of the Python time of a batch, and the database's work on the contacts does not need it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, column, func, update, values
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from db import bulk
from db.models import Contact, ContactHistory
from db.models.base import utcnow
from db.queries import contacts as q
from resolvers import offload
from resolvers.contacts import contacts
from resolvers.contacts.input import ContactPatch
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = "contact"
CONTACTS = cast(Table, Contact.__table__)
HISTORY = cast(Table, ContactHistory.__table__)


@dataclass
class Writes:
    inserts: dict[uuid.UUID, ContactPatch] = field(default_factory=dict)  # new contacts, as finally written
    created_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    updates: dict[uuid.UUID, ContactPatch] = field(default_factory=dict)  # changed values of stored contacts
    # each change as `contacts.history_rows` takes it, in the order the rows made them (sealed at write time)
    history: list[tuple[uuid.UUID, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    events: list[tuple[str, uuid.UUID, list[str]]] = field(default_factory=list)


def _seal(caller: Caller, changes: list[tuple[uuid.UUID, dict[str, tuple[Any, Any]]]]) -> list[dict[str, Any]]:
    return [row for contact_id, change in changes for row in contacts.history_rows(caller, contact_id, change)]


async def write(session: AsyncSession, caller: Caller, pending: Writes) -> None:
    cipher, registry, now = caller.tenant.cipher, caller.access.table.registry, utcnow()
    sealing = asyncio.ensure_future(offload.cpu(_seal, caller, pending.history)) if pending.history else None

    def custom_columns(contact_id: uuid.UUID, custom: Mapping[str, Any]) -> dict[str, Any]:
        return {k: q.encode_custom(registry.get(ENTITY, k), contact_id, v, cipher)  # type: ignore[arg-type]
                for k, v in custom.items() if v is not None}

    try:
        if pending.inserts:
            rows = [{"id": cid, "custom_fields": custom_columns(cid, new.custom),
                     "created_at": pending.created_at[cid], "updated_at": now, "legal_hold": False,
                     **q.encode(new.values, cid, cipher)}
                    for cid, new in pending.inserts.items()]
            names = list(dict.fromkeys(k for r in rows for k in r))
            await bulk.copy_many(session, CONTACTS, [{n: r.get(n) for n in names} for r in rows])
        if pending.updates:
            encoded = {cid: (q.encode(p.values, cid, cipher), custom_columns(cid, p.custom))
                       for cid, p in pending.updates.items()}
            names = list(dict.fromkeys(k for cols, _ in encoded.values() for k in cols))
            table = values(column("id", q.T.id.type), *(column(n, q.T[n].type) for n in names),
                           column("custom", JSONB()), name="v")
            table = table.data([(cid, *(cols.get(n) for n in names), custom)
                                for cid, (cols, custom) in encoded.items()])
            changes: dict[str, Any] = {n: func.coalesce(table.c[n], q.T[n]) for n in names}
            if any(custom for _, custom in encoded.values()):
                changes["custom_fields"] = q.T.custom_fields.op("||")(table.c.custom)
            await session.execute(update(CONTACTS).where(q.T.id == table.c.id).values(updated_at=now, **changes))
    finally:
        history = await sealing if sealing is not None else []  # not left running when a write is refused
    if history:  # in the order the rows made the changes
        for n, change in enumerate(history):
            change["occurred_at"] = now + timedelta(microseconds=n)
        await bulk.copy_many(session, HISTORY, history)
    await webhook_events.emit_many(session, caller, pending.events)

"""A batch's writes, once every row is decided (resolvers/imports/decisions.py): the new contacts (one COPY), the
changed ones (one UPDATE ... FROM (VALUES ...)), their history (one COPY), the webhook events (one statement).

In two steps: `seal` is the Python part (values encoded and encrypted, the history rows sealed by
`contacts.history_rows`, each old and new value encrypted for its own row as `createContact` / `updateContact`
record them), `store` the database's. A real import seals batch N+1 in a worker thread while the database
stores batch N (resolvers/imports/runner.py).
"""

from __future__ import annotations

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
    # each change as `contacts.history_rows` takes it, in the order the rows made them (sealed by `seal`)
    history: list[tuple[uuid.UUID, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    events: list[tuple[str, uuid.UUID, list[str]]] = field(default_factory=list)


@dataclass
class Sealed:
    """A batch's writes as the database takes them: encoded, encrypted, history sealed (`seal`)."""

    contacts: list[dict[str, Any]]  # rows for COPY, all with the same keys
    updates: dict[uuid.UUID, tuple[dict[str, Any], dict[str, Any]]]  # id: (columns, custom fields)
    history: list[dict[str, Any]]  # in the order the rows made the changes
    events: list[tuple[str, uuid.UUID, list[str]]]
    now: datetime  # the changed contacts' `updated_at`


def seal(caller: Caller, pending: Writes) -> Sealed:
    """Everything but the database's work, so that it can be done (in a worker thread) while the database writes
    the previous batch. `now` (the contacts' `updated_at`, the history's `occurred_at`) is taken here."""
    cipher, registry, now = caller.tenant.cipher, caller.access.table.registry, utcnow()

    def custom_columns(contact_id: uuid.UUID, custom: Mapping[str, Any]) -> dict[str, Any]:
        return {k: q.encode_custom(registry.get(ENTITY, k), contact_id, v, cipher)  # type: ignore[arg-type]
                for k, v in custom.items() if v is not None}

    rows = [{"id": cid, "custom_fields": custom_columns(cid, new.custom),
             "created_at": pending.created_at[cid], "updated_at": now, "legal_hold": False,
             **q.encode(new.values, cid, cipher)}
            for cid, new in pending.inserts.items()]
    names = list(dict.fromkeys(k for r in rows for k in r))
    updates = {cid: (q.encode(p.values, cid, cipher), custom_columns(cid, p.custom))
               for cid, p in pending.updates.items()}
    history = [row for contact_id, change in pending.history
               for row in contacts.history_rows(caller, contact_id, change)]
    for n, change in enumerate(history):
        change["occurred_at"] = now + timedelta(microseconds=n)
    return Sealed([{n: r.get(n) for n in names} for r in rows], updates, history, pending.events, now)


async def store(session: AsyncSession, caller: Caller, sealed: Sealed) -> None:
    """The database's part: one COPY of the new contacts, one UPDATE of the changed ones, one COPY of the history,
    one statement for the webhook events."""
    if sealed.contacts:
        await bulk.copy_many(session, CONTACTS, sealed.contacts)
    if sealed.updates:
        names = list(dict.fromkeys(k for cols, _ in sealed.updates.values() for k in cols))
        table = values(column("id", q.T.id.type), *(column(n, q.T[n].type) for n in names),
                       column("custom", JSONB()), name="v")
        table = table.data([(cid, *(cols.get(n) for n in names), custom)
                            for cid, (cols, custom) in sealed.updates.items()])
        changes: dict[str, Any] = {n: func.coalesce(table.c[n], q.T[n]) for n in names}
        if any(custom for _, custom in sealed.updates.values()):
            changes["custom_fields"] = q.T.custom_fields.op("||")(table.c.custom)
        await session.execute(update(CONTACTS).where(q.T.id == table.c.id).values(updated_at=sealed.now, **changes))
    if sealed.history:
        await bulk.copy_many(session, HISTORY, sealed.history)
    await webhook_events.emit_many(session, caller, sealed.events)

"""The event outbox: `emit` writes an event and its deliveries in the caller's transaction.

An event names the changed object (its Relay global ID) and, for updates, the names of the changed fields,
never a value: personal data leaves only through an authorised, audited pull with an API key. With no active
webhook subscribed to the type nothing is written. One statement, one round trip.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import WebhookEvent
from resolvers.ids import global_id
from resolvers.runtime import Caller

# Event type -> (the GraphQL type its `data.id` names, the audit log's entity type for its disclosure).
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "contact.created": ("Contact", "contact"),
    "contact.updated": ("Contact", "contact"),
    "contact.erased": ("Contact", "contact"),
    "activity.created": ("Activity", "activity"),
    "data_request.created": ("DataRequest", "data_request"),
    "data_request.due_soon": ("DataRequest", "data_request"),
    "data_request.overdue": ("DataRequest", "data_request"),
    # s.23(1)(c): a correction passed on to a webhook that received the person's data (sent to it whether or not
    # it subscribed; `changedFields` are the fields it had received)
    "contact.corrected": ("Contact", "contact"),
    "export.finished": ("ExportJob", "export"),
    "policy.changed": ("Workspace", "policy"),
}

_RECORD_SQL = """
    WITH p AS (SELECT CAST(:id AS uuid) AS id, CAST(:type AS varchar) AS type, CAST(:at AS timestamptz) AS at,
                      CAST(:entity_type AS varchar) AS entity_type, CAST(:entity_id AS varchar) AS entity_id,
                      CAST(:data AS jsonb) AS data, CAST(:once AS boolean) AS once),
    subs AS (SELECT w.id FROM webhooks w, p WHERE w.active AND p.type = ANY(w.events)),
    ev AS (
      INSERT INTO webhook_events (id, type, occurred_at, entity_type, entity_id, data)
      SELECT p.id, p.type, p.at, p.entity_type, p.entity_id, p.data FROM p
      WHERE EXISTS (SELECT 1 FROM subs)
        AND NOT (p.once AND EXISTS (SELECT 1 FROM webhook_events e WHERE e.type = p.type AND e.entity_id = p.entity_id))
      RETURNING id, occurred_at
    )
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, created_at)
    SELECT gen_random_uuid(), subs.id, ev.id, 'PENDING', 0, ev.occurred_at, ev.occurred_at FROM subs, ev
    RETURNING webhook_id
    """
_RECORD = text(_RECORD_SQL)
# The same, to chosen active webhooks whatever their subscriptions (a legal notice, not a feed).
_RECORD_TO = text(_RECORD_SQL.replace(
    "subs AS (SELECT w.id FROM webhooks w, p WHERE w.active AND p.type = ANY(w.events))",
    "subs AS (SELECT w.id FROM webhooks w WHERE w.active AND w.id = ANY(CAST(:targets AS uuid[])))",
))


async def record(
    session: AsyncSession,
    event_type: str,
    entity_id: object,
    occurred_at: datetime,
    changed_fields: Iterable[str] = (),
    *,
    once: bool = False,
    to: Iterable[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Write the event for every subscribed webhook; the ids of those webhooks. `once`: not when an event of this
    type was already written for this entity (reminders run daily). `to`: for these active webhooks only,
    subscribed or not."""
    node, entity_type = EVENT_TYPES[event_type]
    data = {"id": global_id(node, entity_id), "changedFields": list(dict.fromkeys(changed_fields))}
    params = {
        "id": uuid.uuid4(),
        "type": event_type,
        "at": occurred_at,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "data": json.dumps(data),
        "once": once,
    }
    if to is not None:
        params["targets"] = list(to)
        return list((await session.execute(_RECORD_TO, params)).scalars())
    return list((await session.execute(_RECORD, params)).scalars())


async def emit(
    session: AsyncSession, caller: Caller, event_type: str, entity_id: object, changed_fields: Iterable[str] = (),
    *, to: Iterable[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """`record`, then one delivery message per webhook once the caller's unit of work commits; the webhooks."""
    ids = set(await record(session, event_type, entity_id, caller.runtime.now(), changed_fields, to=to))
    for webhook_id in ids:
        caller.enqueue("webhooks.deliver", slug=caller.tenant.slug, webhook_id=str(webhook_id))
    return sorted(ids)


def body(event: WebhookEvent, workspace: str) -> bytes:
    """The JSON a receiver gets: the same bytes on every attempt."""
    occurred = event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    payload = {"id": str(event.id), "type": event.type, "occurredAt": occurred, "workspace": workspace,
               "data": event.data}
    return json.dumps(payload, separators=(",", ":")).encode()



_SUBSCRIBED = text("SELECT DISTINCT unnest(events) FROM webhooks WHERE active")
_RECORD_MANY = text(
    """
    WITH p AS (SELECT x.* FROM jsonb_to_recordset(CAST(:events AS jsonb))
                 AS x(id uuid, type varchar, entity_type varchar, entity_id varchar, data jsonb, n int)),
    subs AS (SELECT w.id, w.events FROM webhooks w WHERE w.active),
    ev AS (
      INSERT INTO webhook_events (id, type, occurred_at, entity_type, entity_id, data)
      SELECT p.id, p.type, CAST(:at AS timestamptz), p.entity_type, p.entity_id, p.data FROM p
      WHERE EXISTS (SELECT 1 FROM subs WHERE p.type = ANY(subs.events)) ORDER BY p.n
      RETURNING id, type, occurred_at
    ),
    d AS (
      INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts, next_attempt_at, created_at)
      SELECT gen_random_uuid(), subs.id, ev.id, 'PENDING', 0, ev.occurred_at, ev.occurred_at
      FROM subs JOIN ev ON ev.type = ANY(subs.events)
      RETURNING webhook_id
    )
    SELECT DISTINCT webhook_id FROM d
    """
)


async def emit_many(
    session: AsyncSession, caller: Caller, changes: Iterable[tuple[str, object, Iterable[str]]]
) -> None:
    """`emit` for many (event type, entity id, changed fields) at once, in one statement (a bulk import's batch):
    the events keep the order given (`seq`); one delivery message per subscribed webhook after commit. The types
    active webhooks subscribe to are read first: events nobody subscribes to are not even built (most workspaces
    subscribe to none of an import's thousands)."""
    changes = list(changes)
    if not changes:
        return
    wanted = set((await session.execute(_SUBSCRIBED)).scalars())
    events = []
    for n, (event_type, entity_id, fields) in enumerate(changes):
        if event_type not in wanted:
            continue
        node, entity_type = EVENT_TYPES[event_type]
        events.append({"id": str(uuid.uuid4()), "type": event_type, "entity_type": entity_type,
                       "entity_id": str(entity_id), "n": n,
                       "data": {"id": global_id(node, entity_id), "changedFields": list(dict.fromkeys(fields))}})
    if not events:
        return
    params = {"events": json.dumps(events), "at": caller.runtime.now()}
    for webhook_id in (await session.execute(_RECORD_MANY, params)).scalars():
        caller.enqueue("webhooks.deliver", slug=caller.tenant.slug, webhook_id=str(webhook_id))

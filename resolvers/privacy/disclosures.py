"""`disclosures(contactId)`: who outside the workspace received a contact's data in the last 12 months, so that
a correction can be passed on to them (PDPO s.23(1)(c)). Computed from the audit log:

* exports: downloads (EXPORT events, phase `downloaded`) of this contact's export (e.g. for an access
  request) and of whole-workspace exports made after the contact existed, named by who requested the export
  (the link's holder is not signed in); their fields are those the finished export recorded;
* partner API keys: READ events by `api_key` actors on the contact or its activities;
* webhooks: deliveries of events about the contact or its activities (EXPORT events, phase `webhook`: the
  recipient URL and the field names the event carried, never values).

Records merged into the contact (`mergeContacts`) count as the contact: their recipients received the same
person's data. Needs `data_request` `read` and the contact visible. Reading it is itself audited (a READ on
`audit`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, String, Uuid, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.models import Contact
from resolvers.errors import NotFound
from resolvers.privacy import merged_records
from resolvers.runtime import Caller

WINDOW = timedelta(days=365)

_SQL = """
WITH ev AS (
  SELECT e.id, e.occurred_at,
         -- a download is made through a link (actor kind `link`): the export's requester is who received it
         CASE WHEN e.details ->> 'phase' = 'downloaded' AND e.details ->> 'requestedBy' IS NOT NULL
              THEN CAST(e.details ->> 'requestedBy' AS uuid) ELSE e.actor_id END AS actor_id,
         CASE WHEN e.details ->> 'phase' = 'downloaded' AND e.details ->> 'requestedBy' IS NOT NULL
              THEN coalesce(e.details ->> 'requestedByKind', e.actor_kind) ELSE e.actor_kind END AS actor_kind,
         CASE WHEN e.details ->> 'phase' = 'webhook' THEN e.fields
              WHEN e.action = 'EXPORT' THEN coalesce((
             SELECT c.fields FROM audit_events c
             WHERE c.action = 'EXPORT' AND c.details ->> 'phase' = 'completed'
               AND c.details ->> 'exportId' = e.details ->> 'exportId' LIMIT 1), '{}') ELSE e.fields END AS fields,
         CASE WHEN e.details ->> 'phase' = 'webhook' THEN 'WEBHOOK'
              WHEN e.action = 'EXPORT' AND e.entity_type = 'workspace' THEN 'WORKSPACE_EXPORT'
              WHEN e.action = 'EXPORT' THEN 'CONTACT_EXPORT'
              ELSE 'API_KEY' END AS channel,
         CASE WHEN e.entity_type = 'activity' THEN 'activities.' ELSE '' END AS prefix,
         e.details ->> 'recipient' AS recipient
  FROM audit_events e
  WHERE e.occurred_at >= :since AND e.occurred_at >= :created
    AND (
      (e.action = 'EXPORT' AND e.details ->> 'phase' = 'downloaded' AND (
          (e.entity_type = 'contact' AND e.entity_id = ANY(:cids)) OR e.entity_type = 'workspace'))
      OR ((e.action = 'READ' AND e.actor_kind = 'api_key'
           OR e.action = 'EXPORT' AND e.details ->> 'phase' = 'webhook') AND (
          (e.entity_type = 'contact' AND e.entity_id = ANY(:cids))
          OR (e.entity_type = 'activity'
              AND e.entity_id IN (SELECT a.id::text FROM activities a WHERE a.contact_id = ANY(:cuuids)))))
    )
)
SELECT ev.channel, ev.actor_kind, ev.actor_id, coalesce(ev.recipient, k.name, u.email) AS label,
       min(ev.occurred_at) AS first_at, max(ev.occurred_at) AS last_at, count(DISTINCT ev.id) AS n,
       coalesce(array_agg(DISTINCT ev.prefix || f.name ORDER BY ev.prefix || f.name)
                FILTER (WHERE f.name IS NOT NULL), '{}') AS fields
FROM ev
LEFT JOIN LATERAL unnest(ev.fields) AS f(name) ON true
LEFT JOIN users u ON ev.actor_kind = 'user' AND u.id = ev.actor_id
LEFT JOIN api_keys k ON ev.actor_kind = 'api_key' AND k.id = ev.actor_id
GROUP BY ev.channel, ev.actor_kind, ev.actor_id, ev.recipient, k.name, u.email
ORDER BY max(ev.occurred_at) DESC, ev.channel, ev.actor_id
"""


_STMT = text(_SQL).bindparams(bindparam("cids", type_=ARRAY(String)), bindparam("cuuids", type_=ARRAY(Uuid())))


async def _rows(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime, created: datetime) -> list[Any]:
    params: dict[str, Any] = {"cids": [str(i) for i in ids], "cuuids": list(ids), "since": now - WINDOW,
                              "created": created}
    return list(await session.execute(_STMT, params))


async def events_about(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime) -> int:
    """How many disclosure events of the last 12 months name these contacts (or their activities), not
    counting whole-workspace exports (those name every contact anyway)."""
    created = await session.scalar(select(func.min(Contact.created_at)).where(Contact.id.in_(list(ids))))
    if created is None:
        return 0
    return sum(int(r.n) for r in await _rows(session, ids, now, created) if r.channel != "WORKSPACE_EXPORT")


@dataclass(frozen=True)
class Disclosure:
    channel: str  # API_KEY | CONTACT_EXPORT | WORKSPACE_EXPORT | WEBHOOK
    actor_kind: str
    actor_id: uuid.UUID | None
    label: str  # the API key's name, the e-mail of who made the export, or the webhook's URL
    first_at: datetime
    last_at: datetime
    count: int
    fields: list[str]


async def disclosures(session: AsyncSession, caller: Caller, contact_id: uuid.UUID) -> list[Disclosure]:
    caller.access.require(Resource.DATA_REQUEST, Action.READ)
    created = await session.scalar(
        select(Contact.created_at).where(caller.access.record_filter("contact"), Contact.id == contact_id)
    )
    if created is None:
        raise NotFound("no such contact")
    ids = await merged_records.with_merged(session, [contact_id])
    if len(ids) > 1:
        oldest = await session.scalar(select(func.min(Contact.created_at)).where(Contact.id.in_(ids)))
        created = min(created, oldest or created)
    out = [
        Disclosure(
            r.channel,
            r.actor_kind,
            r.actor_id,
            r.label or r.actor_kind,
            r.first_at,
            r.last_at,
            int(r.n),
            list(r.fields),
        )
        for r in await _rows(session, ids, caller.runtime.now(), created)
    ]
    caller.audit.event("READ", entity_type="audit", details={"report": "disclosures", "contactId": str(contact_id)})
    return out

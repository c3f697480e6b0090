"""Per-person access reports and breach exposure reports over the audit log (admins: `audit` `read`).

Computed in SQL (GROUP BY over `audit_events`, `unnest(fields)`). Events on activities count for their
contact, their fields prefixed `activities.`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, String, Uuid, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action
from resolvers.audit.shapes import (
    ACTIVITY_PREFIX,
    MAX_EXPOSURE_ROWS,
    RESOURCE,
    AccessReport,
    AccessRow,
    Actor,
    ActorExposure,
    ExposureReport,
    ExposureRow,
    FieldExposure,
    audit_read,
    iso,
    label,
    window,
)
from resolvers.privacy import merged_records
from resolvers.runtime import Caller

_ACTOR_LABEL_JOINS = """
LEFT JOIN users u ON ev.actor_kind = 'user' AND u.id = ev.actor_id
LEFT JOIN api_keys k ON ev.actor_kind = 'api_key' AND k.id = ev.actor_id
"""


def _time_sql(params: dict[str, Any], lo: datetime | None, hi: datetime | None) -> str:
    out = ""
    if lo is not None:
        params["lo"] = lo
        out += " AND e.occurred_at >= :lo"
    if hi is not None:
        params["hi"] = hi
        out += " AND e.occurred_at < :hi"
    return out


async def access_report(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    occurred_from: datetime | None = None,
    occurred_to: datetime | None = None,
    *,
    download: bool = False,
) -> AccessReport:
    """Per actor who touched the contact (or its activities): actions, fields, first/last time, event count.

    A contact that does not exist (any more) has a report too: its events outlive it. Records merged into the
    contact count as the contact (the same person's trail)."""
    caller.access.require(RESOURCE, Action.READ)
    lo, hi = window(occurred_from, occurred_to)
    ids = await merged_records.with_merged(session, [contact_id])
    params: dict[str, Any] = {"cids": [str(i) for i in ids], "cuuids": ids}
    in_window = _time_sql(params, lo, hi)
    sql = f"""
WITH ev AS (
  SELECT e.id, e.occurred_at, e.actor_id, e.actor_kind, e.action, e.fields,
         CASE WHEN e.entity_type = 'activity' THEN '{ACTIVITY_PREFIX}' ELSE '' END AS prefix
  FROM audit_events e
  WHERE ((e.entity_type = 'contact' AND e.entity_id = ANY(:cids))
      OR (e.entity_type = 'activity'
          AND e.entity_id IN (SELECT a.id::text FROM activities a WHERE a.contact_id = ANY(:cuuids)))){in_window}
)
SELECT ev.actor_kind, ev.actor_id, coalesce(u.email, k.name) AS label,
       array_agg(DISTINCT ev.action ORDER BY ev.action) AS actions,
       coalesce(array_agg(DISTINCT ev.prefix || f.name ORDER BY ev.prefix || f.name)
                FILTER (WHERE f.name IS NOT NULL AND ev.action <> 'DENIED'), '{{}}') AS fields,
       coalesce(array_agg(DISTINCT ev.prefix || f.name ORDER BY ev.prefix || f.name)
                FILTER (WHERE f.name IS NOT NULL AND ev.action = 'DENIED'), '{{}}') AS denied_fields,
       min(ev.occurred_at) AS first_at, max(ev.occurred_at) AS last_at, count(DISTINCT ev.id) AS n
FROM ev
LEFT JOIN LATERAL unnest(ev.fields) AS f(name) ON true
{_ACTOR_LABEL_JOINS}
GROUP BY ev.actor_kind, ev.actor_id, u.email, k.name
ORDER BY max(ev.occurred_at) DESC, ev.actor_kind, ev.actor_id
"""
    stmt = text(sql).bindparams(bindparam("cids", type_=ARRAY(String)), bindparam("cuuids", type_=ARRAY(Uuid())))
    result = await session.execute(stmt, params)
    rows = [
        AccessRow(
            actor=Actor(r.actor_kind, r.actor_id, label(r.actor_kind, r.label)),
            actions=list(r.actions),
            fields=list(r.fields),
            denied_fields=list(r.denied_fields),
            first_at=r.first_at,
            last_at=r.last_at,
            count=int(r.n),
        )
        for r in result
    ]
    audit_read(caller, "accessReport", download, contactId=str(contact_id), **{"from": iso(lo), "to": iso(hi)})
    return AccessReport(contact_id, lo, hi, rows)


# ---------------------------------------------------------------------------------------------------------
# exposureReport: which contacts' fields were read, by whom (breach reconstruction)
# ---------------------------------------------------------------------------------------------------------


def _exposure_events(params: dict[str, Any], actor_id: uuid.UUID | None) -> str:
    actor_sql = ""
    if actor_id is not None:
        params["actor"] = actor_id
        actor_sql = " AND e.actor_id = :actor"
    return f"""
WITH ev AS (
  SELECT e.id, e.occurred_at, e.actor_id, e.actor_kind, e.fields, e.categories,
         CASE WHEN e.entity_type = 'contact' THEN e.entity_id ELSE a.contact_id::text END AS contact_id,
         CASE WHEN e.entity_type = 'activity' THEN '{ACTIVITY_PREFIX}' ELSE '' END AS prefix
  FROM audit_events e
  LEFT JOIN activities a ON e.entity_type = 'activity' AND a.id::text = e.entity_id
  WHERE e.action = 'READ' AND e.entity_type IN ('contact', 'activity')
    AND e.occurred_at >= :lo AND e.occurred_at < :hi{actor_sql}
)"""


def _actor_key(kind: str, actor_id: uuid.UUID | None) -> str:
    return f"{kind}:{actor_id or ''}"


def _unnamed(key: str) -> Actor:
    kind, _, raw = key.partition(":")
    return Actor(kind, uuid.UUID(raw) if raw else None, kind)


async def exposure_report(
    session: AsyncSession,
    caller: Caller,
    occurred_from: datetime,
    occurred_to: datetime,
    actor_id: uuid.UUID | None = None,
    *,
    download: bool = False,
    max_rows: int | None = MAX_EXPOSURE_ROWS,
) -> ExposureReport:
    """READ events on contacts and their activities in [from, to): one row per contact (fields, PII
    categories, actors, read count), per-field and per-actor totals."""
    caller.access.require(RESOURCE, Action.READ)
    lo, hi = window(occurred_from, occurred_to)
    assert lo is not None and hi is not None
    params: dict[str, Any] = {"lo": lo, "hi": hi}
    events = _exposure_events(params, actor_id)
    limit = "" if max_rows is None else f" LIMIT {int(max_rows) + 1}"
    per_contact = f"""{events}
SELECT ev.contact_id,
       coalesce(array_agg(DISTINCT ev.prefix || f.name ORDER BY ev.prefix || f.name)
                FILTER (WHERE f.name IS NOT NULL), '{{}}') AS fields,
       coalesce(array_agg(DISTINCT c.name ORDER BY c.name) FILTER (WHERE c.name IS NOT NULL), '{{}}') AS categories,
       array_agg(DISTINCT ev.actor_kind || ':' || coalesce(ev.actor_id::text, '')) AS actors,
       count(DISTINCT ev.id) AS reads, min(ev.occurred_at) AS first_at, max(ev.occurred_at) AS last_at
FROM ev
LEFT JOIN LATERAL unnest(ev.fields) AS f(name) ON true
LEFT JOIN LATERAL unnest(ev.categories) AS c(name) ON true
WHERE ev.contact_id IS NOT NULL
GROUP BY ev.contact_id
ORDER BY count(DISTINCT ev.id) DESC, ev.contact_id{limit}
"""
    per_field = f"""{events}
SELECT ev.prefix || f.name AS field, count(DISTINCT ev.contact_id) AS contacts
FROM ev CROSS JOIN LATERAL unnest(ev.fields) AS f(name)
WHERE ev.contact_id IS NOT NULL
GROUP BY 1 ORDER BY 2 DESC, 1
"""
    per_actor = f"""{events}
SELECT ev.actor_kind, ev.actor_id, coalesce(u.email, k.name) AS label,
       count(DISTINCT ev.contact_id) AS contacts, count(*) AS reads
FROM ev
{_ACTOR_LABEL_JOINS}
WHERE ev.contact_id IS NOT NULL
GROUP BY ev.actor_kind, ev.actor_id, u.email, k.name
ORDER BY count(DISTINCT ev.contact_id) DESC, ev.actor_kind, ev.actor_id
"""
    totals = f"""{events}
SELECT count(DISTINCT ev.contact_id) AS contacts, count(*) AS reads FROM ev WHERE ev.contact_id IS NOT NULL
"""
    actors = [
        ActorExposure(Actor(r.actor_kind, r.actor_id, label(r.actor_kind, r.label)), int(r.contacts), int(r.reads))
        for r in await session.execute(text(per_actor), params)
    ]
    by_key = {_actor_key(a.actor.kind, a.actor.id): a.actor for a in actors}
    raw_rows = list(await session.execute(text(per_contact), params))
    truncated = max_rows is not None and len(raw_rows) > max_rows
    rows = []
    for r in raw_rows[:max_rows] if max_rows is not None else raw_rows:
        try:
            contact_id = uuid.UUID(r.contact_id)
        except ValueError:  # a malformed entity id: not a contact we can name
            continue
        named = sorted(
            (by_key.get(key) or _unnamed(key) for key in r.actors), key=lambda a: (a.kind, a.label, str(a.id))
        )
        rows.append(
            ExposureRow(contact_id, list(r.fields), list(r.categories), named, int(r.reads), r.first_at, r.last_at)
        )
    fields = [FieldExposure(r.field, int(r.contacts)) for r in await session.execute(text(per_field), params)]
    total = (await session.execute(text(totals), params)).one()
    audit_read(
        caller,
        "exposureReport",
        download,
        **{"from": iso(lo), "to": iso(hi)},
        **({"actorId": str(actor_id)} if actor_id else {}),
    )
    return ExposureReport(lo, hi, actor_id, int(total.contacts), int(total.reads), rows, fields, actors, truncated)

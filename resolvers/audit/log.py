"""Reading the audit log (admins: `audit` `read`): the event list, per-person access reports, breach exposure
reports, chain verification; and the workspace's audit retention (`workspace` `write`).

Reports are computed in SQL (GROUP BY over `audit_events`, `unnest(fields)`). Events on activities count for
their contact, their fields prefixed `activities.`. Every read of the log is itself audited: one `READ` event
(or `EXPORT` for a download) with entity type `audit` and `details.report` naming what was read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import audit as audit_log
from db.models.meta import WorkspaceMeta, audit_events
from db.sessions import session_factory
from db.tenancy import TenantDirectory
from resolvers import pagination
from resolvers.errors import BadInput
from resolvers.runtime import Caller

RESOURCE = "audit"
CURSOR_KIND = "AUDIT.OCCURRED_AT.DESC.datetime"
MAX_RETENTION_MONTHS = 1200
MAX_EXPOSURE_ROWS = 10_000  # rows a GraphQL exposure report carries (totals always cover everything)
ACTIVITY_PREFIX = "activities."


# ---------------------------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    field: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None

    def described(self) -> dict[str, Any]:
        """The filter as audit details (identifiers only)."""
        out = {
            "actorId": self.actor_id,
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "action": self.action,
            "field": self.field,
            "from": self.occurred_from,
            "to": self.occurred_to,
        }
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class AuditEntry:
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_kind: str
    action: str
    entity_type: str | None
    entity_id: str | None
    fields: list[str]
    categories: list[str]
    request_id: str | None
    client_ip: str | None
    policy_version: int | None
    details: dict[str, Any] | None


@dataclass(frozen=True)
class Actor:
    kind: str
    id: uuid.UUID | None
    label: str


@dataclass(frozen=True)
class AccessRow:
    actor: Actor
    actions: list[str]
    fields: list[str]
    first_at: datetime
    last_at: datetime
    count: int
    denied_fields: list[str] = field(default_factory=list)  # attempted and refused (DENIED), not read


@dataclass(frozen=True)
class AccessReport:
    contact_id: uuid.UUID
    occurred_from: datetime | None
    occurred_to: datetime | None
    rows: list[AccessRow]


@dataclass(frozen=True)
class ExposureRow:
    contact_id: uuid.UUID
    fields: list[str]
    categories: list[str]
    actors: list[Actor]
    read_count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class FieldExposure:
    field: str
    contact_count: int


@dataclass(frozen=True)
class ActorExposure:
    actor: Actor
    contact_count: int
    read_count: int


@dataclass(frozen=True)
class ExposureReport:
    occurred_from: datetime
    occurred_to: datetime
    actor_id: uuid.UUID | None
    contact_count: int
    read_count: int
    rows: list[ExposureRow]
    fields: list[FieldExposure]
    actors: list[ActorExposure]
    truncated: bool


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def _utc(ts: datetime | None) -> datetime | None:
    """A naive time is UTC (the contract's times are UTC)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None or ts.utcoffset() is None else ts


def _window(occurred_from: datetime | None, occurred_to: datetime | None) -> tuple[datetime | None, datetime | None]:
    lo, hi = _utc(occurred_from), _utc(occurred_to)
    if lo is not None and hi is not None and lo >= hi:
        raise BadInput("`to` must be later than `from`", field="to")
    return lo, hi


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def _label(kind: str, label: str | None) -> str:
    return label or kind


def _audit_read(caller: Caller, report: str, download: bool, **details: Any) -> None:
    caller.audit.event(
        "EXPORT" if download else "READ",
        entity_type=RESOURCE,
        details={"report": report, **({"format": "csv"} if download else {}), **details},
    )


# ---------------------------------------------------------------------------------------------------------
# auditEvents
# ---------------------------------------------------------------------------------------------------------

_E = audit_events.c
_ENTRY_COLUMNS = (
    _E.id,
    _E.occurred_at,
    _E.actor_id,
    _E.actor_kind,
    _E.action,
    _E.entity_type,
    _E.entity_id,
    _E.fields,
    _E.categories,
    _E.request_id,
    _E.client_ip,
    _E.policy_version,
    _E.details,
)


def _conditions(flt: AuditFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if flt.actor_id is not None:
        out.append(_E.actor_id == flt.actor_id)
    if flt.entity_type is not None:
        out.append(_E.entity_type == flt.entity_type)
    if flt.entity_id is not None:
        out.append(_E.entity_id == flt.entity_id)
    if flt.action is not None:
        out.append(_E.action == flt.action)
    if flt.field is not None:
        out.append(_E.fields.contains([flt.field]))
    if flt.occurred_from is not None:
        out.append(_E.occurred_at >= flt.occurred_from)
    if flt.occurred_to is not None:
        out.append(_E.occurred_at < flt.occurred_to)
    return out


async def list_events(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    flt: AuditFilter | None,
    want_total: bool = False,
) -> pagination.Page[AuditEntry]:
    """Newest first, keyset-paginated on (occurred_at desc, id desc); at most 200 a page."""
    caller.access.require(RESOURCE, "read")
    size = pagination.page_size(first)
    flt = flt or AuditFilter()
    lo, hi = _window(flt.occurred_from, flt.occurred_to)
    flt = AuditFilter(flt.actor_id, flt.entity_type, flt.entity_id, flt.action, flt.field, lo, hi)
    conditions = _conditions(flt)
    stmt = select(*_ENTRY_COLUMNS).where(*conditions)
    if after:
        value, row_id = pagination.decode_cursor(after, CURSOR_KIND)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise BadInput("invalid cursor", field="after")
        stmt = stmt.where(tuple_(_E.occurred_at, _E.id) < tuple_(value, row_id))
    stmt = stmt.order_by(_E.occurred_at.desc(), _E.id.desc()).limit(size + 1)
    rows = list((await session.execute(stmt)).all())
    has_next = len(rows) > size
    rows = rows[:size]
    total = None
    if want_total:
        total = int(await session.scalar(select(func.count()).select_from(audit_events).where(*conditions)) or 0)
    entries = [
        AuditEntry(
            id=r.id,
            occurred_at=r.occurred_at,
            actor_id=r.actor_id,
            actor_kind=r.actor_kind,
            action=r.action,
            entity_type=r.entity_type,
            entity_id=r.entity_id,
            fields=list(r.fields),
            categories=list(r.categories),
            request_id=r.request_id,
            client_ip=r.client_ip,
            policy_version=r.policy_version,
            details=r.details,
        )
        for r in rows
    ]
    cursors = [pagination.encode_cursor(e.occurred_at, e.id, CURSOR_KIND) for e in entries]
    _audit_read(caller, "auditEvents", False, filter=flt.described(), returned=len(entries))
    return pagination.Page(entries, cursors, has_next, total)


# ---------------------------------------------------------------------------------------------------------
# accessReport: who read or changed one person's data
# ---------------------------------------------------------------------------------------------------------

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

    A contact that does not exist (any more) has a report too: its events outlive it."""
    caller.access.require(RESOURCE, "read")
    lo, hi = _window(occurred_from, occurred_to)
    params: dict[str, Any] = {"cid": str(contact_id), "cuuid": contact_id}
    window = _time_sql(params, lo, hi)
    sql = f"""
WITH ev AS (
  SELECT e.id, e.occurred_at, e.actor_id, e.actor_kind, e.action, e.fields,
         CASE WHEN e.entity_type = 'activity' THEN '{ACTIVITY_PREFIX}' ELSE '' END AS prefix
  FROM audit_events e
  WHERE ((e.entity_type = 'contact' AND e.entity_id = :cid)
      OR (e.entity_type = 'activity'
          AND e.entity_id IN (SELECT a.id::text FROM activities a WHERE a.contact_id = :cuuid))){window}
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
    result = await session.execute(text(sql), params)
    rows = [
        AccessRow(
            actor=Actor(r.actor_kind, r.actor_id, _label(r.actor_kind, r.label)),
            actions=list(r.actions),
            fields=list(r.fields),
            first_at=r.first_at,
            last_at=r.last_at,
            count=int(r.n),
            denied_fields=list(r.denied_fields),
        )
        for r in result
    ]
    _audit_read(caller, "accessReport", download, contactId=str(contact_id), **{"from": _iso(lo), "to": _iso(hi)})
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
    caller.access.require(RESOURCE, "read")
    lo, hi = _window(occurred_from, occurred_to)
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
        ActorExposure(Actor(r.actor_kind, r.actor_id, _label(r.actor_kind, r.label)), int(r.contacts), int(r.reads))
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
    _audit_read(
        caller,
        "exposureReport",
        download,
        **{"from": _iso(lo), "to": _iso(hi)},
        **({"actorId": str(actor_id)} if actor_id else {}),
    )
    return ExposureReport(lo, hi, actor_id, int(total.contacts), int(total.reads), rows, fields, actors, truncated)


# ---------------------------------------------------------------------------------------------------------
# The chain, retention
# ---------------------------------------------------------------------------------------------------------


async def verify(session: AsyncSession, caller: Caller) -> audit_log.ChainReport:
    caller.access.require(RESOURCE, "read")
    report = await audit_log.verify_chain(session)
    _audit_read(caller, "auditChain", False, ok=report.ok, firstBrokenSeq=report.first_broken_seq)
    return report


async def retention_months(session: AsyncSession, caller: Caller) -> int:
    caller.access.require("workspace", "read")
    configured = await session.scalar(select(WorkspaceMeta.audit_retention_months).where(WorkspaceMeta.id == 1))
    return max(audit_log.MIN_RETENTION_MONTHS, configured or audit_log.DEFAULT_RETENTION_MONTHS)


async def set_retention(session: AsyncSession, caller: Caller, months: int) -> int:
    """Store the audit retention in months (at least 12); partitions older than that are dropped by
    `maintain_partitions` (the monthly job, or `main.py audit maintain`)."""
    caller.access.require("workspace", "write")
    if months < audit_log.MIN_RETENTION_MONTHS:
        raise BadInput(f"audit retention is at least {audit_log.MIN_RETENTION_MONTHS} months", field="months")
    if months > MAX_RETENTION_MONTHS:
        raise BadInput(f"audit retention is at most {MAX_RETENTION_MONTHS} months", field="months")
    previous = await session.scalar(select(WorkspaceMeta.audit_retention_months).where(WorkspaceMeta.id == 1))
    await session.execute(update(WorkspaceMeta).where(WorkspaceMeta.id == 1).values(audit_retention_months=months))
    caller.audit.event(
        "UPDATE",
        entity_type="workspace",
        fields=["auditRetentionMonths"],
        details={"setting": "auditRetentionMonths", "from": previous, "to": months},
    )
    return months


# ---------------------------------------------------------------------------------------------------------
# Command line helpers (no caller: the operator runs them against the workspace database directly)
# ---------------------------------------------------------------------------------------------------------


async def verify_workspace(directory: TenantDirectory, slug: str) -> audit_log.ChainReport | None:
    """The chain report of one workspace, None when there is no such workspace."""
    tenant = await directory.get(slug)
    if tenant is None:
        return None
    async with session_factory(tenant.engine)() as session:
        return await audit_log.verify_chain(session)


async def maintain_workspaces(
    directory: TenantDirectory, slugs: Sequence[str], *, now: datetime, report: Callable[[str], None]
) -> int:
    """Run the partition job for each workspace (its own transaction); returns how many were maintained."""
    done = 0
    for slug in slugs:
        tenant = await directory.get(slug)
        if tenant is None:
            report(f"workspace {slug}: not found")
            continue
        async with session_factory(tenant.engine)() as session, session.begin():
            changes = await audit_log.maintain_partitions(session, now=now)
        for action, partition in changes:
            report(f"workspace {slug}: {action} {partition}")
        if not changes:
            report(f"workspace {slug}: partitions up to date")
        done += 1
    return done

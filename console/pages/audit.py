"""Audit and breach: search the audit log (who, what record, which fields, when) and the exposure report of a
time window (who read which people's data), on screen and as CSV. Every read of the log is itself audited
by the resolvers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.pages import lookup
from console.unit import Console, page
from resolvers.audit import log as audit
from resolvers.contacts import contacts
from resolvers.errors import BadInput
from schema.audit import parse_actor_id
from schema.downloads import csv_text, exposure_rows

ACTIONS = ("READ", "CREATE", "UPDATE", "DELETE", "ERASE", "EXPORT", "POLICY_CHANGE", "LOGIN", "LOGIN_FAILED",
           "DENIED")


def day(value: str, name: str, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD from a date input as UTC midnight (the day after it, for the end of a window)."""
    if not value:
        return None
    try:
        start = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadInput(f"{name}: a date as YYYY-MM-DD", field=name) from exc
    return start + timedelta(days=1) if end else start


def _filter(console: Console) -> audit.AuditFilter:
    actor, action = console.field("actor"), console.field("action")
    return audit.AuditFilter(
        actor_id=parse_actor_id(actor, "actor") if actor else None,
        entity_type=console.field("entity_type") or None,
        entity_id=console.field("entity_id") or None,
        action=action if action in ACTIONS else None,
        field=console.field("field") or None,
        occurred_from=day(console.field("from"), "from"),
        occurred_to=day(console.field("to"), "to", end=True),
    )


def event_view(e: audit.AuditEntry) -> dict[str, Any]:
    return {"occurred_at": e.occurred_at, "actor_kind": e.actor_kind, "actor_id": str(e.actor_id or ""),
            "action": e.action, "entity_type": e.entity_type or "", "entity_id": e.entity_id or "",
            "fields": e.fields, "request_id": e.request_id or ""}


async def _events(console: Console) -> Response:
    await console.require("audit", "read")
    error, events, total = None, [], None
    try:
        flt = _filter(console)
    except BadInput as exc:
        error, flt = str(exc), audit.AuditFilter()
    async with console.db() as (db, caller):
        found = await audit.list_events(db, caller, first=100, after=None, flt=flt, want_total=True)
        events, total = [event_view(e) for e in found.items], found.total
    return console.render("audit.html", events=events, total=total, error=error, actions=ACTIONS,
                          q=dict(console.request.query_params))


def _window(console: Console) -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return console.field("from") or (today - timedelta(days=30)).isoformat(), console.field("to") or today.isoformat()


async def _exposure(console: Console) -> Response:
    await console.require("audit", "read")
    lo_text, hi_text = _window(console)
    lo, hi = day(lo_text, "from"), day(hi_text, "to", end=True)
    assert lo is not None and hi is not None
    async with console.db() as (db, caller):
        report = await audit.exposure_report(db, caller, lo, hi, max_rows=200)
        ids = [r.contact_id for r in report.rows]
        people = await contacts.contacts_by_ids(db, caller, ids, lookup.SELECTION) if ids else []
    rows = []
    for r, person in zip(report.rows, people, strict=True):
        rows.append({"person": lookup.person(person) if person else None, "fields": r.fields,
                     "actors": [a.label for a in r.actors], "reads": r.read_count, "first_at": r.first_at,
                     "last_at": r.last_at})
    return console.render("exposure.html", report=report, rows=rows, lo=lo_text, hi=hi_text)


async def _exposure_csv(console: Console) -> Response:
    await console.require("audit", "read")
    lo, hi = _window(console)
    start, end = day(lo, "from"), day(hi, "to", end=True)
    assert start is not None and end is not None
    async with console.db() as (db, caller):
        params = QueryParams({"from": start.isoformat(), "to": end.isoformat()})
        filename, rows = await exposure_rows(db, caller, params)
    return Response(csv_text(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def events(request: Request) -> Response:
    return await page(request, "auditEvents", _events)


async def exposure(request: Request) -> Response:
    return await page(request, "exposureReport", _exposure)


async def exposure_csv(request: Request) -> Response:
    return await page(request, "exposureReportCsv", _exposure_csv)


def routes() -> list[Route]:
    return [
        Route("/audit", events, methods=["GET"]),
        Route("/audit/exposure", exposure, methods=["GET"]),
        Route("/audit/exposure.csv", exposure_csv, methods=["GET"]),
    ]


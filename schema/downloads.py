"""CSV downloads of the audit reports, with the GraphQL API's Bearer auth, permissions and unit of work.

    GET /audit/access-report.csv?contactId=<Contact ID>[&from=<ISO-8601>][&to=<ISO-8601>]
    GET /audit/exposure-report.csv?from=<ISO-8601>&to=<ISO-8601>[&actorId=<User/ApiKey ID>]

The exposure report's rows end with the person's name, e-mail and phone, through the caller's own field decisions
(masked values masked, denied or out-of-scope ones blank), audited as the caller's READs, so the people affected
by a breach can be told.

Each download is audited (an EXPORT event, `details.report`) and that event is committed before any byte of
the report is sent: if the audit write fails, the response is a 500 with no data. Errors are JSON in the
GraphQL error shape (`errors[0].extensions.code`) with the matching HTTP status.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers.audit import log as audit
from resolvers.contacts import contacts
from resolvers.errors import BadInput
from resolvers.projection import DENIED, Selection
from resolvers.runtime import Caller
from schema.audit import actor_global_id, contact_uuid, parse_actor_id
from schema.context import build_context
from schema.ids import to_global
from schema.routes import handle

log = logging.getLogger("crm.downloads")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Producer = Callable[[AsyncSession, Caller, QueryParams], Awaitable[tuple[str, list[list[Any]]]]]


def _cell(value: Any) -> str:
    """Text for a spreadsheet: times ISO-8601, lists `;`-joined, formula-like text defused."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = ";".join(_cell(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(rows: Iterable[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _time(params: QueryParams, name: str, *, required: bool = False) -> datetime | None:
    raw = params.get(name)
    if not raw:
        if required:
            raise BadInput(f"`{name}` is required (ISO-8601)", field=name)
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadInput(f"`{name}` is not an ISO-8601 time", field=name) from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(f"`{name}` needs a UTC offset, e.g. 2024-05-06T01:00:00Z", field=name)
    return value


def _required(params: QueryParams, name: str) -> str:
    value = params.get(name)
    if not value:
        raise BadInput(f"`{name}` is required", field=name)
    return value


async def _access(session: AsyncSession, caller: Caller, params: QueryParams) -> tuple[str, list[list[Any]]]:
    contact_id = contact_uuid(_required(params, "contactId"))
    lo, hi = _time(params, "from"), _time(params, "to")
    report = await audit.access_report(session, caller, contact_id, lo, hi, download=True)
    rows: list[list[Any]] = [
        ["actor_id", "actor_kind", "actor_label", "actions", "fields", "first_at", "last_at", "count", "denied_fields"]
    ]
    rows += [
        [
            actor_global_id(r.actor.kind, r.actor.id),
            r.actor.kind,
            r.actor.label,
            r.actions,
            r.fields,
            r.first_at,
            r.last_at,
            r.count,
            r.denied_fields,
        ]
        for r in report.rows
    ]
    return f"access-report-{to_global('Contact', contact_id)}.csv", rows


PERSON_FIELDS = ("firstName", "lastName", "email", "phone")
PERSON_BATCH = 1000


async def _people(session: AsyncSession, caller: Caller, ids: list[Any]) -> dict[Any, list[str]]:
    """Name, e-mail and phone of each contact the caller may read, through their own field decisions (masked
    values masked, denied ones blank) and audited as their READs, in batches."""
    selection = Selection(frozenset(PERSON_FIELDS))
    out: dict[Any, list[str]] = {}
    for start in range(0, len(ids), PERSON_BATCH):
        chunk = ids[start:start + PERSON_BATCH]
        for record in await contacts.contacts_by_ids(session, caller, chunk, selection):
            if record is None:
                continue
            shown = {n: record.values.get(n) for n in PERSON_FIELDS}
            plain = {n: "" if v is DENIED or v is None else str(v) for n, v in shown.items()}
            out[record.id] = [" ".join(x for x in (plain["firstName"], plain["lastName"]) if x), plain["email"],
                              plain["phone"]]
    return out


async def exposure_rows(session: AsyncSession, caller: Caller, params: QueryParams) -> tuple[str, list[list[Any]]]:
    lo, hi = _time(params, "from", required=True), _time(params, "to", required=True)
    assert lo is not None and hi is not None
    actor = params.get("actorId")
    actor_id = parse_actor_id(actor, "actorId") if actor else None
    report = await audit.exposure_report(session, caller, lo, hi, actor_id, download=True, max_rows=None)
    people = await _people(session, caller, [r.contact_id for r in report.rows])
    rows: list[list[Any]] = [
        ["contact_id", "fields", "categories", "actors", "actor_ids", "read_count", "first_at", "last_at",
         "name", "email", "phone"]
    ]
    rows += [
        [
            to_global("Contact", r.contact_id),
            r.fields,
            r.categories,
            [a.label for a in r.actors],
            [actor_global_id(a.kind, a.id) or a.kind for a in r.actors],
            r.read_count,
            r.first_at,
            r.last_at,
            *people.get(r.contact_id, ["", "", ""]),
        ]
        for r in report.rows
    ]
    return f"exposure-report-{lo.date().isoformat()}-{hi.date().isoformat()}.csv", rows


async def _download(request: Request, operation: str, produce: Producer) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def work() -> Response:
        async with ctx.db() as (session, caller):
            filename, rows = await produce(session, caller, request.query_params)
        return Response(
            csv_text(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    return await handle(ctx, operation, work)


async def access_report_csv(request: Request) -> Response:
    return await _download(request, "accessReportCsv", _access)


async def exposure_report_csv(request: Request) -> Response:
    return await _download(request, "exposureReportCsv", exposure_rows)


def routes() -> list[Route]:
    return [
        Route("/audit/access-report.csv", access_report_csv, methods=["GET"]),
        Route("/audit/exposure-report.csv", exposure_report_csv, methods=["GET"]),
    ]

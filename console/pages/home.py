"""Compliance home: open data requests and their 40-day countdown, the last retention run, the audit chain,
support access, and the workspace's status. Each card appears only when authz allows its read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.unit import Console, page
from resolvers.audit import log as audit
from resolvers.identity import support
from resolvers.privacy import data_requests
from resolvers.retention import policies as retention

AMBER_DAYS, RED_DAYS = 14, 7


def urgency(days: int | None, overdue: bool) -> str:
    """The countdown's colour: overdue, red under 7 days, amber under 14, else ok."""
    if overdue:
        return "overdue"
    if days is None:
        return "closed"
    return "red" if days < RED_DAYS else "amber" if days < AMBER_DAYS else "ok"


def request_row(r: Any, now: datetime) -> dict[str, Any]:
    """A data request as plain values for a template."""
    days, overdue = data_requests.days_remaining(r, now), data_requests.is_overdue(r, now)
    return {
        "id": str(r.id),
        "kind": r.kind,
        "requester_name": r.requester_name,
        "received_at": r.received_at,
        "due_at": r.due_at,
        "status": r.status,
        "days": days,
        "overdue": overdue,
        "urgency": urgency(days, overdue),
        "overdue_days": max(1, int((now - r.due_at).total_seconds() // 86400)) if overdue else 0,
        "refusal_reason": r.refusal_reason,
        "fulfilled_at": r.fulfilled_at,
        "contact_id": r.contact_id,
        "export_id": r.export_id,
    }


async def _home(console: Console) -> Response:
    cards: dict[str, Any] = {}
    async with console.db() as (db, caller):
        now, can = caller.runtime.now(), caller.access.can
        if can("data_request", "read"):
            found = await data_requests.list_requests(
                db, caller, status="OPEN", overdue=None, first=50, after=None, want_total=True
            )
            data_requests.audit_requester(caller, found.items, ["requesterName"])  # the page shows the name
            cards["requests"] = {"rows": [request_row(r, now) for r in found.items], "total": found.total}
        if can("retention_policy", "read"):
            runs = [p.last_run_at for p in await retention.list_policies(db, caller) if p.last_run_at]
            cards["retention"] = {"last_run_at": max(runs) if runs else None}
        if can("audit", "read"):
            report = await audit.verify(db, caller)
            cards["chain"] = {"ok": report.ok, "batches": report.checked_batches, "broken": report.first_broken_seq}
    if caller.access.can("support_access", "read"):
        grants = [g for g in await support.list_grants(caller) if g.active(now)]
        cards["support"] = {"active": grants[0] if grants else None}
    tenant = caller.tenant
    cards["workspace"] = {"name": tenant.name, "slug": tenant.slug, "status": tenant.status,
                          "purge_after": tenant.purge_after}
    return console.render("home.html", cards=cards, user=caller.principal.label)


async def home(request: Request) -> Response:
    return await page(request, "home", _home)


def routes() -> list[Route]:
    return [Route("/", home, methods=["GET"])]

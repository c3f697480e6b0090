"""The daily reminder: e-mail everyone who holds `data_request write` (from the compiled decisions, not a role
name) about OPEN data requests due within 7 days, and overdue ones; deadlines in the workspace's time zone.

The message names requests by id, kind and deadline only (no requester names: e-mail is a weaker channel
than the CRM). With no such requests nothing is sent. Sent through the runtime's mailer (`SMTP_URL`, or the
log in development).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import DataRequest
from resolvers import policies
from resolvers.mail import Mailer
from resolvers.privacy.data_requests import days_remaining
from resolvers.webhooks import events as webhook_events
from resolvers.workspaces import settings as workspace_settings
from resolvers.workspaces.settings import DEFAULT_TIME_ZONE

REMIND_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class Reminder:
    due_soon: list[DataRequest]
    overdue: list[DataRequest]
    recipients: list[str]
    sent: bool


async def pending(session: AsyncSession, now: datetime) -> tuple[list[DataRequest], list[DataRequest]]:
    """(due within 7 days, overdue), soonest deadline first."""
    stmt = (
        select(DataRequest)
        .where(DataRequest.status == "OPEN", DataRequest.due_at <= now + REMIND_WITHIN)
        .order_by(DataRequest.due_at, DataRequest.id)
    )
    rows = list((await session.execute(stmt)).scalars())
    return [r for r in rows if r.due_at >= now], [r for r in rows if r.due_at < now]


def _line(request: DataRequest, now: datetime, zone: ZoneInfo) -> str:
    days = days_remaining(request, now)
    when = f"{days} day(s) left" if days is not None and days >= 0 else f"{-(days or 0)} day(s) overdue"
    due = request.due_at.astimezone(zone)
    return f"  - {request.kind} request {request.id}: due {due:%Y-%m-%d %H:%M} {zone.key} ({when})"


def message(workspace: str, due_soon: list[DataRequest], overdue: list[DataRequest], now: datetime,
            zone: ZoneInfo = ZoneInfo(DEFAULT_TIME_ZONE)) -> tuple[str, str]:
    subject = f"[{workspace}] Data requests: {len(overdue)} overdue, {len(due_soon)} due within 7 days"
    parts = [
        "Under the PDPO a data access or correction request must be answered within 40 days of receipt",
        "(s.19(1), s.23(1)); a request that cannot be fully met in time needs a written notice before the deadline.",
        "",
    ]
    if overdue:
        parts += ["Overdue:", *(_line(r, now, zone) for r in overdue), ""]
    if due_soon:
        parts += ["Due within 7 days:", *(_line(r, now, zone) for r in due_soon), ""]
    parts.append("Open the CRM's data-request register to fulfil, refuse or record a partial-compliance notice.")
    return subject, "\n".join(parts)


async def remind(session: AsyncSession, mailer: Mailer, workspace: str, now: datetime) -> Reminder:
    due_soon, overdue = await pending(session, now)
    for kind, requests in (("data_request.due_soon", due_soon), ("data_request.overdue", overdue)):
        for request in requests:  # once per request and kind; the webhook sweep delivers them
            await webhook_events.record(session, kind, request.id, now, once=True)
    recipients = await policies.holders(session, await policies.load_policy(session), "data_request", "write")
    if not (due_soon or overdue) or not recipients:
        return Reminder(due_soon, overdue, recipients, sent=False)
    settings = await workspace_settings.load(session, workspace)
    subject, body = message(settings.business_name, due_soon, overdue, now, settings.zone)
    await mailer.send(recipients, subject, body)
    return Reminder(due_soon, overdue, recipients, sent=True)

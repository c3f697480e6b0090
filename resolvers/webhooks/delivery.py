"""Sending deliveries: one webhook at a time, oldest event first, each attempt recorded.

`deliver_next` holds the webhook's row lock (FOR NO KEY UPDATE: writers of new deliveries are not blocked)
while it sends one due delivery, so two workers never deliver one webhook's events out of order. The attempt
is recorded in the same transaction; a worker killed mid-request records nothing, and the delivery is sent
again (at least once, with the same event id). A failed attempt waits `backoff_seconds` (doubling) until the
retry window of the event has passed (then FAILED); `disable_after` consecutive failures disable the webhook
and mail the workspace's admins. A successful delivery is audited as a disclosure to the recipient
(`EXPORT`, details.phase = "webhook", the event's field names only).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from db.audit import AuditBuffer
from db.models import Webhook, WebhookDelivery, WebhookEvent
from resolvers import policies
from resolvers.runtime import Runtime
from resolvers.webhooks import addresses, events, signing
from resolvers.webhooks.subscriptions import secrets_of

log = logging.getLogger("crm.webhooks")
USER_AGENT = "CRM-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    attempted: bool
    succeeded: bool = False
    disabled: bool = False


def client(runtime: Runtime) -> httpx.AsyncClient:
    """No redirects (a redirect could point anywhere), no proxies from the environment."""
    return httpx.AsyncClient(timeout=runtime.webhooks.timeout_seconds, follow_redirects=False, trust_env=False)


async def _send(runtime: Runtime, http: httpx.AsyncClient, url: str, body: bytes,
                headers: dict[str, str]) -> tuple[int | None, str | None]:
    """(status code, error); the response body is never read."""
    try:
        target = await addresses.resolve(
            addresses.parse(url, production=runtime.production), allow_private=runtime.webhooks.allow_private
        )
    except (addresses.Refused, ValueError) as exc:
        return None, f"refused: {exc}"[:500]
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    request = http.build_request("POST", target.pinned_url, content=body,
                                 headers={**headers, "Host": target.host_header}, extensions=extensions)
    try:
        response = await http.send(request, stream=True)
        await response.aclose()
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return response.status_code, None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


async def deliver_next(session: AsyncSession, audit: AuditBuffer, runtime: Runtime, slug: str,
                       webhook_id: uuid.UUID, http: httpx.AsyncClient) -> Outcome:
    """Send the webhook's oldest due delivery, if any; record the attempt (the caller commits)."""
    tenant = await runtime.directory.get(slug)
    webhook = await session.scalar(select(Webhook).where(Webhook.id == webhook_id).with_for_update(key_share=True))
    if tenant is None or webhook is None or not webhook.active:
        return Outcome(attempted=False)
    now = runtime.now()
    found = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == "PENDING",
                   WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookEvent.occurred_at, WebhookEvent.seq, WebhookDelivery.created_at)
            .limit(1)
        )
    ).one_or_none()
    if found is None:
        return Outcome(attempted=False)
    delivery, event = found
    body = events.body(event, slug)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.header(secrets_of(webhook, tenant.cipher, now), int(time.time()), body),
        "X-CRM-Event-Id": str(event.id),
        "X-CRM-Event-Type": event.type,
        "X-CRM-Delivery-Id": str(delivery.id),
    }
    started = time.perf_counter()
    code, error = await _send(runtime, http, webhook.url, body, headers)
    delivery.latency_ms = int((time.perf_counter() - started) * 1000)
    delivery.attempts += 1
    delivery.response_code, delivery.last_error = code, error
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "SUCCEEDED", now, None
        webhook.consecutive_failures = 0
        _audit_disclosure(audit, webhook, delivery, event)
        await session.flush()
        return Outcome(attempted=True, succeeded=True)
    webhook.consecutive_failures += 1
    _schedule_retry(runtime, delivery, event, now)
    disabled = webhook.consecutive_failures >= runtime.webhooks.disable_after
    if disabled:
        webhook.active, webhook.disabled_at = False, now
        webhook.disabled_reason = f"{webhook.consecutive_failures} consecutive failed deliveries (last: {error})"[:1000]
        audit.event("UPDATE", entity_type="webhook", entity_id=str(webhook.id), fields=["active"],
                    details={"disabled": webhook.disabled_reason})
        await _mail_admins(session, runtime, tenant.name, webhook)
    await session.flush()
    return Outcome(attempted=True, disabled=disabled)


def _schedule_retry(runtime: Runtime, delivery: WebhookDelivery, event: WebhookEvent, now: datetime) -> None:
    options = runtime.webhooks
    retry_at = now + timedelta(seconds=options.backoff_seconds(delivery.attempts))
    if retry_at > event.occurred_at + timedelta(seconds=options.retry_window_seconds):
        delivery.status, delivery.next_attempt_at = "FAILED", None
    else:
        delivery.next_attempt_at = retry_at


def _audit_disclosure(audit: AuditBuffer, webhook: Webhook, delivery: WebhookDelivery, event: WebhookEvent) -> None:
    _, entity_type = events.EVENT_TYPES[event.type]
    audit.event(
        "EXPORT",
        entity_type=entity_type,
        entity_id=event.entity_id,
        fields=list(event.data.get("changedFields") or []),
        details={"phase": "webhook", "recipient": webhook.url, "webhookId": str(webhook.id),
                 "eventId": str(event.id), "eventType": event.type, "deliveryId": str(delivery.id)},
    )


async def _mail_admins(session: AsyncSession, runtime: Runtime, workspace: str, webhook: Webhook) -> None:
    subject = f"[{workspace}] Webhook disabled after repeated failures"
    body = "\n".join([
        f"The webhook {webhook.id} ({webhook.url}) was disabled: {webhook.disabled_reason}.",
        "Its pending deliveries are kept. Fix the receiver, then enable it again (enableWebhook): the pending",
        "deliveries go out, and failed ones can be sent again from the delivery log (redeliverWebhook).",
    ])
    try:
        policy = await policies.load_policy(session)
        recipients = await policies.holders(session, policy, Resource.WEBHOOK, Action.WRITE)
        await runtime.mailer.send(recipients, subject, body)
    except Exception:  # the disable stands even when mail is down
        log.warning("webhook %s: could not mail the admins", webhook.id, exc_info=True)


async def due_webhooks(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """Active webhooks with a delivery due: the sweep sends one `webhooks.deliver` message for each."""
    stmt = (
        select(WebhookDelivery.webhook_id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(Webhook.active, WebhookDelivery.status == "PENDING", WebhookDelivery.next_attempt_at <= now)
        .distinct()
    )
    return list((await session.execute(stmt)).scalars())

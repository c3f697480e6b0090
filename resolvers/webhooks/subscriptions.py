"""Webhook subscriptions: create (the secret shown once), rotate the secret with an overlap, delete, list;
the delivery log and redelivery. Needs `webhook write` (changes) or `webhook read` (lists).

A webhook's creation is audited with its recipient URL and event types: it is a disclosure channel, and
each delivery is audited as a disclosure too (resolvers/webhooks/delivery.py).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.crypto import FieldLocation, WorkspaceCipher
from db.models import Webhook, WebhookDelivery, WebhookEvent
from resolvers import pagination
from resolvers.contacts import validation
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.runtime import Caller
from resolvers.webhooks import addresses
from resolvers.webhooks.events import EVENT_TYPES

RESOURCE = "webhook"
MAX_OVERLAP_HOURS = 7 * 24


@dataclass(frozen=True)
class WebhookInput:
    url: str
    events: list[str]
    description: str | None = None


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event: WebhookEvent


def secret_location(webhook_id: uuid.UUID, column: str) -> FieldLocation:
    return FieldLocation("webhooks", column, str(webhook_id))


def secrets_of(webhook: Webhook, cipher: WorkspaceCipher, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap window."""
    out = [cipher.decrypt_str(secret_location(webhook.id, "secret_enc"), webhook.secret_enc)]
    until = webhook.previous_secret_until
    if webhook.previous_secret_enc is not None and until is not None and until > now:
        out.append(cipher.decrypt_str(secret_location(webhook.id, "previous_secret_enc"), webhook.previous_secret_enc))
    return out


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _events(given: Sequence[str]) -> list[str]:
    events = list(dict.fromkeys(e.strip() for e in given))
    if not events:
        raise BadInput("name at least one event type", field="events")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise BadInput(f"unknown event type {unknown[0]!r}; one of {', '.join(EVENT_TYPES)}", field="events")
    return events


async def check_url(caller: Caller, url: str) -> str:
    parts = addresses.parse(url, production=caller.runtime.production)
    try:
        await addresses.resolve(parts, allow_private=caller.runtime.webhooks.allow_private)
    except addresses.Refused as exc:
        raise BadInput(f"url refused: {exc}", field="url") from exc
    return parts.geturl()


async def create(session: AsyncSession, caller: Caller, data: WebhookInput) -> NewWebhook:
    caller.access.require(RESOURCE, "write")
    events = _events(data.events)
    url = await check_url(caller, data.url)
    description = None
    if data.description is not None and data.description.strip():
        try:
            description = validation.normalize_name(data.description, 500)
        except validation.InvalidValue as exc:
            raise BadInput(f"description: {exc}", field="description") from exc
    webhook_id, secret = uuid.uuid4(), _new_secret()
    webhook = Webhook(
        id=webhook_id,
        url=url,
        events=events,
        description=description,
        secret_enc=caller.tenant.cipher.encrypt_str(secret_location(webhook_id, "secret_enc"), secret),
        created_by=caller.principal.id,
        created_at=caller.runtime.now(),
    )
    session.add(webhook)
    await session.flush()
    caller.audit.event("CREATE", entity_type=RESOURCE, entity_id=str(webhook_id),
                       details={"recipient": url, "events": events, "disclosure": "webhook"})
    return NewWebhook(webhook, secret)


async def _get(session: AsyncSession, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id)
    webhook = await session.scalar(stmt.with_for_update(key_share=True) if lock else stmt)
    if webhook is None:
        raise NotFound("no such webhook")
    return webhook


async def rotate_secret(
    session: AsyncSession, caller: Caller, webhook_id: uuid.UUID, overlap_hours: int | None
) -> NewWebhook:
    caller.access.require(RESOURCE, "write")
    hours = caller.runtime.webhooks.secret_overlap_hours if overlap_hours is None else overlap_hours
    if not 0 <= hours <= MAX_OVERLAP_HOURS:
        raise BadInput(f"overlapHours is between 0 and {MAX_OVERLAP_HOURS}", field="overlapHours")
    webhook = await _get(session, webhook_id, lock=True)
    cipher, now, secret = caller.tenant.cipher, caller.runtime.now(), _new_secret()
    current = cipher.decrypt_str(secret_location(webhook_id, "secret_enc"), webhook.secret_enc)
    webhook.previous_secret_enc = cipher.encrypt_str(secret_location(webhook_id, "previous_secret_enc"), current)
    webhook.previous_secret_until = now + timedelta(hours=hours)
    webhook.secret_enc = cipher.encrypt_str(secret_location(webhook_id, "secret_enc"), secret)
    webhook.secret_version += 1
    await session.flush()
    caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(webhook_id), fields=["secret"],
                       details={"overlapHours": hours, "secretVersion": webhook.secret_version})
    return NewWebhook(webhook, secret)


async def enable(session: AsyncSession, caller: Caller, webhook_id: uuid.UUID) -> Webhook:
    """Back on after an automatic disable; its pending deliveries are sent at once."""
    caller.access.require(RESOURCE, "write")
    webhook = await _get(session, webhook_id, lock=True)
    if not webhook.active:
        webhook.active, webhook.consecutive_failures = True, 0
        webhook.disabled_at = webhook.disabled_reason = None
        await session.flush()
        caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(webhook_id), fields=["active"])
        caller.enqueue("webhooks.deliver", slug=caller.tenant.slug, webhook_id=str(webhook_id))
    return webhook


async def delete_webhook(session: AsyncSession, caller: Caller, webhook_id: uuid.UUID) -> bool:
    """The delivery log goes with it; the audit trail of its deliveries stays."""
    caller.access.require(RESOURCE, "write")
    webhook = await _get(session, webhook_id, lock=True)
    await session.execute(delete(Webhook).where(Webhook.id == webhook_id))
    caller.audit.event("DELETE", entity_type=RESOURCE, entity_id=str(webhook_id), details={"recipient": webhook.url})
    return True


async def list_webhooks(session: AsyncSession, caller: Caller) -> list[Webhook]:
    caller.access.require(RESOURCE, "read")
    return list((await session.execute(select(Webhook).order_by(Webhook.created_at, Webhook.id))).scalars())


async def deliveries(
    session: AsyncSession, caller: Caller, webhook_id: uuid.UUID | None, first: int | None, after: str | None
) -> pagination.Page[DeliveryView]:
    """Newest first."""
    caller.access.require(RESOURCE, "read")
    size, kind = pagination.page_size(first), "webhookDeliveries.datetime"
    d = WebhookDelivery
    stmt = select(d, WebhookEvent).join(WebhookEvent, WebhookEvent.id == d.event_id)
    if webhook_id is not None:
        stmt = stmt.where(d.webhook_id == webhook_id)
    if after:
        at, last_id = pagination.decode_cursor(after, kind)
        stmt = stmt.where((d.created_at < at) | ((d.created_at == at) & (d.id < last_id)))
    rows = (await session.execute(stmt.order_by(d.created_at.desc(), d.id.desc()).limit(size + 1))).all()
    items = [DeliveryView(r[0], r[1]) for r in rows[:size]]
    cursors = [pagination.encode_cursor(v.delivery.created_at, v.delivery.id, kind) for v in items]
    return pagination.Page(items, cursors, len(rows) > size)


async def redeliver(session: AsyncSession, caller: Caller, delivery_id: uuid.UUID) -> DeliveryView:
    """A new delivery of the same event (same event id, so receivers can de-duplicate), sent at once."""
    caller.access.require(RESOURCE, "write")
    found = (
        await session.execute(
            select(WebhookDelivery, WebhookEvent)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound("no such delivery")
    original, event = found
    webhook = await _get(session, original.webhook_id)
    if not webhook.active:
        raise Conflict("the webhook is disabled", detail="WEBHOOK_DISABLED")
    now = caller.runtime.now()
    again = WebhookDelivery(id=uuid.uuid4(), webhook_id=webhook.id, event_id=event.id, status="PENDING", attempts=0,
                            next_attempt_at=now, created_at=now)
    session.add(again)
    await session.flush()
    caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(webhook.id),
                       details={"redeliver": str(delivery_id), "deliveryId": str(again.id), "eventId": str(event.id)})
    caller.enqueue("webhooks.deliver", slug=caller.tenant.slug, webhook_id=str(webhook.id))
    return DeliveryView(again, event)

"""Webhooks: subscriptions, secret rotation, the delivery log, redelivery. Adapters only: parse, call one
resolver, wrap. Event bodies carry identifiers and field names, never values."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers.webhooks import subscriptions
from resolvers.webhooks.events import EVENT_TYPES
from schema.context import Context
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, connection

EVENTS_HELP = f"Event types to receive: {', '.join(EVENT_TYPES)}."


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(enum.Enum):
    PENDING = strawberry.enum_value("PENDING", description="Not yet delivered; retried with backoff.")
    SUCCEEDED = strawberry.enum_value("SUCCEEDED", description="The receiver answered 2xx.")
    FAILED = strawberry.enum_value("FAILED", description="Still failing when its 24-hour retry window ended.")


@strawberry.type(description="A subscription: events POSTed to a URL, signed with the webhook's secret.")
class Webhook:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description=EVENTS_HELP)
    description: str | None
    active: bool = strawberry.field(description="False once disabled after repeated failed deliveries.")
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    secret_version: int = strawberry.field(description="1, then one more on each rotation.")
    previous_secret_expires_at: dt.datetime | None = strawberry.field(
        description="Until then the previous secret signs too (a second `v1` in `X-CRM-Signature`)."
    )
    created_at: dt.datetime

    @classmethod
    def of(cls, w: Any) -> Webhook:
        return cls(
            id=strawberry.ID(to_global("Webhook", w.id)), url=w.url, events=list(w.events),
            description=w.description, active=w.active, disabled_at=w.disabled_at,
            disabled_reason=w.disabled_reason, secret_version=w.secret_version,
            previous_secret_expires_at=w.previous_secret_until, created_at=w.created_at,
        )


@strawberry.type(description="A new (or rotated) webhook and its signing secret, shown this once.")
class NewWebhook:
    webhook: Webhook
    secret: str = strawberry.field(description="HMAC-SHA256 key of `X-CRM-Signature`; not retrievable later.")

    @classmethod
    def of(cls, new: subscriptions.NewWebhook) -> NewWebhook:
        return cls(webhook=Webhook.of(new.webhook), secret=new.secret)


@strawberry.type(description="One delivery of one event to one webhook, with its latest attempt.")
class WebhookDelivery:
    id: strawberry.ID
    webhook_id: strawberry.ID
    event_id: str = strawberry.field(description="The event's stable id (the body's `id`): de-duplicate on it.")
    event_type: str
    occurred_at: dt.datetime
    status: WebhookDeliveryStatus
    attempts: int
    response_code: int | None = strawberry.field(description="HTTP status of the latest attempt.")
    latency_ms: int | None = strawberry.field(description="Milliseconds the latest attempt took.")
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None

    @classmethod
    def of(cls, view: subscriptions.DeliveryView) -> WebhookDelivery:
        d, e = view.delivery, view.event
        return cls(
            id=strawberry.ID(to_global("WebhookDelivery", d.id)),
            webhook_id=strawberry.ID(to_global("Webhook", d.webhook_id)),
            event_id=str(e.id), event_type=e.type, occurred_at=e.occurred_at,
            status=WebhookDeliveryStatus(d.status), attempts=d.attempts, response_code=d.response_code,
            latency_ms=d.latency_ms, last_error=d.last_error, next_attempt_at=d.next_attempt_at,
            created_at=d.created_at, delivered_at=d.delivered_at,
        )


WebhookDeliveryConnection = Connection[WebhookDelivery]


@strawberry.input(description="A webhook subscription.")
class WebhookInput:
    url: str = strawberry.field(description="https URL (http too outside production); public addresses only.")
    events: list[str] = strawberry.field(description=EVENTS_HELP)
    description: str | None = strawberry.field(default=None, description="What the receiver is, for admins.")

    def to_input(self) -> subscriptions.WebhookInput:
        return subscriptions.WebhookInput(self.url, list(self.events), self.description)


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The workspace's webhooks. Requires `webhook read`.")
    async def webhooks(self, info: Info[Context, None]) -> list[Webhook]:
        async with info.context.db() as (session, caller):
            return [Webhook.of(w) for w in await subscriptions.list_webhooks(session, caller)]

    @strawberry.field(description="The delivery log, newest first. Requires `webhook read`.")
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        webhook_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this webhook's.")] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size (at most 200).")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The `endCursor` of the previous page.")] = None,
    ) -> WebhookDeliveryConnection:
        wid = None if webhook_id is None else uuid_of(str(webhook_id), "Webhook", "webhookId")
        async with info.context.db() as (session, caller):
            page = await subscriptions.deliveries(session, caller, wid, first, after)
        return connection(page, WebhookDelivery.of)  # type: ignore[no-any-return]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(description="Subscribes a URL to events; the secret is shown once. Requires `webhook write`.")
    async def create_webhook(self, info: Info[Context, None], input: WebhookInput) -> NewWebhook:
        data = input.to_input()
        async with info.context.mutation() as (session, caller):
            return NewWebhook.of(await subscriptions.create(session, caller, data))

    @strawberry.mutation(description="Deletes a webhook and its delivery log. Requires `webhook write`.")
    async def delete_webhook(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        webhook_id = uuid_of(str(id), "Webhook", "id")
        async with info.context.mutation() as (session, caller):
            return await subscriptions.delete_webhook(session, caller, webhook_id)

    @strawberry.mutation(
        description="A new secret, shown once; the old one keeps signing for `overlapHours` (default 24). "
        "Requires `webhook write`."
    )
    async def rotate_webhook_secret(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        overlap_hours: Annotated[
            int | None, strawberry.argument(description="Hours both secrets sign (0-168; default 24).")
        ] = None,
    ) -> NewWebhook:
        webhook_id = uuid_of(str(id), "Webhook", "id")
        async with info.context.mutation() as (session, caller):
            return NewWebhook.of(await subscriptions.rotate_secret(session, caller, webhook_id, overlap_hours))

    @strawberry.mutation(description="Turns a disabled webhook back on; pending deliveries go out. "
                         "Requires `webhook write`.")
    async def enable_webhook(self, info: Info[Context, None], id: strawberry.ID) -> Webhook:
        webhook_id = uuid_of(str(id), "Webhook", "id")
        async with info.context.mutation() as (session, caller):
            return Webhook.of(await subscriptions.enable(session, caller, webhook_id))

    @strawberry.mutation(description="Sends a delivery's event again (same event id) as a new delivery. "
                         "Requires `webhook write`.")
    async def redeliver_webhook(self, info: Info[Context, None], delivery_id: strawberry.ID) -> WebhookDelivery:
        did = uuid_of(str(delivery_id), "WebhookDelivery", "deliveryId")
        async with info.context.mutation() as (session, caller):
            return WebhookDelivery.of(await subscriptions.redeliver(session, caller, did))

"""Webhook actors: deliver one webhook's due deliveries in order; the sweep (every minute) re-sends a message
for every webhook with a delivery due (retries after backoff, messages lost with a killed worker).

Thin: each delivery is one unit of work around `delivery.deliver_next` (resolvers/webhooks/delivery.py).
"""

from __future__ import annotations

import uuid

from resolvers.webhooks import delivery
from workers.broker import WorkerRuntime, unit_of_work

BATCH = 500  # deliveries per message; a longer backlog re-sends the message instead of holding a worker thread


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def deliver(slug: str, webhook_id: str) -> None:
        rt = await runtime.get()
        async with delivery.client(rt) as http:
            for _ in range(BATCH):
                async with unit_of_work(rt, slug) as unit:
                    if unit is None:
                        return
                    outcome = await delivery.deliver_next(*unit, rt, slug, uuid.UUID(webhook_id), http)
                if not outcome.attempted or outcome.disabled:
                    return
        await rt.send_job("webhooks.deliver", {"slug": slug, "webhook_id": webhook_id})

    async def sweep(slug: str | None = None) -> None:
        rt = await runtime.get()
        if slug is None:
            for each in await rt.directory.all_slugs():
                await rt.send_job("webhooks.sweep", {"slug": each})
            return
        async with unit_of_work(rt, slug) as unit:
            due = [] if unit is None else await delivery.due_webhooks(unit[0], rt.now())
        for webhook_id in due:
            await rt.send_job("webhooks.deliver", {"slug": slug, "webhook_id": str(webhook_id)})

    return {"webhooks.deliver": deliver, "webhooks.sweep": sweep}

"""The only Dramatiq setup: the Redis broker, actor registration, the worker runtime and `unit_of_work`.

Actors are registered on an explicit broker (no import-time global), and the API process sends
messages by actor *name* (`send`), never by importing actor modules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit import AuditBuffer
from resolvers.runtime import Runtime

QUEUE = "crm"
# A killed worker's messages come back only when broker maintenance runs: run it often.
MAINTENANCE_CHANCE = 100_000  # out of 1,000,000 per fetch
HEARTBEAT_TIMEOUT_MS = 20_000


def make_broker(redis_url: str, deployment: str = "crm") -> RedisBroker:
    """`deployment` (CRM_DB_PREFIX) keeps deployments sharing one Redis, such as test runs, from taking each
    other's messages."""
    broker = RedisBroker(url=redis_url, namespace=f"{deployment}-jobs", maintenance_chance=MAINTENANCE_CHANCE,
                         heartbeat_timeout=HEARTBEAT_TIMEOUT_MS)
    broker.add_middleware(AsyncIO())
    return broker


def sender(broker: dramatiq.Broker) -> Callable[[str, dict[str, str]], None]:
    """What the API process uses to send a message to an actor by name."""

    def send(actor_name: str, kwargs: dict[str, str]) -> None:
        broker.enqueue(dramatiq.Message(queue_name=QUEUE, actor_name=actor_name, args=(), kwargs=kwargs, options={}))

    return send


class WorkerRuntime:
    """The runtime of a worker process, created lazily on the actors' event loop."""

    def __init__(self, factory: Callable[[], Awaitable[Runtime]]) -> None:
        self._factory = factory
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Runtime:
        async with self._lock:
            if self._runtime is None:
                self._runtime = await self._factory()
        return self._runtime

    @property
    def current(self) -> Runtime | None:
        return self._runtime


@asynccontextmanager
async def unit_of_work(runtime: Runtime, slug: str) -> AsyncIterator[tuple[AsyncSession, AuditBuffer] | None]:
    """A tenant session and an audit buffer for one actor run (`db.units`): commit on success, roll back on
    error. Yields None when the workspace does not exist (any more): the message is then a no-op.
    """
    async with runtime.units.workspace_of(slug) as unit:
        yield None if unit is None else (unit.session, unit.audit)


def register(broker: dramatiq.Broker, actors: dict[str, Callable[..., Awaitable[Any]]]) -> None:
    """An actor function may carry `actor_options` (e.g. a longer `time_limit` than Dramatiq's 10 minutes)."""
    for name, fn in actors.items():
        options = {"max_retries": 5, **getattr(fn, "actor_options", {})}
        dramatiq.actor(broker=broker, actor_name=name, queue_name=QUEUE, **options)(fn)

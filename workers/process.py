"""A worker process: Dramatiq workers on the Redis broker plus the periodic scheduler, until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from resolvers.runtime import Runtime
from workers import audit, exports, imports, privacy, webhooks, workspaces
from workers.broker import QUEUE, WorkerRuntime, make_broker, register, sender
from workers.scheduler import Scheduler

log = logging.getLogger(__name__)
# One capability per line: each returns its actors by name, bound to the worker runtime.
ACTOR_GROUPS: tuple[Callable[[WorkerRuntime], dict[str, Any]], ...] = (
    audit.actors,
    workspaces.actors,
    privacy.actors,
    exports.actors,
    webhooks.actors,
    imports.actors,
)


class WorkerProcess:
    def __init__(self, redis_url: str, runtime_factory: Callable[[], Awaitable[Runtime]], *, threads: int = 2,
                 scheduler: bool = True, deployment: str = "crm") -> None:
        self.broker = make_broker(redis_url, deployment)
        send = sender(self.broker)

        async def runtime_with_sender() -> Runtime:
            runtime = await runtime_factory()
            runtime.job_sender = send
            return runtime

        self.runtime = WorkerRuntime(runtime_with_sender)
        for group in ACTOR_GROUPS:
            register(self.broker, group(self.runtime))
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, queues={QUEUE})
        self.scheduler = Scheduler(redis_url, send, deployment=deployment) if scheduler else None

    def start(self) -> None:
        self.worker.start()
        if self.scheduler is not None:
            self.scheduler.start()
        log.info("worker started (queue %s)", QUEUE)

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self.worker.stop(timeout=10_000)
        self.broker.close()

    def run_until(self, stop: threading.Event) -> None:
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

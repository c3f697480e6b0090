"""A long-running process's garbage collector, settled once it is built: `serve` (each `--workers` process, and
`demo`), every other command once its runtime is open (`cli.wiring.with_runtime`: a workspace export, `audit
verify`) and `worker` (a long job holds tens of thousands of objects per batch, an import's rows and history,
enough to set off a full collection every few batches, each of which walked the whole start-up heap: a third of
an import's Python time).

CPython's full collections scan every tracked object, and at start-up the API holds about 190,000 of them
(modules, the schema, SQLAlchemy's and Strawberry's structures) that live as long as the process. Under the
most expensive accepted query a full collection ran every 2 s and stopped the event loop 300-1,100 ms (a gc
callback timing each collection, with `/healthz` polled beside it). `settle()` collects once and freezes what
is alive (`gc.freeze()`: the start-up objects move to a permanent generation that collections skip). The young
thresholds stay CPython's: a young generation of 10,000 (tried) made the middle collections scan up to ten
times as many of a request's live objects (75 ms of CPU each).

What a full collection still scans is mostly the requests in flight: the objects of four heavy queries, which
live across many young collections and so reach the oldest generation. Collected in the middle of them, a full
collection stopped the loop 25-60 ms, about once every 150 ms under four heavy clients. `QuietCollections` (the
API's processes only) takes full collections off CPython's own schedule and runs them when no request is in
flight, where they scan a few thousand objects; a process that is never quiet still collects once
`FORCE_AFTER_S` has passed since a collection fell due, so cyclic garbage cannot pile up without bound.
Only those processes call these: tests build many apps in one process.
"""

from __future__ import annotations

import asyncio
import gc
import time

from starlette.types import ASGIApp, Receive, Scope, Send

DUE_AFTER = 10  # young-generation collections since the last full one: when CPython itself would collect
CHECK_EVERY_S = 0.05
FORCE_AFTER_S = 10.0
NEVER = 1 << 30


def settle() -> None:
    gc.collect()
    gc.freeze()


class QuietCollections:
    """ASGI middleware counting the requests in flight and running full collections when there are none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0
        self.collections = 0  # full collections run (for tests and probes)
        self.forced = 0  # of which ran with requests in flight
        self._watch: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan, and websockets that may stay open for hours
            await self.app(scope, receive, send)
            return
        if self._watch is None:
            self._take_over()
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _take_over(self) -> None:
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)  # CPython no longer starts full collections itself
        self._watch = asyncio.get_running_loop().create_task(self._collect_when_quiet())

    async def _collect_when_quiet(self) -> None:
        due_since: float | None = None
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            if gc.get_count()[2] < DUE_AFTER:
                continue
            now = time.monotonic()
            due_since = now if due_since is None else due_since
            if self.in_flight and now - due_since < FORCE_AFTER_S:
                continue
            self.forced += bool(self.in_flight)
            gc.collect(2)
            self.collections += 1
            due_since = None

"""One lane per event loop for heavy operations: those whose static cost estimate (`schema.limits`) is at least a
threshold run a few at a time, in the order they came; every other operation runs at once, beside them.

One event loop serves every workspace, and a heavy operation is CPU-bound: four of them interleaved on one loop
finish no sooner than four taken in turn, but while they interleave each iteration of the loop carries steps of
all four, so a cheap request (a `/healthz`, another tenant's page of contacts) waits behind four slices instead
of one, and four response trees are alive at once for the garbage collector to scan. Measured with
bench/abuse.py (4 clients sending the most expensive accepted query): `/healthz` p50 15 ms interleaved.

The wait counts against the operation timeout (the lane is entered inside it), so a flood of heavy queries is
answered by timeouts, never by an unbounded queue. A cancelled waiter leaves the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class HeavyLane:
    """The heavy operations of one event loop: at most `at_once` run, the others wait in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, heavy_cost: int, at_once: int) -> None:
        self.loop = loop  # a semaphore belongs to one loop (tests serve an app from several)
        self.heavy_cost = heavy_cost
        self.at_once = at_once
        self.running = 0  # heavy operations running now (for tests and probes)
        self.peak = 0  # the most that ran at once
        self.waited = 0  # heavy operations that had to wait for a place
        self._places = asyncio.Semaphore(at_once)

    @contextlib.asynccontextmanager
    async def turn(self, cost: int | None) -> AsyncIterator[None]:
        """Run the block at once if the operation is light (or its cost unknown), else in the lane."""
        if cost is None or cost < self.heavy_cost:
            yield
            return
        if self._places.locked():
            self.waited += 1
        async with self._places:
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                yield
            finally:
                self.running -= 1

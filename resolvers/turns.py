"""Fair turns on the event loop for CPU-bound steps that come by the hundred (completing a list's objects).

One event loop serves every workspace. asyncio runs every callback that is ready at the start of an iteration
before it polls the sockets again, so when 600 coroutines become ready together (a DataLoader answering the
`contact` of 600 activities) and each completes an object of 23 fields, the loop polls nothing for the few
hundred milliseconds they take: `/healthz` and every other tenant wait (measured with the loop-lag probe and
py-spy: Strawberry's executor completing nested lists held the loop 200-700 ms per query).

`Turns` bounds that work per iteration. A step asks `may_run_now()`: yes while less than `SLICE_S` has passed
since the loop last gave this mechanism a turn (and nobody is queued ahead); otherwise it is queued with
`later(work)` and runs in a later iteration, from one callback that takes queued steps in order for at most
`SLICE_S` and then lets the loop poll its sockets again. The queue is process-wide (per event loop), first in,
first out, so a heavy request never holds the loop for more than a slice at a time, whoever it is, and a
cancelled request's queued steps are skipped. A step runs in the `contextvars` context it was queued from.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

# CPU-bound steps run between two polls of the sockets (plus the one step that overruns). A request that arrives
# beside a heavy one waits about a slice at each of its own steps: with 4 ms, `/healthz` took 15 ms at the median
# under bench/abuse.py's load, with 1 ms about 3-6 ms.
SLICE_S = 0.001

_local = threading.local()  # one `Turns` per thread's running loop (tests run servers in threads)


class Turns:
    """The turns of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slice_s: float | None = None) -> None:
        self.loop = loop
        self.slice_s = SLICE_S if slice_s is None else slice_s
        self.ticks = 0  # slices run from the queue (for tests and probes)
        self._slice_start = float("-inf")  # when the current slice began (a turn of `_tick`)
        self._queue: deque[tuple[Callable[[], Any], asyncio.Future[Any], contextvars.Context]] = deque()
        self._tick_scheduled = False
        self._draining = False

    def may_run_now(self) -> bool:
        """Whether a step may run at once: inside the current slice, and no step queued before it."""
        if self._queue and not self._draining:
            return False
        return time.perf_counter() - self._slice_start < self.slice_s

    def later(self, work: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `work` for a later iteration; the future holds its result (or its exception)."""
        future: asyncio.Future[Any] = self.loop.create_future()
        self._queue.append((work, future, contextvars.copy_context()))
        if not self._tick_scheduled:
            self._tick_scheduled = True
            self.loop.call_soon(self._tick)
        return future

    def _tick(self) -> None:
        """One slice: queued steps in order, until the queue is empty or `slice_s` has passed."""
        self._tick_scheduled = False
        self.ticks += 1
        self._slice_start = start = time.perf_counter()
        self._draining = True
        try:
            while self._queue:  # at least one step a slice, however short the slice
                work, future, context = self._queue.popleft()
                if future.cancelled():  # the request was cancelled (operation timeout, client gone)
                    continue
                try:
                    result = context.run(work)
                except Exception as exc:  # the executor handles it as the step's own error
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                if time.perf_counter() - start >= self.slice_s:
                    break
        finally:
            self._draining = False
        if self._queue:
            self._tick_scheduled = True
            self.loop.call_soon(self._tick)

    @property
    def queued(self) -> int:
        return len(self._queue)


def current() -> Turns:
    """The running loop's `Turns`."""
    loop = asyncio.get_running_loop()
    turns: Turns | None = getattr(_local, "turns", None)
    if turns is None or turns.loop is not loop:
        turns = _local.turns = Turns(loop)
    return turns

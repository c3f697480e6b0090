"""One lane per event loop for heavy operations: those whose static cost estimate (`schema.limits`) is at least a
threshold run a few at a time; every other operation runs at once, beside them.

One event loop serves every workspace, and a heavy operation is CPU-bound: four of them interleaved on one loop
finish no sooner than four taken in turn, but while they interleave each iteration of the loop carries steps of
all four, so a cheap request (a `/healthz`, another tenant's page of contacts) waits behind four slices instead
of one, and four response trees are alive at once for the garbage collector to scan. Measured with
bench/abuse.py (4 clients sending the most expensive accepted query): `/healthz` p50 15 ms interleaved.

The lane is shared by every workspace (and, behind `serve`'s heavy-lane process, by every API process), so a
free place goes to the waiting workspace served longest ago, and within a workspace to its operations in the
order they came: a tenant that sends ten heavy queries makes another tenant's one wait behind one of them, not
ten. The wait counts against the operation timeout (the lane is entered inside it), so a flood of heavy queries
is answered by timeouts, never by an unbounded queue. A cancelled waiter leaves the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class _Workspace:
    """A workspace's operations in the lane: how many run, those waiting (in order), when it was last served."""

    running: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    served: int = -1  # the lane's serial number of its last operation to get a place (-1: never)


class HeavyLane:
    """The heavy operations of one event loop: at most `at_once` run; the others wait, fairly across workspaces."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, heavy_cost: int, at_once: int) -> None:
        self.loop = loop  # futures belong to one loop (tests serve an app from several)
        self.heavy_cost = heavy_cost
        self.at_once = at_once
        self.running = 0  # heavy operations running now (for tests and probes)
        self.peak = 0  # the most that ran at once
        self.waited = 0  # heavy operations that had to wait for a place
        self._workspaces: dict[str, _Workspace] = {}  # those with operations running or waiting
        self._serial = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, cost: int | None, workspace: str = "") -> AsyncIterator[None]:
        """Run the block at once if the operation is light (or its cost unknown), else in the lane, as one of
        `workspace`'s operations (`""`: a caller not authenticated)."""
        if cost is None or cost < self.heavy_cost:
            yield
            return
        entry = self._workspaces.setdefault(workspace, _Workspace())
        if self.running < self.at_once and not self._anyone_waiting():
            self._start(entry)
        else:
            self.waited += 1
            place: asyncio.Future[None] = self.loop.create_future()
            entry.waiting.append(place)
            try:
                await place  # `_release` starts us before it resolves the future
            except asyncio.CancelledError:
                if place.done() and not place.cancelled():  # given a place as it was cancelled: give it back
                    self._release(workspace, entry)
                else:
                    entry.waiting.remove(place)
                    self._forget_if_idle(workspace, entry)
                raise
        try:
            yield
        finally:
            self._release(workspace, entry)

    def _anyone_waiting(self) -> bool:
        return any(entry.waiting for entry in self._workspaces.values())

    def _start(self, entry: _Workspace) -> None:
        entry.running += 1
        entry.served = next(self._serial)
        self.running += 1
        self.peak = max(self.peak, self.running)

    def _release(self, workspace: str, entry: _Workspace) -> None:
        entry.running -= 1
        self.running -= 1
        self._forget_if_idle(workspace, entry)
        while self.running < self.at_once:
            waiting = [e for e in self._workspaces.values() if e.waiting]
            if not waiting:
                return
            chosen = min(waiting, key=lambda e: e.served)  # served longest ago (dicts keep arrival order on ties)
            self._start(chosen)
            chosen.waiting.popleft().set_result(None)

    def _forget_if_idle(self, workspace: str, entry: _Workspace) -> None:
        if not entry.running and not entry.waiting:
            self._workspaces.pop(workspace, None)

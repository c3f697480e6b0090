"""The sealer: links committed, unsealed audit batches into the workspace's hash chain (`audit_seal`).

Requests write their batch unsealed (`db.audit.writer`), with no lock. `seal` runs the SQL function
`audit_seal` in its own transaction: a try-advisory lock lets one sealer at a time work on a workspace (the
others return at once with `None`); the winner gives the committed unsealed batches it sees, in `seq` order, the
next chain positions. A batch whose transaction is still in flight is invisible to it and gets a later position
on a later run, so positions are dense and verification walks them in order whatever the `seq` gaps.

`SealNudge` is what asks for those runs after commits (the `audit.seal` actor, `workers.audit`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("crm.audit.sealer")
SEAL_LIMIT = 10_000  # batches linked per transaction

_SEAL = text("SELECT audit_seal(:limit)")


async def seal(session: AsyncSession, *, limit: int = SEAL_LIMIT) -> int | None:
    """Seal up to `limit` batches in the session's transaction (the caller commits); returns how many, or None
    when another sealer holds this workspace's seal lock (it will seal them)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    sealed = int((await session.execute(_SEAL, {"limit": limit})).scalar_one())
    return None if sealed < 0 else sealed


async def unsealed(session: AsyncSession) -> int:
    """How many committed batches wait for the sealer."""
    return int((await session.execute(text("SELECT count(*) FROM audit_batches WHERE chain_position IS NULL")))
               .scalar_one())


class SealNudge:
    """Asks for a sealer run (`audit.seal`) after commits that wrote audit batches, per workspace: at once for the
    first commit, then at most once per `interval` seconds, with one trailing message for the commits inside the
    interval, so a burst's last batch is sealed about `interval` s after it committed. Per process, in memory:
    the periodic `audit.seal_all` covers whatever a process did not get to send (it stopped, Redis was down)."""

    def __init__(
        self, send: Callable[[str, dict[str, str]], Awaitable[None]], *, interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, tuple[asyncio.TimerHandle, float]] = {}  # slug: (trailing message, due at)
        self._tasks: set[asyncio.Task[None]] = set()

    def written(self, slug: str) -> None:
        """A unit of work on `slug` committed audit rows (call it after the commit, on the event loop)."""
        now = self._clock()
        pending = self._pending.get(slug)
        if pending is not None and now < pending[1] + self._interval:
            return  # a trailing message is due (one whose loop has gone, long overdue, is replaced)
        last = self._last.get(slug)
        wait = 0.0 if last is None else self._interval - (now - last)
        if wait <= 0:
            self._pending.pop(slug, None)
            self._fire(slug)
        else:
            handle = asyncio.get_running_loop().call_later(wait, self._fire_pending, slug)
            self._pending[slug] = (handle, now + wait)

    def _fire_pending(self, slug: str) -> None:
        self._pending.pop(slug, None)
        self._fire(slug)

    def _fire(self, slug: str) -> None:
        self._last[slug] = self._clock()
        task = asyncio.ensure_future(self._deliver(slug))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, slug: str) -> None:
        try:
            await self._send("audit.seal", {"slug": slug})
        except Exception:
            log.warning("could not ask for a sealer run of %s (the periodic audit.seal_all will)", slug, exc_info=True)

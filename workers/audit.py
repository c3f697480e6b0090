"""Audit actors: the sealer (`audit.seal`, asked for after commits and swept periodically by `audit.seal_all`)
and the daily partition maintenance (three months ahead, drop past retention) per workspace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from db.audit import SEAL_LIMIT, maintain_partitions, seal
from workers.broker import WorkerRuntime, unit_of_work

BUSY_RETRIES = 10  # another sealer holds the workspace's seal lock: try again this many times
BUSY_PAUSE_SECONDS = 0.2  # (it may have taken its snapshot before the batch that asked for this run committed)


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def maintain(slug: str) -> None:
        rt = await runtime.get()
        async with unit_of_work(rt, slug) as unit:
            if unit is not None:
                await maintain_partitions(unit[0], now=datetime.now(UTC))

    async def maintain_all() -> None:
        rt = await runtime.get()
        for slug in await rt.directory.all_slugs():
            await rt.send_job("audit.maintain", {"slug": slug})

    async def seal_workspace(slug: str) -> None:
        """Link the workspace's committed unsealed batches into its chain, SEAL_LIMIT per transaction, until none
        is left. Safe to run anywhere at once: one run per workspace wins the seal lock; the others retry a few
        times, then leave the batches to the winner or the next run."""
        rt = await runtime.get()
        busy = 0
        while True:
            async with unit_of_work(rt, slug) as unit:
                sealed = None if unit is None else await seal(unit[0])
            if unit is None:
                return
            if sealed is None:
                busy += 1
                if busy > BUSY_RETRIES:
                    return
                await asyncio.sleep(BUSY_PAUSE_SECONDS)
                continue
            if sealed < SEAL_LIMIT:
                return

    async def seal_all() -> None:
        rt = await runtime.get()
        for slug in await rt.directory.all_slugs():
            await rt.send_job("audit.seal", {"slug": slug})

    return {
        "audit.maintain": maintain,
        "audit.maintain_all": maintain_all,
        "audit.seal": seal_workspace,
        "audit.seal_all": seal_all,
    }

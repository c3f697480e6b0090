"""Audit actors: daily partition maintenance (three months ahead, drop past retention) per workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from db.audit import maintain_partitions
from workers.broker import WorkerRuntime, unit_of_work


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

    return {"audit.maintain": maintain, "audit.maintain_all": maintain_all}

"""Export actors: run one job, expire finished ones (hourly), re-send lost or stuck ones (every minute).

Thin: the job's state lives in `export_jobs` and every step is idempotent (resolvers.export_runner).
`expire` and `reconcile` without a slug fan out one message per workspace.
"""

from __future__ import annotations

import uuid

from resolvers.exports import runner as export_runner
from workers.broker import WorkerRuntime

RUN_TIME_LIMIT_MS = 6 * 3600 * 1000  # a big workspace takes a while; a dead worker is caught by heartbeats


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def fan_out(actor_name: str) -> None:
        rt = await runtime.get()
        for slug in await rt.directory.all_slugs():
            await rt.send_job(actor_name, {"slug": slug})

    async def run(slug: str, export_id: str) -> None:
        rt = await runtime.get()
        await export_runner.run(rt, slug, uuid.UUID(export_id))

    async def expire(slug: str | None = None) -> None:
        if slug is None:
            await fan_out("exports.expire")
            return
        await export_runner.expire(await runtime.get(), slug)

    async def reconcile(slug: str | None = None) -> None:
        if slug is None:
            await fan_out("exports.reconcile")
            return
        await export_runner.reconcile(await runtime.get(), slug)

    run.actor_options = {"time_limit": RUN_TIME_LIMIT_MS}  # type: ignore[attr-defined]
    return {"exports.run": run, "exports.expire": expire, "exports.reconcile": reconcile}

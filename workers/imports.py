"""Import actor: run one import job (resolvers/imports/runner.py keeps its state and checkpoint in the database,
so a redelivered message resumes the job, or is a no-op once it is done)."""

from __future__ import annotations

import uuid

from resolvers.imports import runner as import_runner
from workers.broker import WorkerRuntime

RUN_TIME_LIMIT_MS = 6 * 3600 * 1000


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def run(slug: str, job_id: str) -> None:
        await import_runner.run(await runtime.get(), slug, uuid.UUID(job_id))

    run.actor_options = {"time_limit": RUN_TIME_LIMIT_MS}  # type: ignore[attr-defined]
    return {"imports.run": run}

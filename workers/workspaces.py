"""Workspace life actors: the daily purge of closed workspaces past their grace period (one message per
workspace), the daily "deleted in 7 days" reminder to their admins, and the catalog outbox (a close committed
in a workspace database whose catalog step did not happen yet), applied after each close and every minute."""

from __future__ import annotations

from resolvers.workspaces import life as workspace_life
from workers.broker import WorkerRuntime


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def purge_due() -> None:
        rt = await runtime.get()
        for slug in await workspace_life.due_for_purge(rt):
            await rt.send_job("workspaces.purge", {"slug": slug})

    async def purge(slug: str) -> None:
        rt = await runtime.get()
        await workspace_life.purge(rt, slug)

    async def remind() -> None:
        rt = await runtime.get()
        for slug in await workspace_life.due_for_reminder(rt):
            await workspace_life.remind(rt, slug)

    async def apply_catalog(slug: str | None = None) -> None:
        rt = await runtime.get()
        if slug is None:
            for each in await rt.directory.all_slugs():
                await rt.send_job("workspaces.apply_catalog", {"slug": each})
            return
        await workspace_life.apply_catalog_changes(rt, slug)

    return {
        "workspaces.purge_due": purge_due,
        "workspaces.purge": purge,
        "workspaces.remind": remind,
        "workspaces.apply_catalog": apply_catalog,
    }

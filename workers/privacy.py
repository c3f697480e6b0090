"""Privacy actors: daily retention (one message per workspace, which also pseudonymises requesters of closed
requests past their log-book period, then one per enabled policy) and the daily
data-request reminder. Thin and idempotent: a policy run skips rows it already handled; a redelivered
reminder sends the same e-mail again (harmless, and rarer than a lost one)."""

from __future__ import annotations

import uuid

from db.files import FileStore
from resolvers.privacy import reminders as data_request_reminders
from resolvers.privacy import requester_retention
from resolvers.retention import policies as retention
from workers.broker import WorkerRuntime, unit_of_work


def actors(runtime: WorkerRuntime) -> dict[str, object]:
    async def fan_out(actor_name: str) -> None:
        rt = await runtime.get()
        for slug in await rt.directory.all_slugs():
            tenant = await rt.directory.get(slug)
            if tenant is not None and tenant.active:
                await rt.send_job(actor_name, {"slug": slug})

    async def run_all() -> None:
        await fan_out("retention.run")

    async def run(slug: str) -> None:
        rt = await runtime.get()
        async with unit_of_work(rt, slug) as unit:
            ids = [] if unit is None else await retention.enabled_ids(unit[0])
            if unit is not None:
                await requester_retention.pseudonymise_requesters(*unit, rt.now())
        for policy_id in ids:
            await rt.send_job("retention.run_policy", {"slug": slug, "policy_id": str(policy_id)})

    async def run_policy(slug: str, policy_id: str) -> None:
        rt = await runtime.get()
        async with unit_of_work(rt, slug) as unit:
            done = None if unit is None else await retention.run_scheduled(*unit, uuid.UUID(policy_id), rt.now())
        if done is not None and done[1]:
            await FileStore(rt.export_dir).remove(done[1])  # bytes go only once the anonymisation committed

    async def remind_all() -> None:
        await fan_out("data_requests.remind")

    async def remind(slug: str) -> None:
        rt = await runtime.get()
        tenant = await rt.directory.get(slug)
        async with unit_of_work(rt, slug) as unit:
            if unit is not None and tenant is not None:
                await data_request_reminders.remind(unit[0], rt.mailer, tenant.name, rt.now())

    return {
        "retention.run_all": run_all,
        "retention.run": run,
        "retention.run_policy": run_policy,
        "data_requests.remind_all": remind_all,
        "data_requests.remind": remind,
    }

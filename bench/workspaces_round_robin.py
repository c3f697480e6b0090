"""Many workspaces, one process: throughput, p99 and PostgreSQL connections when requests go round-robin.

Creates the largest count of workspaces asked for (each its own database, 20 contacts, an admin token), then
for each count N (10, 50, 500 by default) sends `contacts(first:20)` from 8 concurrent clients, request i
to workspace i mod N, in-process over ASGI. While it runs it samples `pg_stat_activity` for this process's
workspace connections. Prints requests/s, p99 and peak connections per N, the throughput ratio to the
smallest N (target: 500 within 20% of 10), and the documented bound (CRM_MAX_CONNECTIONS_PER_SERVER).

    .venv/bin/python bench/workspaces_round_robin.py [--counts 10,50,500] [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from harness import Bench, bench_app, bulk_contacts
from sqlalchemy import text

from db import migrate, tenancy
from db.sessions import create_engine

QUERY = "{contacts(first:20){edges{node{id firstName lastName email company}}}}"
CLIENTS = 8


async def from_template(b: Bench) -> None:
    """Workspaces made by copying one migrated, empty database (CREATE DATABASE ... TEMPLATE) instead of
    running every migration again: 500 workspaces in minutes. Benchmark only; the rest of the creation
    (catalog row, keys, default policies, first admin) is the product's own."""
    server = b.ep.database_url
    template = f"{b.settings.db_prefix}_template"
    await tenancy.create_database(server, template)
    engine = create_engine(server, template)
    await migrate.upgrade(engine, "workspace")
    await engine.dispose()

    create_database = tenancy.create_database

    async def copy_template(server_url: str, database: str) -> None:
        await create_database(server_url, database, template=template)

    async def migrated(engine: object, tree: str) -> tuple[str, str]:
        return "template", "template"

    tenancy.create_database = copy_template  # type: ignore[assignment]
    migrate.upgrade = migrated  # type: ignore[assignment]


async def make_workspaces(b: Bench, count: int) -> list[str]:
    await from_template(b)
    tokens: list[str] = []
    for _ in range(count):
        tenant, admin = await b.workspace()
        await bulk_contacts(tenant, 20)
        tokens.append(admin)
    return tokens


async def connections(b: Bench) -> int:
    async with b.runtime.directory.catalog.connect() as conn:
        query = text("select count(*) from pg_stat_activity where application_name = 'crm' and datname like :p")
        return int((await conn.execute(query, {"p": f"{b.settings.db_prefix}\\_ws\\_%"})).scalar_one())


async def round_robin(b: Bench, tokens: list[str], requests: int) -> tuple[float, float, int]:
    latencies: list[float] = []
    counter = 0
    peak = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, await connections(b))
            await asyncio.sleep(0.05)

    async def client() -> None:
        nonlocal counter
        while counter < requests:
            token = tokens[counter % len(tokens)]
            counter += 1
            start = time.perf_counter()
            body = await b.gql(QUERY, None, token)
            latencies.append(time.perf_counter() - start)
            assert len(body["data"]["contacts"]["edges"]) == 20

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    seconds = time.perf_counter() - start
    done.set()
    await sampler
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000
    return requests / seconds, p99, peak


async def run(counts: list[int], requests: int) -> None:
    async with bench_app() as b:
        start = time.perf_counter()
        tokens = await make_workspaces(b, max(counts))
        print(
            f"{len(tokens)} workspaces created in {time.perf_counter() - start:.0f} s; "
            f"bound: {b.runtime.directory.router.connection_bound} connections per server",
            flush=True,
        )
        base = None
        for n in counts:
            await round_robin(b, tokens[:n], min(requests, 4 * n))  # warm: every workspace once or more
            rps, p99, peak = await round_robin(b, tokens[:n], requests)
            base = base or rps
            print(
                f"{n:4} workspaces: {rps:6.1f} req/s, p99 {p99:6.1f} ms, peak connections {peak:3} | "
                f"throughput vs {counts[0]}: {rps / base:.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10,50,500")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run([int(c) for c in args.counts.split(",")], args.requests))

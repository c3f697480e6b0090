"""Many workspaces, one process: throughput, p99 and PostgreSQL connections when requests go round-robin.

Creates the largest count of workspaces asked for (each its own database, 20 contacts, an admin token), then
in each of `--rounds` rounds and for each count N (10, 50, 500 by default; the counts alternate within a round)
sends `contacts(first:20)` from 8 concurrent clients, request i
to workspace i mod N, in-process over ASGI. While it runs it samples `pg_stat_activity` for this process's
workspace connections. Prints requests/s, p99 and peak connections per N, the throughput ratio to the
smallest N (target: 500 within 20% of 10; medians over the rounds, and each round's), and the documented bound
(CRM_MAX_CONNECTIONS_PER_SERVER).

CPU per request, since wall time on a shared machine depends on the other work: this process's (user + system),
and PostgreSQL's when it runs on this machine: the run's backends still open (their own CPU times) plus those
that exited meanwhile (counted by the postmaster's children times once it has reaped them, so the pools are
closed before the second reading; another client's backends exiting meanwhile count too).

With the default bound (40), 500 workspaces round-robin cannot stay connected: every request opens a PostgreSQL
backend (about 3 ms of its CPU to start, then cold catalog caches: the request's own statements cost the backend
several times what they cost a warm one). `--connections-per-server N` runs with CRM_MAX_CONNECTIONS_PER_SERVER=N
and, for the embedded server, max_connections = N + 60 (README "Connections": how to size it for a real server).

    .venv/bin/python bench/workspaces_round_robin.py [--counts 10,50,500] [--requests 1000] \
        [--connections-per-server 560]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import time

import psutil
from harness import PASSWORD, Bench, bench_app, bulk_contacts
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate, roles, tenancy
from db.sessions import create_engine, server_admin, session_factory
from resolvers.workspaces import create as workspaces
from settings import Settings

QUERY = "{contacts(first:20){edges{node{id firstName lastName email company}}}}"
CLIENTS = 8
CREATORS = 6  # workspaces created at once
ADMIN = "admin@bench.example.com"
CATALOG_POOL = 3 + 5  # main.open_catalog: pool_size + max_overflow


async def from_template(b: Bench) -> None:
    """Workspaces made by copying one migrated and seeded database (CREATE DATABASE ... TEMPLATE) instead of
    running every migration and the seed again: 500 workspaces in a couple of minutes. Benchmark only: the
    template is seeded by the product's own `seed` with the admin every bench workspace uses (ADMIN), so
    `create_workspace` finds its admin and skips the seed, as it does when it resumes a crashed creation; the
    catalog row, the workspace's keys and the app role's grants are the product's own."""
    server = b.ep.database_url
    template = f"{b.settings.db_prefix}_template"
    await tenancy.create_database(server, template)
    engine = create_engine(server, template)
    await migrate.upgrade(engine, "workspace")
    async with session_factory(engine)() as session, session.begin():
        await workspaces.seed(session, new_workspace("bench-template", b))
    await engine.dispose()

    create_database = tenancy.create_database

    async def copy_template(server_url: str, database: str) -> None:
        await create_database(server_url, database, template=template)

    async def migrated(engine: AsyncEngine, tree: str, *, grant_to: str | None = None) -> tuple[str, str]:
        if grant_to is not None:  # the copy has the template's tables; the app role's grants are the product's own
            async with engine.begin() as conn:
                await roles.grant_workspace(conn, grant_to)
        return "template", "template"

    tenancy.create_database = copy_template  # type: ignore[assignment]
    migrate.upgrade = migrated  # type: ignore[assignment]


def new_workspace(slug: str, b: Bench) -> workspaces.NewWorkspace:
    return workspaces.NewWorkspace(slug, "Bench", b.settings.default_region, ADMIN, PASSWORD)


async def make_workspaces(b: Bench, count: int) -> list[str]:
    """`count` workspaces of 20 contacts each, CREATORS at a time; their admins' tokens (a real login each)."""
    await from_template(b)
    gate = asyncio.Semaphore(CREATORS)

    async def one(i: int) -> str:
        async with gate:
            slug = f"rr-{i:04d}"
            tenant = await workspaces.create_workspace(b.runtime.directory, new_workspace(slug, b))
            await bulk_contacts(tenant, 20)
            return await b.login(slug, ADMIN)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def drop_in_parallel(server: str, prefix: str) -> None:
    """DROP DATABASE waits for a checkpoint: sixteen at a time share them (one after another, 500 take an hour
    on a busy server). The harness then drops what is left (catalog, template)."""
    async with server_admin(server) as conn:
        query = text("select datname from pg_database where datname like :p")
        names = list((await conn.execute(query, {"p": f"{prefix}\\_%"})).scalars())
    gate = asyncio.Semaphore(16)

    async def drop(name: str) -> None:
        async with gate:
            await tenancy.drop_database(server, name)

    await asyncio.gather(*(drop(name) for name in names))


async def connections(b: Bench) -> tuple[int, int]:
    """This process's PostgreSQL connections now: to workspace databases, and in all (the catalog included).
    The run's database prefix is its own, so nobody else's connections are counted."""
    prefix = b.settings.db_prefix
    async with b.runtime.directory.catalog.connect() as conn:
        query = text(
            "select count(*) filter (where datname like :ws), count(*) from pg_stat_activity "
            "where application_name = 'crm' and datname like :all"
        )
        row = (await conn.execute(query, {"ws": f"{prefix}\\_ws\\_%", "all": f"{prefix}\\_%"})).one()
        return int(row[0]), int(row[1])


async def backends(b: Bench) -> dict[int, float]:
    """CPU seconds of this run's PostgreSQL backends still open, by pid (empty when the server is elsewhere)."""
    prefix = b.settings.db_prefix
    async with b.runtime.directory.catalog.connect() as conn:
        query = text("select pid from pg_stat_activity where datname like :all")
        pids = list((await conn.execute(query, {"all": f"{prefix}\\_%"})).scalars())
    times: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times[pid] = sum(psutil.Process(pid).cpu_times()[:2])
    return times


async def postmaster(b: Bench) -> psutil.Process | None:
    async with b.runtime.directory.catalog.connect() as conn:
        pid = int((await conn.execute(text("select pg_backend_pid()"))).scalar_one())
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).parent()
    return None


async def db_cpu(b: Bench, server: psutil.Process | None) -> float:
    """The run's backends' CPU seconds so far: live ones, plus every reaped child of the postmaster."""
    if server is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        reaped = server.cpu_times()
        return sum((await backends(b)).values()) + reaped.children_user + reaped.children_system
    return 0.0


async def round_robin(b: Bench, tokens: list[str], requests: int) -> tuple[float, float, int, int]:
    """Requests/s, p99 (ms), peak workspace connections and peak connections in all over `requests` requests."""
    latencies: list[float] = []
    counter = 0
    peak_ws = peak_all = 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak_ws, peak_all
        while not done.is_set():
            ws, total = await connections(b)
            peak_ws, peak_all = max(peak_ws, ws), max(peak_all, total)
            # Not more often: with 500 backends one look at pg_stat_activity costs PostgreSQL 1.5 ms of CPU (0.1 ms
            # with 10), which every 20 ms came to about 1 ms per request of the 500-workspace arm's figure.
            await asyncio.sleep(0.2)

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
    return requests / seconds, p99, peak_ws, peak_all


async def run(counts: list[int], requests: int, rounds: int) -> None:
    settings = Settings()
    try:
        async with bench_app() as b:
            try:
                await measure(b, counts, requests, rounds)
            finally:  # also after a failure: 500 databases must not be left behind
                await b.runtime.directory.router.dispose()
                start = time.perf_counter()
                await drop_in_parallel(b.ep.database_url, f"{b.settings.db_prefix}_ws")
                print(f"workspace databases dropped in {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        for server in set(settings.regions().values()):  # embedded servers are thrown away with their roles
            await roles.drop_role(server, settings.app_role()[0])  # the run's own app role


async def measure(b: Bench, counts: list[int], requests: int, rounds: int) -> None:
    start = time.perf_counter()
    tokens = await make_workspaces(b, max(counts))
    ws_bound = b.runtime.directory.router.connection_bound
    bound = ws_bound + CATALOG_POOL
    async with b.runtime.directory.catalog.connect() as conn:
        server_max = (await conn.execute(text("show max_connections"))).scalar_one()
    print(
        f"{len(tokens)} workspaces created in {time.perf_counter() - start:.0f} s; documented bound per process: "
        f"{ws_bound} workspace connections per server (CRM_MAX_CONNECTIONS_PER_SERVER) + {CATALOG_POOL} catalog "
        f"= {bound}; the server's max_connections: {server_max}",
        flush=True,
    )
    results: dict[int, list[tuple[float, float, int, int]]] = {n: [] for n in counts}
    server = await postmaster(b)
    me = psutil.Process()
    for round_ in range(1, rounds + 1):  # the counts alternate, so a slower minute of the machine hits each alike
        for n in counts:
            await b.runtime.directory.router.dispose()  # every count starts with no workspace connection open
            await round_robin(b, tokens[:n], min(requests, 4 * n))  # warm: every workspace once or more
            cpu, db = sum(me.cpu_times()[:2]), await db_cpu(b, server)
            rps, p99, peak_ws, peak_all = sample = await round_robin(b, tokens[:n], requests)
            results[n].append(sample)
            cpu = sum(me.cpu_times()[:2]) - cpu
            engines = len(b.runtime.directory.router)
            await b.runtime.directory.router.dispose()  # closed, so their backends' CPU is the postmaster's to count
            await asyncio.sleep(0.5)
            db = await db_cpu(b, server) - db
            print(
                f"round {round_} {n:4} workspaces: {rps:6.1f} req/s, p99 {p99:6.1f} ms, CPU/req "
                f"{cpu / requests * 1000:5.1f} ms here + {db / requests * 1000:5.1f} ms PostgreSQL, peak connections "
                f"{peak_all:3} ({peak_ws} workspace), {engines} engines, RSS {me.memory_info().rss >> 20} MB (peak "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB) | throughput vs {counts[0]}: "
                f"{rps / results[counts[0]][-1][0]:.2f}x",
                flush=True,
            )
    small, large = counts[0], counts[-1]
    median = {n: statistics.median(r[0] for r in results[n]) for n in counts}
    ratio = median[large] / median[small]
    per_round = ", ".join(f"{a[0] / b_[0]:.2f}x" for a, b_ in zip(results[large], results[small], strict=True))
    peak = max(r[3] for rs in results.values() for r in rs)
    print(
        f"{large} vs {small} workspaces, medians of {rounds} rounds: {median[large]:.1f} / {median[small]:.1f} req/s "
        f"= {ratio:.2f}x (target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'}; by round: {per_round}); peak "
        f"connections {peak} <= bound {bound}: {'yes' if peak <= bound else 'NO'}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10,50,500")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections-per-server", type=int, help="CRM_MAX_CONNECTIONS_PER_SERVER for this run")
    args = parser.parse_args()
    if args.connections_per_server:
        os.environ["CRM_MAX_CONNECTIONS_PER_SERVER"] = str(args.connections_per_server)
        os.environ.setdefault("CRM_EMBEDDED_MAX_CONNECTIONS", str(args.connections_per_server + 60))
    asyncio.run(run([int(c) for c in args.counts.split(",")], args.requests, args.rounds))

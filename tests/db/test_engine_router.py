"""The engine router: connections per process stay under the per-server bound however many workspaces are
busy, idle pools are closed for busier ones, and an evicted engine is never handed out again."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import event, text

import main
from db import tenancy
from db.sessions import EngineRouter
from resolvers.runtime import Runtime
from settings import Settings
from tests.api.helpers import on_runtime
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

WORKSPACES = 6


async def _databases(runtime: Runtime, settings: Settings, label: str) -> tuple[str, list[str]]:
    server = runtime.directory.server_for(settings.default_region)
    names = [f"{settings.db_prefix}_router_{label}_{i}" for i in range(WORKSPACES)]
    for name in names:
        await tenancy.create_database(server, name)
    return server, names


async def _open(runtime: Runtime, names: list[str]) -> int:
    async with runtime.directory.catalog.connect() as conn:
        query = text("select count(*) from pg_stat_activity where datname = any(:d) and application_name = 'crm'")
        return int((await conn.execute(query, {"d": names})).scalar_one())


@dataclass
class Peak:
    most: int = 0


@asynccontextmanager
async def _peak_connections(runtime: Runtime, names: list[str]) -> AsyncIterator[Peak]:
    """The most connections to these databases seen (`pg_stat_activity`, every 10 ms) while the block runs."""
    peak, done = Peak(), asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            peak.most = max(peak.most, await _open(runtime, names))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        yield peak
    finally:
        done.set()
        await watcher


async def test_connections_stay_under_the_per_server_bound(runtime: Runtime, settings: Settings) -> None:
    server, names = await _databases(runtime, settings, "bound")
    router = EngineRouter(max_engines=10, pool_size=1, max_overflow=4, max_connections_per_server=3)

    async def busy(name: str) -> int:
        async with router.engine(server, name).connect() as conn:
            return int((await conn.execute(text("select 1 from pg_sleep(0.15)"))).scalar_one())

    try:
        async with _peak_connections(runtime, names) as peak:
            # Twelve concurrent requests over six workspaces, three connections allowed: all are answered.
            results = await asyncio.gather(*(busy(names[i % WORKSPACES]) for i in range(2 * WORKSPACES)))
            assert results == [1] * (2 * WORKSPACES)
            assert router.budget(server).open_connections() <= 3
    finally:
        await router.dispose()
    assert 1 <= peak.most <= 3


async def test_an_idle_pool_gives_way_to_a_busy_workspace(runtime: Runtime, settings: Settings) -> None:
    server, names = await _databases(runtime, settings, "idle")
    router = EngineRouter(max_engines=10, max_connections_per_server=2)
    try:
        for name in names:  # each leaves one idle connection behind, but never more than two stay open
            async with router.engine(server, name).connect() as conn:
                await conn.execute(text("select 1"))
            assert router.budget(server).open_connections() <= 2
        for _ in range(100):
            if await _open(runtime, names) <= 2:
                break
            await asyncio.sleep(0.02)
        assert await _open(runtime, names) <= 2
    finally:
        await router.dispose()


async def test_a_cached_tenant_never_uses_an_evicted_engine(runtime: Runtime, workspaces: WorkspaceFactory) -> None:
    a, b = await workspaces.create(), await workspaces.create()
    shared = runtime.directory
    directory = tenancy.TenantDirectory(
        catalog=shared.catalog,
        router=EngineRouter(max_engines=1),
        regions=shared.regions,
        master_key=shared.master_key,
        db_prefix=shared.db_prefix,
        ttl_seconds=60,
    )
    try:
        tenant = await directory.get(a.slug)
        assert tenant is not None
        first = tenant.engine
        other = await directory.get(b.slug)
        assert other is not None
        async with other.engine.connect() as conn:  # evicts the first workspace's engine
            await conn.execute(text("select 1"))
        assert await directory.get(a.slug) is tenant  # still cached...
        again = tenant.engine  # ...but it asks the router: a new engine, in the LRU again
        assert again is not first
        assert tenant.engine is again
        async with again.connect() as conn:
            assert (await conn.execute(text("select count(*) from users"))).scalar_one() >= 1
    finally:
        await directory.router.dispose()


async def _connections_to(runtime: Runtime, name: str) -> int:
    return await _open(runtime, [name])


async def test_a_connection_out_when_its_engine_is_evicted_is_closed_when_it_comes_back(
    runtime: Runtime, settings: Settings
) -> None:
    server, names = await _databases(runtime, settings, "evict")
    router = EngineRouter(max_engines=1, max_connections_per_server=4)
    try:
        first = router.engine(server, names[0])
        async with first.connect() as held:
            await held.execute(text("select 1"))
            async with router.engine(server, names[1]).connect() as conn:  # evicts the first engine meanwhile
                await conn.execute(text("select 1"))
            assert router.engine(server, names[1]) is not first
            await asyncio.sleep(0.05)
            assert await _connections_to(runtime, names[0]) == 1  # still in use: left alone
        # Back from its request: closed, not kept idle in a pool nobody can reach.
        for _ in range(100):
            if await _connections_to(runtime, names[0]) == 0:
                break
            await asyncio.sleep(0.02)
        assert await _connections_to(runtime, names[0]) == 0
        gc.collect()
        assert router.budget(server).open_connections() == await _open(runtime, names)
    finally:
        await router.dispose()


async def test_many_workspaces_over_http_stay_under_the_bound(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    """Nine workspaces read round-robin over HTTP by eight clients, through an API process allowed three engines
    and four connections per server: every answer right (no evicted engine's pool is used), and its connections
    to those databases (pg_stat_activity) never over the bound."""
    created = [await workspaces.create() for _ in range(9)]
    for ws in created:
        await ws.contact(firstName=f"Only{ws.slug}", lastName="Wong")
    names = [runtime.directory.database_name(ws.slug) for ws in created]
    server = runtime.directory.server_for(settings.default_region)
    for name in names:  # the session's own process leaves them: only the small one's connections are counted
        await runtime.directory.router.forget(server, name)
    small = Settings(CRM_MAX_CONNECTIONS_PER_SERVER=4, CRM_MAX_ENGINES=3)
    own = await main.open_runtime(small, endpoints)
    own.versions.start()
    app = main.create_app(small, endpoints)

    with_state = on_runtime(app, own)
    counter = 0

    async def client(gql: GraphQLClient) -> None:
        nonlocal counter
        while counter < 90:
            ws = created[counter % len(created)]
            counter += 1
            body = await gql.ok("{contacts(first:5){edges{node{firstName}}}}", None, ws.admin_token)
            assert [e["node"]["firstName"] for e in body["contacts"]["edges"]] == [f"Only{ws.slug}"]

    try:
        async with (
            _peak_connections(runtime, names) as peak,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://small") as http,
        ):
            await asyncio.gather(*(client(GraphQLClient(http)) for _ in range(8)))
            assert own.directory.router.budget(server).open_connections() <= 4
            assert len(own.directory.router) <= 3
    finally:
        await main.close_runtime(own)
    assert 1 <= peak.most <= 4


async def test_idle_pools_are_closed_without_further_requests(runtime: Runtime, settings: Settings) -> None:
    server, names = await _databases(runtime, settings, "quiet")
    router = EngineRouter(max_engines=10, max_connections_per_server=10, idle_seconds=0.3)
    try:
        for name in names[:3]:
            async with router.engine(server, name).connect() as conn:
                await conn.execute(text("select 1"))
        assert await _open(runtime, names) == 3
        for _ in range(100):  # nobody asks the router for anything now
            if await _open(runtime, names) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _open(runtime, names) == 0
        assert router.budget(server).open_connections() == 0
    finally:
        await router.dispose()


async def test_a_workspace_whose_pool_was_closed_keeps_its_next_idle_connection(
    runtime: Runtime, settings: Settings
) -> None:
    """The closed pool's rule (close what comes back) is not inherited by the fresh pool the engine gets."""
    server, names = await _databases(runtime, settings, "again")
    router = EngineRouter(max_engines=10, max_connections_per_server=10, idle_seconds=0.2)
    try:
        engine = router.engine(server, names[0])
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        for _ in range(100):  # closed as idle
            if await _connections_to(runtime, names[0]) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _connections_to(runtime, names[0]) == 0
        for _ in range(3):  # used again: one connection, kept idle between uses
            async with router.engine(server, names[0]).connect() as conn:
                await conn.execute(text("select 1"))
            assert await _connections_to(runtime, names[0]) == 1
    finally:
        await router.dispose()


async def test_a_bound_above_what_the_server_accepts_is_logged(
    runtime: Runtime, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime.directory.catalog.connect() as conn:
        room = int((await conn.execute(text(
            "select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
        ))).scalar_one())
        with caplog.at_level(logging.WARNING, logger="main"):
            await main.warn_if_server_too_small(conn, Settings(CRM_MAX_CONNECTIONS_PER_SERVER=room - 20))
            assert not caplog.records
            await main.warn_if_server_too_small(conn, Settings(CRM_MAX_CONNECTIONS_PER_SERVER=room))
    [record] = caplog.records
    assert f"server accepts {room}" in record.getMessage()
    assert f"CRM_MAX_CONNECTIONS_PER_SERVER={room}" in record.getMessage()


async def test_a_busy_workspace_keeps_the_connections_it_opened(
    settings: Settings, runtime: Runtime, workspaces: WorkspaceFactory, gql: GraphQLClient
) -> None:
    """Five bursts of sixteen requests at once on one workspace open at most CRM_POOL_SIZE backends in all: a
    pool keeps what it opened. (With one kept and four overflow, each burst closed four backends and the next
    opened them again: 20 backends, and `serve --workers 2` scaled 1.7x instead of 2.2x in bench/scaling.py.)"""
    ws = await workspaces.create()
    await ws.contact(firstName="Busy", lastName="Wong")
    server = runtime.directory.server_for(settings.default_region)
    engine = runtime.directory.router.engine(server, runtime.directory.database_name(ws.slug))
    opened: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda *_: opened.append(1))
    query = "{contacts(first:5){edges{node{firstName}}}}"
    for _ in range(5):
        bodies = await asyncio.gather(*(gql.ok(query, None, ws.admin_token) for _ in range(16)))
        assert all(body["contacts"]["edges"][0]["node"]["firstName"] == "Busy" for body in bodies)
    assert runtime.directory.router.engine(server, runtime.directory.database_name(ws.slug)) is engine
    assert 1 <= len(opened) <= settings.pool_size + settings.pool_max_overflow
    assert settings.pool_max_overflow == 0  # the default: overflow connections are closed on their way back

"""Regions: two real PostgreSQL servers (the session's, and a second embedded cluster started here) mapped to
`hk` and `sg`; each workspace's database exists on its region's server only, and the API says where it is."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import main
from db.embedded import start_postgres
from db.sessions import database_url
from resolvers.errors import BadInput
from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspaces
from resolvers.workspaces import life as workspace_life
from settings import Settings
from tests.api.helpers import on_runtime
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory

pytestmark = [pytest.mark.embedded, pytest.mark.slow]


@dataclass
class TwoRegions:
    runtime: Runtime
    gql: GraphQLClient
    workspaces: WorkspaceFactory
    servers: dict[str, str]


async def databases_on(server: str, prefix: str) -> set[str]:
    engine = create_async_engine(database_url(server, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            stmt = text("select datname from pg_database where datname like :p")
            rows = await conn.execute(stmt, {"p": f"{prefix}\\_%"})
            return set(rows.scalars())
    finally:
        await engine.dispose()


async def drop_all(server: str, prefix: str) -> None:
    engine = create_async_engine(database_url(server, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for name in await databases_on(server, prefix):
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def regions(settings: Settings, endpoints: main.Endpoints) -> AsyncIterator[TwoRegions]:
    # Its own catalog (another database prefix): the session's catalog knows only the region `hk`.
    own = Settings(CRM_DB_PREFIX=f"{settings.db_prefix}rg")
    singapore = start_postgres(settings.data_dir / "region-sg")
    servers = {"hk": endpoints.database_url, "sg": singapore.url}
    ep = main.Endpoints(endpoints.database_url, servers, endpoints.redis_url)
    runtime = await main.open_runtime(own, ep)
    runtime.versions.start()
    app = main.create_app(own, ep)

    with_state = on_runtime(app, runtime)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://regions") as http:
            gql = GraphQLClient(http)
            yield TwoRegions(runtime, gql, WorkspaceFactory(runtime, gql), servers)
    finally:
        await main.close_runtime(runtime)
        for server in servers.values():
            await drop_all(server, own.db_prefix)
        singapore.stop()


async def test_each_workspace_lives_on_its_regions_server(regions: TwoRegions) -> None:
    prefix = regions.runtime.directory.db_prefix
    hk = await regions.workspaces.create(region="hk")
    sg = await regions.workspaces.create(region="sg")
    hk_db, sg_db = (regions.runtime.directory.database_name(w.slug) for w in (hk, sg))

    on_hk = await databases_on(regions.servers["hk"], prefix)
    on_sg = await databases_on(regions.servers["sg"], prefix)
    assert hk_db in on_hk and hk_db not in on_sg
    assert sg_db in on_sg and sg_db not in on_hk
    assert f"{prefix}_catalog" in on_hk  # the catalog stays on the default server

    for ws, region in ((hk, "hk"), (sg, "sg")):
        contact = await ws.contact(firstName=f"In {region}", hkid="A123456(3)")
        data = await regions.gql.ok(
            "query($id:ID!){ workspace { region status } contact(id:$id){ firstName hkid } }",
            {"id": contact},
            ws.admin_token,
        )
        assert data == {"workspace": {"region": region, "status": "ACTIVE"},
                        "contact": {"firstName": f"In {region}", "hkid": "A123456(3)"}}


async def test_an_unknown_region_is_refused_with_the_configured_ones(regions: TwoRegions) -> None:
    with pytest.raises(BadInput) as refused:
        await workspaces.create_workspace(
            regions.runtime.directory, workspaces.NewWorkspace("in-eu", "EU", "eu", "a@example.com", PASSWORD)
        )
    assert refused.value.field == "region"
    assert str(refused.value) == "unknown region 'eu' (configured: hk, sg)"


async def test_purging_drops_the_database_on_its_regions_server(regions: TwoRegions) -> None:
    prefix = regions.runtime.directory.db_prefix
    sg = await regions.workspaces.create(region="sg")
    await regions.gql.ok("mutation($s:String!){ closeWorkspace(confirmSlug:$s){ status } }", {"s": sg.slug},
                         sg.admin_token)
    moved = datetime.now(UTC) + timedelta(days=regions.runtime.grace_days, hours=1)
    assert await workspace_life.purge(dataclasses.replace(regions.runtime, clock=lambda: moved), sg.slug)
    assert regions.runtime.directory.database_name(sg.slug) not in await databases_on(regions.servers["sg"], prefix)

"""Made-up API keys must not fill the workspace directory's cache: impossible slugs are never looked up, and
unknown ones are kept in a small bound of their own, so real workspaces stay cached and served; one catalog read
refreshes other expiring workspaces, and a change in the catalog still takes effect within the TTL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from db.tenancy import TenantDirectory
from resolvers.identity.credentials import new_api_key
from resolvers.runtime import Runtime
from tests.factories.workspaces import Workspace, WorkspaceFactory

COUNT = {"query": "{ contacts(first: 0) { totalCount } }"}


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def code_for(http: httpx.AsyncClient, key: str) -> str:
    body = (await http.post("/graphql", json=COUNT, headers={"Authorization": f"Bearer {key}"})).json()
    return str(body["errors"][0]["extensions"]["code"]) if body.get("errors") else "OK"


async def test_keys_naming_impossible_workspaces_are_not_cached(http: httpx.AsyncClient, runtime: Runtime) -> None:
    before = runtime.directory.cached
    for i in range(50):
        slug = f"No Such_{i}!" if i % 2 else f"{'x' * 40}{i}"
        assert await code_for(http, new_api_key(slug)) == "UNAUTHENTICATED"
    assert runtime.directory.cached == before


async def test_made_up_workspaces_fill_a_bounded_cache_only(
    http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    assert await code_for(http, ws.admin_token) == "OK"
    for _ in range(300):
        assert await code_for(http, new_api_key(f"ws-{secrets.token_hex(5)}")) == "UNAUTHENTICATED"
    assert runtime.directory.cached <= 1024 + 128
    assert runtime.directory.cached_unknown <= 128
    assert runtime.directory.is_cached(ws.slug)  # the real workspace was not pushed out
    assert await code_for(http, ws.admin_token) == "OK"


@asynccontextmanager
async def catalog_reads(runtime: Runtime) -> AsyncIterator[list[str]]:
    """The statements sent on the catalog while the block runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(runtime.directory.catalog.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(runtime.directory.catalog.sync_engine, "before_cursor_execute", note)


async def set_status(runtime: Runtime, slug: str, status: str) -> None:
    async with runtime.directory.catalog.begin() as conn:
        await conn.execute(text("update workspaces set status = :s where slug = :w"), {"s": status, "w": slug})


async def test_one_catalog_read_refreshes_other_workspaces_and_a_change_still_takes_effect(
    runtime: Runtime, ws: Workspace, workspaces: WorkspaceFactory
) -> None:
    """Another process's directory (TTL 0.4 s): reading one expired workspace also refreshes the other one, which
    is then served without a catalog read; a workspace closed meanwhile is dropped by that refresh instead."""
    other = await workspaces.create()
    directory = TenantDirectory(
        catalog=runtime.directory.catalog, router=runtime.directory.router, regions=runtime.directory.regions,
        master_key=runtime.master_key, db_prefix=runtime.directory.db_prefix, ttl_seconds=0.4,
    )
    first = await directory.get(other.slug)
    assert first is not None and first.active
    assert await directory.get(ws.slug) is not None
    await asyncio.sleep(0.45)
    async with catalog_reads(runtime) as reads:
        assert await directory.get(ws.slug) is not None
        assert await directory.get(other.slug) is first  # refreshed by the read above, unchanged: the same Tenant
    assert len(reads) == 1

    await asyncio.sleep(0.45)
    await set_status(runtime, other.slug, "CLOSED")
    try:
        async with catalog_reads(runtime) as reads:
            assert await directory.get(ws.slug) is not None
            closed = await directory.get(other.slug)
        assert closed is not None and not closed.active  # never served from the stale entry
        assert len(reads) == 2
    finally:
        await set_status(runtime, other.slug, "ACTIVE")

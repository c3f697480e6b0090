"""Made-up API keys must not fill the workspace directory's cache: impossible slugs are never looked up, and
unknown ones are kept in a small bound of their own, so real workspaces stay cached and served."""

from __future__ import annotations

import secrets

import httpx
import pytest

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

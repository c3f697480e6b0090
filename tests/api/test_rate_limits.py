"""Requests a minute per user and per API key, counted in Redis: `RateLimit-*` headers on authenticated
responses, RATE_LIMITED with `Retry-After` over the limit, and one count shared by every API process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

import main
from resolvers.rate_limits import RequestLimits
from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

ME = {"query": "{ me { id } }"}
COUNT = {"query": "{ contacts(first: 0) { totalCount } }"}
LIMIT = 5


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


@pytest.fixture
async def low_limit(runtime: Runtime, endpoints: main.Endpoints) -> AsyncIterator[str]:
    """The runtime limits every principal to LIMIT requests a minute (its own Redis namespace) for one test."""
    namespace = f"test-{secrets.token_hex(4)}"
    saved = runtime.rate_limits
    runtime.rate_limits = RequestLimits(runtime.redis, endpoints.redis_url, LIMIT, namespace=namespace)
    try:
        yield namespace
    finally:
        runtime.rate_limits = saved


async def call(http: httpx.AsyncClient, token: str | None, body: dict[str, str] = ME) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post("/graphql", json=body, headers=headers)


async def test_authenticated_responses_carry_the_limit_headers(http: httpx.AsyncClient, ws: Workspace) -> None:
    response = await call(http, ws.admin_token)
    assert response.headers["ratelimit-limit"] == "1200"
    assert 0 <= int(response.headers["ratelimit-remaining"]) < 1200
    assert 0 <= int(response.headers["ratelimit-reset"]) <= 60
    assert "retry-after" not in response.headers
    anonymous = await call(http, None)
    assert "ratelimit-limit" not in anonymous.headers


async def test_over_the_limit_a_user_is_rate_limited_with_retry_after(
    http: httpx.AsyncClient, ws: Workspace, low_limit: str
) -> None:
    seller = await ws.user(f"seller-{secrets.token_hex(2)}", ["sales"])
    remaining = []
    for _ in range(LIMIT):
        response = await call(http, seller["token"])
        assert not response.json().get("errors"), response.json()
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == list(range(LIMIT - 1, -1, -1))
    refused = await call(http, seller["token"])
    body = refused.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    # another principal of the same workspace has its own count
    assert not (await call(http, ws.admin_token)).json().get("errors")


async def test_an_api_key_has_its_own_limit(
    gql: GraphQLClient, http: httpx.AsyncClient, ws: Workspace, low_limit: str
) -> None:
    created = await gql.ok('mutation{ createApiKey(name: "sync", role: "sales") { key } }', token=ws.admin_token)
    key = created["createApiKey"]["key"]
    codes = []
    for _ in range(LIMIT + 2):
        body = (await call(http, key, COUNT)).json()
        codes.append(body["errors"][0]["extensions"]["code"] if body.get("errors") else "OK")
    assert codes == ["OK"] * LIMIT + ["RATE_LIMITED"] * 2


async def test_every_process_shares_the_count(
    http: httpx.AsyncClient, runtime: Runtime, endpoints: main.Endpoints, ws: Workspace, low_limit: str
) -> None:
    """A second limiter with its own Redis connection (as another API process has) continues the same count."""
    seller = await ws.user(f"seller-{secrets.token_hex(2)}", ["sales"])
    for _ in range(3):
        assert not (await call(http, seller["token"])).json().get("errors")
    other = Redis.from_url(endpoints.redis_url)
    try:
        runtime.rate_limits = RequestLimits(other, endpoints.redis_url, LIMIT, namespace=low_limit)
        statuses = [(await call(http, seller["token"])).headers["ratelimit-remaining"] for _ in range(2)]
        assert statuses == ["1", "0"]
        assert (await call(http, seller["token"])).json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        await other.aclose()

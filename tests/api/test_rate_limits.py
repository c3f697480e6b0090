"""Requests a minute per user and per API key, counted in Redis: `RateLimit-*` headers on authenticated
responses, RATE_LIMITED with `Retry-After` over the limit, one count shared by every API process, and the
same count as the `limits` library's sliding window counter (its keys and numbers) in one round trip."""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

import main
from authz.principal import Principal
from resolvers.rate_limits import RequestLimits, window_quota
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


async def test_the_count_is_the_limits_librarys_sliding_window_in_one_round_trip(
    runtime: Runtime, endpoints: main.Endpoints, low_limit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`limits`' own SlidingWindowCounterRateLimiter reads and continues the count kept by `RequestLimits`."""
    ours = runtime.rate_limits
    assert ours is not None
    url = endpoints.redis_url
    uri = "async+redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else "async+" + url
    pool = {"connection_pool": runtime.redis.connection_pool}
    theirs = SlidingWindowCounterRateLimiter(
        RedisStorage(uri, implementation="redispy", key_prefix=f"{low_limit}:ratelimit", **pool)
    )
    principal = Principal("user", uuid.uuid4(), frozenset())
    key = f"acme:user:{principal.id}"
    await ours.hit("acme", Principal("user", uuid.uuid4(), frozenset()))  # the script is loaded in Redis now
    sent: list[object] = []
    real = runtime.redis.connection_pool.get_connection

    async def counting(*args: object, **kwargs: object) -> object:
        sent.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(runtime.redis.connection_pool, "get_connection", counting)
    quotas = [await ours.hit("acme", principal) for _ in range(3)]
    assert len(sent) == 3  # one Redis command a request
    monkeypatch.undo()
    assert [q.remaining for q in quotas] == [LIMIT - 1, LIMIT - 2, LIMIT - 3]
    assert all(q.allowed and 0 <= q.reset_seconds <= 60 for q in quotas)
    stats = await theirs.get_window_stats(ours.item, key)
    assert stats.remaining == LIMIT - 3
    # `limits` says 0 s where a window has begun within the same millisecond (its key's TTL an exact 120 s) and
    # `RequestLimits` says the full 60 s (see `_left_of_period`): the same instant, so compare within a window.
    apart = (math.ceil(stats.reset_time - time.time()) - quotas[-1].reset_seconds) % 60
    assert min(apart, 60 - apart) <= 1
    assert await theirs.hit(ours.item, key)  # the fourth, counted by `limits`
    fifth = await ours.hit("acme", principal)
    assert (fifth.allowed, fifth.remaining) == (True, 0)
    refused = await ours.hit("acme", principal)
    assert (refused.allowed, refused.remaining) == (False, 0) and "Retry-After" in refused.headers()
    assert not await theirs.test(ours.item, key)


def test_a_window_that_has_just_begun_resets_in_a_full_window_not_zero() -> None:
    # The current window's key lives two windows; at the instant it is made its TTL is exactly 120 s.
    assert window_quota(5, 60, True, (0, 0.0), (1, 120.0)).reset_seconds == 60
    assert window_quota(5, 60, True, (0, 0.0), (1, 119.5)).reset_seconds == 60
    assert window_quota(5, 60, True, (0, 0.0), (1, 61.0)).reset_seconds == 1
    assert window_quota(5, 60, True, (2, 30.0), (0, 0.0)).reset_seconds == 30  # 30 % (60 / 2) left: a full 30

"""Heavy operations (static cost at least CRM_HEAVY_QUERY_COST) take turns per process; light ones never wait
for them; and a request's loaders let go of its context, so what it loaded is freed without a full collection."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pytest
from starlette.routing import Route

import main
from resolvers.heavy_lane import HeavyLane
from resolvers.projection import Record
from resolvers.runtime import Runtime
from schema.http_view import CrmGraphQL
from settings import Settings
from tests.api.helpers import on_runtime
from tests.factories.workspaces import Workspace, WorkspaceFactory

NESTED = (
    "{ contacts(first: 20) { edges { node { id firstName "
    "activities(first: 20) { edges { node { id subject } } } } } } }"
)
LIGHT = "{ me { id } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    for i in range(5):
        contact_id = await ws.contact(firstName=f"Heavy{i}", lastName="Lane")
        for j in range(3):
            await ws.gql.ok(
                "mutation($i:ActivityInput!){createActivity(input:$i){id}}",
                {"i": {"contactId": contact_id, "kind": "CALL", "subject": f"call {j}"}},
                ws.admin_token,
            )
    return ws


async def _client(settings: Settings, endpoints: main.Endpoints, runtime: Runtime,
                  **overrides: Any) -> tuple[httpx.AsyncClient, CrmGraphQL]:
    app = main.create_app(settings.model_copy(update=overrides), endpoints)
    transport = next(r.app for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    view = transport.app
    assert isinstance(view, CrmGraphQL)

    with_state = on_runtime(app, runtime)

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://testserver")
    return client, view


async def _post(client: httpx.AsyncClient, token: str, query: str) -> dict[str, Any]:
    r = await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body.get("errors"), body
    return body


@pytest.mark.parametrize("at_once", [1, 3])
async def test_heavy_operations_run_at_most_so_many_at_once(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace, at_once: int
) -> None:
    client, view = await _client(settings, endpoints, runtime, heavy_query_cost=100, heavy_queries_at_once=at_once)
    async with client:
        bodies = await asyncio.gather(*(_post(client, ws.admin_token, NESTED) for _ in range(6)))
        await _post(client, ws.admin_token, LIGHT)
    assert all(len(b["data"]["contacts"]["edges"]) == 5 for b in bodies)
    assert all(len(e["node"]["activities"]["edges"]) == 3 for b in bodies for e in b["data"]["contacts"]["edges"])
    assert view.lane is not None
    if at_once == 1:  # six sent at once ran one by one
        assert view.lane.peak == 1 and view.lane.waited >= 1
    else:  # ... and with more places, side by side, never past the bound
        assert 1 < view.lane.peak <= at_once
    assert view.lane.running == 0


async def test_light_operations_do_not_enter_the_lane(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace
) -> None:
    client, view = await _client(settings, endpoints, runtime, heavy_query_cost=100, heavy_queries_at_once=1)
    async with client:
        await asyncio.gather(*(_post(client, ws.admin_token, LIGHT) for _ in range(4)))
    assert view.lane is not None and view.lane.peak == 0


async def test_a_light_operation_passes_a_heavy_one_holding_the_lane() -> None:
    lane = HeavyLane(asyncio.get_running_loop(), heavy_cost=10, at_once=1)
    order: list[str] = []
    release = asyncio.Event()

    async def heavy(name: str) -> None:
        async with lane.turn(50):
            order.append(name)
            await release.wait()

    async def light() -> None:
        async with lane.turn(3):
            order.append("light")

    first = asyncio.create_task(heavy("heavy 1"))
    second = asyncio.create_task(heavy("heavy 2"))
    await asyncio.sleep(0)
    await light()
    assert order == ["heavy 1", "light"]
    third = asyncio.create_task(heavy("heavy 3"))
    await asyncio.sleep(0)
    second.cancel()  # a waiter that gives up leaves the queue
    release.set()
    await asyncio.gather(first, third)
    assert order == ["heavy 1", "light", "heavy 3"]
    assert lane.peak == 1 and lane.running == 0


async def test_a_free_place_goes_to_the_workspace_served_longest_ago() -> None:
    lane = HeavyLane(asyncio.get_running_loop(), heavy_cost=10, at_once=1)
    order: list[str] = []
    releases = {name: asyncio.Event() for name in ("A1", "A2", "A3", "B1", "C1")}

    async def heavy(name: str) -> None:
        async with lane.turn(50, name[0]):
            order.append(name)
            await releases[name].wait()

    tasks = []
    for name in ("A1", "A2", "A3", "B1", "C1"):  # A1 takes the place; the others queue in this order
        tasks.append(asyncio.create_task(heavy(name)))
        await asyncio.sleep(0)
    for name in ("A1", "B1", "C1", "A2", "A3"):
        releases[name].set()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["A1", "B1", "C1", "A2", "A3"]  # B and C each wait behind one of A's, not three
    assert lane.peak == 1 and lane.running == 0 and lane.waited == 4


async def test_a_cancelled_waiter_gives_its_place_on() -> None:
    lane = HeavyLane(asyncio.get_running_loop(), heavy_cost=10, at_once=1)
    order: list[str] = []
    hold = asyncio.Event()

    async def heavy(name: str) -> None:
        async with lane.turn(50, name[0]):
            order.append(name)
            if name == "A1":
                await hold.wait()

    first = asyncio.create_task(heavy("A1"))
    await asyncio.sleep(0)
    gone, then = asyncio.create_task(heavy("B1")), asyncio.create_task(heavy("C1"))
    await asyncio.sleep(0)
    hold.set()  # A1 ends: B1 is given the place ...
    await asyncio.sleep(0)
    gone.cancel()  # ... and cancelled before it ran: the place goes on to C1
    await asyncio.gather(first, then)
    assert order == ["A1", "C1"] and lane.running == 0


async def test_over_http_another_workspace_waits_behind_one_heavy_operation_not_all(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace, workspaces: WorkspaceFactory
) -> None:
    other = await workspaces.create()
    await other.contact(firstName="Other", lastName="Tenant")
    client, view = await _client(settings, endpoints, runtime, heavy_query_cost=100, heavy_queries_at_once=1)
    finished: list[str] = []

    async def send(token: str, name: str) -> None:
        await _post(client, token, NESTED)
        finished.append(name)

    async with client:
        await _post(client, ws.admin_token, LIGHT)  # the view's lane exists
        assert view.lane is not None
        busy = [asyncio.create_task(send(ws.admin_token, f"first {i}")) for i in range(6)]
        while view.lane.waited < 5:  # one runs, five wait
            await asyncio.sleep(0.005)
        queued = view.lane.waited
        late = asyncio.create_task(send(other.admin_token, "other"))
        while view.lane.waited == queued:  # until the other workspace's operation waits in the lane too
            await asyncio.sleep(0.001)
        done_before = len(finished)
        await asyncio.gather(*busy, late)
    ahead = 6 - done_before - 1  # the first workspace's operations still waiting when it queued
    assert ahead >= 2, finished  # in arrival order it would have waited for all of them
    assert finished.index("other") <= done_before + 1, finished  # it waited for the one running only


def _records_alive() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, Record))


async def test_the_records_a_request_loaded_are_freed_without_a_full_collection(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace
) -> None:
    """The loaders' batch functions hold the request context and their caches every record they loaded: a
    cycle only a full collection frees, unless the context lets go of its loaders when the operation ends."""
    client, _ = await _client(settings, endpoints, runtime)
    async with client:
        await _post(client, ws.admin_token, NESTED)  # warm: the first request builds caches that live on
        gc.collect()
        gc.disable()
        try:
            before = _records_alive()
            body = await _post(client, ws.admin_token, NESTED)
            assert sum(len(e["node"]["activities"]["edges"]) for e in body["data"]["contacts"]["edges"]) == 15
            assert _records_alive() == before
        finally:
            gc.enable()

"""One query must not freeze every tenant: a static cost estimate before execution, a lower page limit for
nested connections, an operation timeout that writes nothing, and a statement_timeout on workspace sessions."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from graphql import parse
from sqlalchemy import text

import main
from resolvers.runtime import Runtime
from schema.ids import from_global
from schema.limits import DEFAULT_MAX_COST, operation_costs
from schema.root import build_schema
from settings import Settings
from tests.api.helpers import app_client, live_server
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

# The issue's query: thirty aliases, each three connections of 200 deep.
ISSUE_QUERY = "{ " + " ".join(
    f"c{i}: contacts(first: 200) {{ edges {{ node {{ id firstName activities(first: 200) {{ edges {{ node {{ id "
    f"contact {{ activities(first: 200) {{ edges {{ node {{ id subject body }} }} }} }} }} }} }} }} }} }}"
    for i in range(30)
) + " }"
NESTED = "{ contacts(first: %d) { edges { node { id activities(first: %d) { edges { node { id subject } } } } } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.contact(firstName="Chan", lastName="Tai Man")
    return ws


def cost_of(query: str) -> int:
    schema = build_schema()._schema
    return sum(cost for _, cost in operation_costs(schema, parse(query)))


def refused_for_cost(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    costly = [e for e in body["errors"] if "cost" in e["extensions"]]
    assert len(costly) == 1, body["errors"]
    error = costly[0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["maxCost"] == DEFAULT_MAX_COST
    assert error["extensions"]["cost"] > DEFAULT_MAX_COST
    return error


async def test_the_issue_query_is_refused_before_it_runs(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("seller", ["sales"])
    body = await gql.raw(ISSUE_QUERY, token=sales["token"])
    error = refused_for_cost(body)
    assert error["extensions"]["cost"] == cost_of(ISSUE_QUERY)


async def test_lists_multiply_by_first_and_a_cheaper_page_passes(gql: GraphQLClient, ws: Workspace) -> None:
    assert cost_of(NESTED % (200, 50)) > DEFAULT_MAX_COST
    refused_for_cost(await gql.raw(NESTED % (200, 50), token=ws.admin_token))
    assert cost_of(NESTED % (20, 50)) <= DEFAULT_MAX_COST
    page = await gql.ok(NESTED % (20, 50), token=ws.admin_token)
    assert len(page["contacts"]["edges"]) == 1
    assert cost_of(NESTED % (2, 50)) * 10 == pytest.approx(cost_of(NESTED % (20, 50)), rel=0.01)


async def test_aliases_and_fragments_are_counted(gql: GraphQLClient, ws: Workspace) -> None:
    one = "c0: contacts(first: 40) { edges { node { ...A } } }"
    fragment = " fragment A on Contact { id activities(first: 50) { edges { node { id subject } } } }"
    single = "{ " + one + " }" + fragment
    assert cost_of(single) <= DEFAULT_MAX_COST
    assert not (await gql.raw(single, token=ws.admin_token)).get("errors")
    many = "{ " + " ".join(one.replace("c0", f"c{i}") for i in range(6)) + " }" + fragment
    assert cost_of(many) == pytest.approx(6 * cost_of(single), rel=0.01)
    refused_for_cost(await gql.raw(many, token=ws.admin_token))
    inline = "{ node(id: \"x\") { ... on Contact { activities(first: 50) { edges { node { id } } } } } }"
    assert cost_of(inline) > 50


async def test_a_variable_page_size_counts_as_the_largest_page(gql: GraphQLClient, ws: Workspace) -> None:
    query = "query($n:Int){ contacts(first:$n) { edges { node { id activities { edges { node { id body } } } } } } }"
    refused_for_cost(await gql.raw(query, {"n": 1}, ws.admin_token))


async def test_a_nested_connection_takes_at_most_50(gql: GraphQLClient, ws: Workspace) -> None:
    query = "{ contacts(first: 1) { edges { node { activities(first: %d) { totalCount } } } } }"
    assert not (await gql.raw(query % 50, token=ws.admin_token)).get("errors")
    body = await gql.raw(query % 51, token=ws.admin_token)
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    by_variable = await gql.raw(
        "query($n:Int){ contacts(first: 1) { edges { node { activities(first:$n) { totalCount } } } } }",
        {"n": 51}, ws.admin_token,
    )
    assert [e["extensions"] for e in by_variable["errors"]] == [{"code": "BAD_USER_INPUT", "field": "first"}]


# ---------------------------------------------------------------- time


async def test_an_operation_past_the_timeout_is_cancelled_and_writes_nothing(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, gql: GraphQLClient, ws: Workspace
) -> None:
    contact = await ws.contact(firstName="Locked", company="Before")
    team = f"Team {secrets.token_hex(4)}"
    mutation = (
        "mutation($id:ID!,$t:String!){ t: createTeam(name:$t) { id } "
        'u: updateContact(id:$id, input:{company: "After"}) { company } }'
    )
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    # another session holds the contact's row, so the update waits past the timeout
    async with (
        app_client(settings, endpoints, runtime, operation_timeout_s=1.0) as http,
        tenant.engine.connect() as lock,
    ):
        await lock.execute(text("select 1 from contacts where id = :id for update"), {"id": from_global(contact)[1]})
        response = await http.post(
            "/graphql", json={"query": mutation, "variables": {"id": contact, "t": team}},
            headers={"Authorization": f"Bearer {ws.admin_token}"},
        )
        await lock.rollback()
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL" and error["extensions"]["requestId"]
    assert "cancelled" in error["message"]
    after = await gql.ok("query($id:ID!){ contact(id:$id){ company } }", {"id": contact}, ws.admin_token)
    assert after["contact"]["company"] == "Before"
    # the team was never committed: the same name can be created now
    assert await gql.ok("mutation($t:String!){ createTeam(name:$t) { id } }", {"t": team}, ws.admin_token)


async def test_workspace_sessions_carry_a_statement_timeout(runtime: Runtime, ws: Workspace) -> None:
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with tenant.engine.connect() as conn:
        assert await conn.scalar(text("show statement_timeout")) == "10s"


# ---------------------------------------------------------------- the other tenants keep being served


async def test_the_issue_query_is_refused_at_once_while_healthz_keeps_answering(
    settings: Settings, endpoints: main.Endpoints, ws: Workspace
) -> None:
    sales = await ws.user("seller", ["sales"])
    with live_server(settings, endpoints) as base:
        async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(5.0)) as client:
            health: list[int] = []
            done = asyncio.Event()

            async def poll() -> None:
                async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(1.0)) as poller:
                    while not done.is_set():  # a reply slower than a second raises ReadTimeout
                        health.append((await poller.get("/healthz")).status_code)
                        await asyncio.sleep(0.02)

            poller = asyncio.create_task(poll())
            responses: list[httpx.Response] = []
            try:
                for _ in range(3):  # four clients at once, three times, while /healthz is polled
                    responses += await asyncio.gather(*[
                        client.post("/graphql", json={"query": ISSUE_QUERY},
                                    headers={"Authorization": f"Bearer {sales['token']}"})
                        for _ in range(4)
                    ])
                    await asyncio.sleep(0.05)
            finally:
                done.set()
                await poller
    for response in responses:  # refused before execution: a short error, no data
        refused_for_cost(response.json())
        assert len(response.content) < 20_000
    assert len(responses) == 12
    assert len(health) >= 3 and set(health) == {200}


async def test_requests_cancelled_mid_statement_leave_healthy_connections(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, gql: GraphQLClient, ws: Workspace
) -> None:
    """Many operations cancelled at random points of their statements (a timeout far below their run time),
    then the same pools serve normal requests: every one answers (no connection left mid-statement or in a
    transaction it did not start)."""
    for i in range(30):
        await ws.contact(firstName=f"Storm{i}", company="Storm Ltd")
    query = "{ contacts(first: 50) { totalCount edges { node { id firstName email hkid company } } } }"
    headers = {"Authorization": f"Bearer {ws.admin_token}"}
    async with app_client(settings, endpoints, runtime, operation_timeout_s=0.003) as http:
        answers = await asyncio.gather(*(
            http.post("/graphql", json={"query": query}, headers=headers) for _ in range(40)))
    codes = {e["extensions"]["code"] for r in answers for e in r.json().get("errors", [])}
    assert codes <= {"INTERNAL"}, codes
    assert any(r.json().get("errors") for r in answers)  # some were cancelled
    for _ in range(3):
        bodies = await asyncio.gather(*(gql.raw(query, None, ws.admin_token) for _ in range(8)))
        assert all(not b.get("errors") and b["data"]["contacts"]["totalCount"] >= 30 for b in bodies), bodies

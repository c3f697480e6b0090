"""`Idempotency-Key` on mutations by API keys, over HTTP: a retry returns the first answer and writes nothing
twice; the same key with another body is CONFLICT; concurrent duplicates run once; a failed first attempt
leaves the key free; keys are per API key and expire after 24 hours."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from db.models import IdempotencyKey
from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

CREATE = "mutation($n: String!){ createContact(input: {firstName: $n, company: \"Idem\"}) { id firstName } }"
COUNT = "query($s: String!){ contacts(first: 0, filter: {search: $s}) { totalCount } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


@pytest.fixture
async def key(gql: GraphQLClient, ws: Workspace) -> str:
    data = await gql.ok(
        "mutation($n: String!){ createApiKey(name: $n, role: \"admin\") { key } }",
        {"n": f"sync-{secrets.token_hex(3)}"}, ws.admin_token,
    )
    return str(data["createApiKey"]["key"])


async def send(http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any],
               idem: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


async def count(gql: GraphQLClient, ws: Workspace, name: str) -> int:
    return int((await gql.ok(COUNT, {"s": name}, ws.admin_token))["contacts"]["totalCount"])


async def test_a_retry_returns_the_first_answer_and_writes_once(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace, key: str
) -> None:
    name, idem = f"Retry{secrets.token_hex(3)}", secrets.token_hex(8)
    first = await send(http, key, CREATE, {"n": name}, idem)
    second = await send(http, key, CREATE, {"n": name}, idem)
    assert first.json()["data"]["createContact"]["firstName"] == name
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    assert await count(gql, ws, name) == 1
    # without the header, the same mutation runs again
    await send(http, key, CREATE, {"n": name}, None)
    assert await count(gql, ws, name) == 2


async def test_the_same_key_with_another_body_is_a_conflict(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace, key: str
) -> None:
    name, idem = f"Body{secrets.token_hex(3)}", secrets.token_hex(8)
    assert "errors" not in (await send(http, key, CREATE, {"n": name}, idem)).json()
    other = (await send(http, key, CREATE, {"n": name + "x"}, idem)).json()
    assert other["data"] is None
    assert other["errors"][0]["extensions"] == {"code": "CONFLICT", "detail": "IDEMPOTENCY_KEY_REUSED"}
    assert await count(gql, ws, name + "x") == 0


async def test_concurrent_duplicates_run_once(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace, key: str
) -> None:
    name, idem = f"Race{secrets.token_hex(3)}", secrets.token_hex(8)
    answers = await asyncio.gather(*(send(http, key, CREATE, {"n": name}, idem) for _ in range(4)))
    bodies = [a.json() for a in answers]
    assert all(b == bodies[0] for b in bodies), bodies
    assert "errors" not in bodies[0]
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 3
    assert await count(gql, ws, name) == 1


async def test_a_refused_first_answer_is_replayed_and_a_bad_key_is_bad_input(
    http: httpx.AsyncClient, ws: Workspace, key: str
) -> None:
    idem = secrets.token_hex(8)
    bad = "mutation { createContact(input: {email: \"not-an-email\"}) { id } }"
    first = (await send(http, key, bad, {}, idem)).json()
    assert first["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    again = await send(http, key, bad, {}, idem)
    assert again.json() == first and again.headers.get("idempotent-replayed") == "true"
    too_long = (await send(http, key, CREATE, {"n": "x"}, "k" * 300)).json()
    assert too_long["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "Idempotency-Key"}


async def test_keys_belong_to_one_api_key_expire_and_ignore_users_and_queries(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace, key: str, runtime: Runtime
) -> None:
    name, idem = f"Scope{secrets.token_hex(3)}", secrets.token_hex(8)
    await send(http, key, CREATE, {"n": name}, idem)
    other_key = (await gql.ok('mutation{ createApiKey(name: "other", role: "admin") { key } }',
                              token=ws.admin_token))["createApiKey"]["key"]
    await send(http, other_key, CREATE, {"n": name}, idem)  # another API key: its own key space
    assert await count(gql, ws, name) == 2
    await send(http, ws.admin_token, CREATE, {"n": name}, idem)  # a person's token: no idempotency
    await send(http, ws.admin_token, CREATE, {"n": name}, idem)
    assert await count(gql, ws, name) == 4
    query = (await send(http, key, COUNT, {"s": name}, idem)).json()  # a query is never replayed
    assert query["data"]["contacts"]["totalCount"] == 4
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with runtime.units.session(tenant.engine) as session:  # 25 hours later
        await session.execute(update(IdempotencyKey).where(IdempotencyKey.key == idem)
                              .values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    again = await send(http, key, CREATE, {"n": name}, idem)
    assert "idempotent-replayed" not in again.headers
    assert await count(gql, ws, name) == 5

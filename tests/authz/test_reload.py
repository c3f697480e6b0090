"""A policy change reaches every API process within 2 seconds (CONTRACT.md "Permissions").

A second API process is started with `python main.py serve` on the same settings (same databases and
Redis, or the same embedded servers, which it attaches to). A rule is changed through the in-process app,
and the second process is polled until it enforces it. This measures propagation; it is not a benchmark.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from resolvers.runtime import Runtime
from tests import processes
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

ROOT = Path(__file__).resolve().parents[2]
PROPAGATION_LIMIT = 2.0  # seconds, from the contract
START_TIMEOUT = 60.0
QUERY = "query($id:ID!){contact(id:$id){email}}"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
async def second_process(gql: GraphQLClient) -> AsyncIterator[httpx.AsyncClient]:
    """`main.py serve` in a subprocess, with this run's environment; always terminated."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="crm-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),  # CRM_DB_PREFIX, CRM_DATA_DIR, keys (set by conftest); DATABASE_URL/REDIS_URL if set
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the second API process exited: {Path(log.name).read_text()[-3000:]}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"the second API process did not start: {Path(log.name).read_text()[-3000:]}")
                await asyncio.sleep(0.1)
            yield client
    finally:
        processes.stop(process, timeout=15)
        log.close()
        os.unlink(log.name)


async def _ask(client: httpx.AsyncClient, token: str, contact_id: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": contact_id}}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _until(check: Callable[[], Awaitable[bool]], limit: float = 10.0) -> float:
    """Seconds until `check` holds (polling every 20 ms); fails after `limit` seconds."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > limit:
            pytest.fail(f"not propagated after {limit} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def _story(ws: Workspace, workspaces: WorkspaceFactory) -> tuple[dict[str, str], str]:
    sales = await ws.user("sales", ["sales"], "alpha")
    contact = await ws.contact(firstName="Rita", email="rita@reload.example.com", ownerId=sales["id"])
    return sales, contact


async def test_a_policy_change_reaches_another_process_within_two_seconds(
    gql: GraphQLClient, workspaces: WorkspaceFactory, second_process: httpx.AsyncClient
) -> None:
    ws = await workspaces.create()
    sales, contact = await _story(ws, workspaces)
    before = await _ask(second_process, sales["token"], contact)
    assert before == {"data": {"contact": {"email": "rita@reload.example.com"}}}
    rule = {"role": "sales", "resource": "contact.email", "action": "read", "effect": "DENY", "scope": "all"}
    await gql.ok("mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role}}", {"r": rule}, ws.admin_token)

    async def denied() -> bool:
        body = await _ask(second_process, sales["token"], contact)
        if body["data"]["contact"] != {"email": None}:
            return False
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        return True

    elapsed = await _until(denied)
    assert elapsed < PROPAGATION_LIMIT, f"took {elapsed:.2f} s"
    # And back: removing the rule is a change like any other.
    await gql.ok("mutation($r:PolicyRuleInput!){removePolicy(rule:$r)}", {"r": rule}, ws.admin_token)

    async def restored() -> bool:
        return await _ask(second_process, sales["token"], contact) == before

    elapsed = await _until(restored)
    assert elapsed < PROPAGATION_LIMIT, f"took {elapsed:.2f} s"


async def test_a_missed_announcement_still_propagates_through_the_database_version(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, second_process: httpx.AsyncClient
) -> None:
    """No Redis message at all (a rule written straight into the database): the version check finds it."""
    ws = await workspaces.create()
    sales, contact = await _story(ws, workspaces)
    assert (await _ask(second_process, sales["token"], contact))["data"]["contact"] == {
        "email": "rita@reload.example.com"
    }
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with tenant.engine.begin() as conn:
        await conn.execute(
            text(
                "insert into casbin_rule (ptype, v0, v1, v2, v3, v4, v5) "
                "values ('p', 'sales', 'contact.email', 'read', 'deny', 'all', '')"
            )
        )
        await conn.execute(text("update workspace_meta set policy_version = policy_version + 1 where id = 1"))

    async def denied() -> bool:
        body = await _ask(second_process, sales["token"], contact)
        return body["data"]["contact"] == {"email": None}

    elapsed = await _until(denied)
    assert elapsed < PROPAGATION_LIMIT, f"took {elapsed:.2f} s"


async def test_a_role_created_from_a_template_is_enforced_by_another_process_within_two_seconds(
    gql: GraphQLClient, workspaces: WorkspaceFactory, second_process: httpx.AsyncClient
) -> None:
    """`createRole` bumps the version like `addPolicy`: the other process knows the role (to bind it) and its
    template's rules at once."""
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Ah Fai", email="fai@reload.example.com", hkid="A1234563")
    describe = 'query{ describeRole(name:"lobby"){ name rules { resource } } }'

    async def other(query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        response = await second_process.post(
            "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
        )
        return response.json()  # type: ignore[no-any-return]

    assert (await other(describe, {}, ws.admin_token))["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await gql.ok('mutation{ createRole(input:{name:"lobby", fromTemplate:"front_desk"}){ name } }',
                 token=ws.admin_token)

    async def known() -> bool:
        return not (await other(describe, {}, ws.admin_token)).get("errors")

    elapsed = await _until(known)
    assert elapsed < PROPAGATION_LIMIT, f"took {elapsed:.2f} s"
    created = await other("mutation($i:UserInput!){ createUser(input:$i){ id roles } }", {"i": {
        "email": "lobby@reload.example.com", "password": "a long first password", "displayName": "Lobby",
        "roles": ["lobby"]}}, ws.admin_token)
    assert created["data"]["createUser"]["roles"] == ["lobby"], created
    token = await gql.login(ws.slug, "lobby@reload.example.com", "a long first password")
    body = await other("query($id:ID!){ contact(id:$id){ firstName email hkid } }", {"id": contact}, token)
    assert body["data"]["contact"] == {"firstName": "Ah Fai", "email": "fai@reload.example.com", "hkid": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]

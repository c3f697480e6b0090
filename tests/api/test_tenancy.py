"""Tenant separation over HTTP: a credential of workspace A never reaches workspace B's rows."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from db.sessions import EngineRouter
from resolvers.runtime import Runtime
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory

GET = "query($id:ID!){ contact(id:$id){ id firstName email } }"
NODE = "query($id:ID!){ node(id:$id){ id ... on Contact { firstName } ... on User { email } } }"
LIST = "query($f:ContactFilter){ contacts(first: 200, filter:$f){ totalCount edges { node { id } } } }"


@dataclass
class Tenant:
    ws: Workspace
    contacts: list[str]
    key: str  # a manager API key
    key_id: str
    user: dict[str, str]


@dataclass
class Pair:
    a: Tenant
    b: Tenant


async def _tenant(gql: GraphQLClient, workspaces: WorkspaceFactory, name: str, hkid: str) -> Tenant:
    ws = await workspaces.create()
    contacts = [
        await ws.contact(firstName=f"{name} {i}", lastName="Chan", email=f"{name.lower()}{i}@example.com", hkid=hkid)
        if i == 0
        else await ws.contact(firstName=f"{name} {i}", lastName="Chan", email=f"{name.lower()}{i}@example.com")
        for i in range(3)
    ]
    created = await gql.ok(
        'mutation{ createApiKey(name: "Partner", role: "manager"){ key apiKey { id } } }', token=ws.admin_token
    )
    user = await ws.user("seller", ["sales"])
    return Tenant(ws, contacts, created["createApiKey"]["key"], created["createApiKey"]["apiKey"]["id"], user)


@pytest.fixture(scope="module")
async def pair(gql: GraphQLClient, workspaces: WorkspaceFactory) -> Pair:
    # Both workspaces hold a contact with the same HKID: blind indexes must not match across them.
    return Pair(
        await _tenant(gql, workspaces, "Alpha", "A123456(3)"), await _tenant(gql, workspaces, "Beta", "A123456(3)")
    )


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


def credentials(t: Tenant) -> list[str]:
    return [t.ws.admin_token, t.key]


@pytest.mark.parametrize("which", ["admin-token", "api-key"])
async def test_a_contact_of_another_workspace_does_not_exist(gql: GraphQLClient, pair: Pair, which: str) -> None:
    token = pair.a.ws.admin_token if which == "admin-token" else pair.a.key
    for contact_id in pair.b.contacts:
        body = await gql.raw(GET, {"id": contact_id}, token)
        assert body["data"] == {"contact": None}
        assert only_error(body)["extensions"]["code"] == "NOT_FOUND"
    # Its own contacts it does see.
    own = await gql.ok(GET, {"id": pair.a.contacts[0]}, token)
    assert own["contact"]["firstName"] == "Alpha 0"


@pytest.mark.parametrize("which", ["admin-token", "api-key"])
async def test_node_of_another_workspace_is_null(gql: GraphQLClient, pair: Pair, which: str) -> None:
    token = pair.a.ws.admin_token if which == "admin-token" else pair.a.key
    for global_id in [*pair.b.contacts, pair.b.user["id"]]:
        body = await gql.raw(NODE, {"id": global_id}, token)
        assert body["data"] == {"node": None}, body
        assert all(e["extensions"]["code"] == "NOT_FOUND" for e in body.get("errors") or [])
    assert (await gql.ok(NODE, {"id": pair.a.contacts[1]}, token))["node"] == {
        "id": pair.a.contacts[1],
        "firstName": "Alpha 1",
    }


@pytest.mark.parametrize("which", ["admin-token", "api-key"])
async def test_lists_and_filters_hold_only_the_callers_workspace(gql: GraphQLClient, pair: Pair, which: str) -> None:
    for mine, theirs in ((pair.a, pair.b), (pair.b, pair.a)):
        token = mine.ws.admin_token if which == "admin-token" else mine.key
        listed = (await gql.ok(LIST, {"f": None}, token))["contacts"]
        ids = {e["node"]["id"] for e in listed["edges"]}
        assert ids == set(mine.contacts)
        assert listed["totalCount"] == len(mine.contacts)
        searched = (await gql.ok(LIST, {"f": {"search": "Chan"}}, token))["contacts"]
        assert {e["node"]["id"] for e in searched["edges"]} == set(mine.contacts)
        by_email = (await gql.ok(LIST, {"f": {"email": "beta0@example.com"}}, token))["contacts"]
        assert by_email["totalCount"] == (1 if mine is pair.b else 0)
        if which == "admin-token":  # a manager key sees HKIDs masked only, so may not filter by them
            by_hkid = (await gql.ok(LIST, {"f": {"hkid": "A1234563"}}, token))["contacts"]
            assert [e["node"]["id"] for e in by_hkid["edges"]] == [mine.contacts[0]]
        assert not ids & set(theirs.contacts)


async def test_writes_to_another_workspace_find_nothing_and_change_nothing(gql: GraphQLClient, pair: Pair) -> None:
    target = pair.b.contacts[0]
    before = (await gql.ok(GET, {"id": target}, pair.b.ws.admin_token))["contact"]
    for token in credentials(pair.a):
        update = await gql.raw(
            'mutation($id:ID!){ updateContact(id:$id, input:{firstName: "Hijacked"}){ id } }', {"id": target}, token
        )
        assert only_error(update)["extensions"]["code"] == "NOT_FOUND"
        activity = await gql.raw(
            'mutation($id:ID!){ createActivity(input:{contactId:$id, kind: NOTE, body: "x"}){ id } }',
            {"id": target},
            token,
        )
        assert only_error(activity)["extensions"]["code"] == "NOT_FOUND"
        consent = await gql.raw(
            'mutation($id:ID!){ recordConsent(contactId:$id, purpose: EMAIL, granted: true, source: "x"){ id } }',
            {"id": target},
            token,
        )
        assert only_error(consent)["extensions"]["code"] == "NOT_FOUND"
    after = await gql.ok(
        "query($id:ID!){ contact(id:$id){ id firstName email lastActivityAt consents { purpose } } }",
        {"id": target},
        pair.b.ws.admin_token,
    )
    assert after["contact"] == {**before, "lastActivityAt": None, "consents": []}


async def test_users_and_keys_of_another_workspace_are_out_of_reach(gql: GraphQLClient, pair: Pair) -> None:
    assign = await gql.raw(
        'mutation($u:ID!){ assignRole(userId:$u, role: "admin"){ id } }',
        {"u": pair.b.user["id"]},
        pair.a.ws.admin_token,
    )
    assert only_error(assign)["extensions"]["code"] == "NOT_FOUND"
    me = await gql.ok("{ me { roles } }", token=pair.b.user["token"])
    assert me["me"]["roles"] == ["sales"]

    revoke = await gql.raw(
        "mutation($id:ID!){ revokeApiKey(id:$id){ id } }", {"id": pair.b.key_id}, pair.a.ws.admin_token
    )
    assert only_error(revoke)["extensions"]["code"] == "NOT_FOUND"
    await gql.ok(LIST, {"f": None}, pair.b.key)

    owned = await gql.raw(
        'mutation($o:ID!){ createContact(input:{firstName: "X", ownerId:$o}){ id } }',
        {"o": pair.b.user["id"]},
        pair.a.ws.admin_token,
    )
    assert only_error(owned)["extensions"] == {"code": "BAD_USER_INPUT", "field": "ownerId"}


async def test_a_key_relabelled_with_another_workspace_is_refused(gql: GraphQLClient, pair: Pair) -> None:
    a_slug, b_slug = pair.a.ws.slug, pair.b.ws.slug
    assert pair.a.key.startswith(f"crm_{a_slug}_")
    relabelled = f"crm_{b_slug}_" + pair.a.key.removeprefix(f"crm_{a_slug}_")
    body = await gql.raw(LIST, {"f": None}, relabelled)
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"
    assert body.get("data") is None


async def test_credentials_of_one_workspace_do_not_sign_in_to_another(gql: GraphQLClient, pair: Pair) -> None:
    body = await gql.raw(
        "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w, email:$e, password:$p){ token } }",
        {"w": pair.b.ws.slug, "e": pair.a.ws.admin_email, "p": PASSWORD},
    )
    assert only_error(body)["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_evicted_workspace_engine_closes_its_connections(runtime: Runtime, pair: Pair) -> None:
    """However many workspaces there are, a process keeps connections open for a bounded number of them."""
    directory = runtime.directory
    server = directory.server_for("hk")
    first, second = (directory.database_name(t.ws.slug) for t in (pair.a, pair.b))
    router = EngineRouter(max_engines=1)

    async def use(database: str) -> None:
        async with router.engine(server, database).connect() as conn:
            await conn.execute(text("select 1"))

    async def open_connections(database: str) -> int:
        async with directory.catalog.connect() as conn:
            query = text("select count(*) from pg_stat_activity where datname = :d and application_name = 'crm'")
            return int((await conn.execute(query, {"d": database})).scalar_one())

    try:
        before = await open_connections(first)
        await use(first)
        assert await open_connections(first) == before + 1  # kept in the pool
        await use(second)  # the router now drops the engine of the first workspace
        deadline = time.monotonic() + 5
        while await open_connections(first) > before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert await open_connections(first) == before
    finally:
        await router.dispose()

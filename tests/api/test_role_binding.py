"""Binding a role (createUser with roles, assignRole, createApiKey) is a policy change: it needs `policy write`."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.audit.helpers import execute, rows
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory

CREATE_USER = "mutation($i:UserInput!){ createUser(input:$i){ id roles } }"
CREATE_KEY = "mutation($n:String!,$r:String!){ createApiKey(name:$n, role:$r){ key apiKey { id role } } }"
ASSIGN = "mutation($u:ID!,$r:String!){ assignRole(userId:$u, role:$r){ id roles } }"
ADD_RULE = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"
LOGIN = "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w,email:$e,password:$p){ token } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    for role, resource in (("hr", "user"), ("keymaster", "api_key")):
        for action in ("read", "write"):
            rule = {"role": role, "resource": resource, "action": action, "effect": "ALLOW"}
            await ws.gql.ok(ADD_RULE, {"r": rule}, ws.admin_token)
    return ws


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def new_user(roles: list[str]) -> dict[str, Any]:
    email = f"bound-{secrets.token_hex(4)}@example.com"
    return {"email": email, "password": PASSWORD, "displayName": "Lee Ka Yan", "roles": roles}


async def count(runtime: Runtime, slug: str, sql: str, **params: Any) -> int:
    return int((await execute(runtime, slug, sql, params)).scalar_one())


@pytest.mark.parametrize("roles", [["admin"], ["hr"]], ids=["admin-role", "own-role"])
async def test_user_write_alone_cannot_create_a_user_with_roles(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace, roles: list[str]
) -> None:
    hr = await ws.user("hr", ["hr"])
    user = new_user(roles)
    body = await gql.raw(CREATE_USER, {"i": user}, hr["token"])
    assert codes(body) == ["FORBIDDEN"] and body["data"] is None
    # Nothing was created: no row, no sign-in, and the refusal is audited.
    assert await count(runtime, ws.slug, "select count(*) from users where email = :e", e=user["email"]) == 0
    assert codes(await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": PASSWORD})) == ["UNAUTHENTICATED"]
    denied = await rows(runtime, ws.slug, action="DENIED", actor_id=_uuid(hr["id"]))
    assert any((r.details or {}).get("operation") == "createUser" for r in denied)


async def test_api_key_write_alone_cannot_mint_a_key_for_any_role(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    keymaster = await ws.user("keymaster", ["keymaster"])
    before = await count(runtime, ws.slug, "select count(*) from api_keys")
    for role in ("admin", "keymaster"):
        body = await gql.raw(CREATE_KEY, {"n": f"escalate {role}", "r": role}, keymaster["token"])
        assert codes(body) == ["FORBIDDEN"] and body["data"] is None
    assert await count(runtime, ws.slug, "select count(*) from api_keys") == before


async def test_user_write_alone_cannot_assign_a_role(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> None:
    hr = await ws.user("hr", ["hr"])
    body = await gql.raw(ASSIGN, {"u": hr["id"], "r": "admin"}, hr["token"])
    assert codes(body) == ["FORBIDDEN"]
    me = await gql.ok("{ me { roles } }", token=hr["token"])
    assert me["me"]["roles"] == ["hr"]


async def test_admins_still_bind_roles_and_each_binding_is_a_policy_change(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    created = (await gql.ok(CREATE_USER, {"i": new_user(["sales"])}, ws.admin_token))["createUser"]
    assert created["roles"] == ["sales"]
    await gql.ok(ASSIGN, {"u": created["id"], "r": "manager"}, ws.admin_token)
    key = (await gql.ok(CREATE_KEY, {"n": "Partner", "r": "support"}, ws.admin_token))["createApiKey"]
    assert key["apiKey"]["role"] == "support"

    changes = [r.details for r in await rows(runtime, ws.slug, action="POLICY_CHANGE")]
    user_id, key_id = str(_uuid(created["id"])), str(_uuid(key["apiKey"]["id"]))
    assert {"change": "createUser", "userId": user_id, "roles": ["sales"]}.items() <= _last(
        changes, "createUser"
    ).items()
    assert {"change": "assignRole", "userId": user_id, "role": "manager"}.items() <= _last(
        changes, "assignRole"
    ).items()
    assert {"change": "createApiKey", "apiKeyId": key_id, "role": "support"}.items() <= _last(
        changes, "createApiKey"
    ).items()


def _last(changes: list[Any], kind: str) -> dict[str, Any]:
    matching = [c for c in changes if c and c.get("change") == kind]
    assert matching, changes
    return matching[-1]  # type: ignore[no-any-return]


def _uuid(global_id: str) -> uuid.UUID:
    return from_global(global_id)[1]

"""An admin reviews who has access, over HTTP: users (filtered, paged), teams, API keys, export jobs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resolvers.runtime import Runtime
from tests.audit.helpers import execute
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.identity.helpers import code, error, session

USERS = """query($f:UserFilter,$n:Int,$a:String){ users(first:$n, after:$a, filter:$f){
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id email displayName roles active lastLoginAt mfaEnabled team { name } } } } }"""
KEYS = """query($r:Boolean){ apiKeys(includeRevoked:$r){ totalCount edges { node {
  id name role prefix createdAt expiresAt lastUsedAt revokedAt createdBy { email } } } } }"""
CREATE_KEY = "mutation($n:String!,$r:String!){ createApiKey(name:$n, role:$r){ key apiKey { id prefix } } }"
CONTACTS = "{ contacts(first: 1) { totalCount } }"


def emails(data: dict[str, object]) -> list[str]:
    return [e["node"]["email"] for e in data["users"]["edges"]]  # type: ignore[index]


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("kowloon", ["sales"], "Kowloon")
    await ws.user("island", ["sales"], "Island")
    await ws.user("boss", ["manager"], "Island")
    return ws


async def test_admin_lists_users_with_their_roles_team_and_last_sign_in(gql: GraphQLClient, ws: Workspace) -> None:
    data = await gql.ok(USERS, {"n": 50}, ws.admin_token)
    assert data["users"]["totalCount"] == 4
    by_email = {e["node"]["email"]: e["node"] for e in data["users"]["edges"]}
    admin = by_email[ws.admin_email]
    assert admin["roles"] == ["admin"] and admin["active"] is True and admin["mfaEnabled"] is False
    assert datetime.fromisoformat(admin["lastLoginAt"]) <= datetime.now(UTC)
    kowloon = by_email[ws.users["kowloon"]["email"]]
    assert kowloon["roles"] == ["sales"] and kowloon["team"] == {"name": "Kowloon"}
    # Newest first: the last user created comes first.
    assert emails(data)[0] == ws.users["boss"]["email"]


async def test_users_filter_by_role_team_active_and_search(gql: GraphQLClient, ws: Workspace) -> None:
    sales = emails(await gql.ok(USERS, {"f": {"role": "sales"}}, ws.admin_token))
    assert sorted(sales) == sorted([ws.users["kowloon"]["email"], ws.users["island"]["email"]])
    island = await ws.team("Island")
    in_team = emails(await gql.ok(USERS, {"f": {"teamId": island}}, ws.admin_token))
    assert sorted(in_team) == sorted([ws.users["island"]["email"], ws.users["boss"]["email"]])
    both = emails(await gql.ok(USERS, {"f": {"teamId": island, "role": "manager"}}, ws.admin_token))
    assert both == [ws.users["boss"]["email"]]
    found = emails(await gql.ok(USERS, {"f": {"search": "kowl"}}, ws.admin_token))
    assert found == [ws.users["kowloon"]["email"]]
    assert emails(await gql.ok(USERS, {"f": {"search": "%"}}, ws.admin_token)) == []  # wildcards are literal
    assert emails(await gql.ok(USERS, {"f": {"active": False}}, ws.admin_token)) == []


async def test_users_pages_with_cursors(gql: GraphQLClient, ws: Workspace) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.ok(USERS, {"n": 1, "a": after}, ws.admin_token))["users"]
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    everyone = emails(await gql.ok(USERS, {"n": 50}, ws.admin_token))
    assert seen == everyone and len(seen) == 4


async def test_bad_list_arguments_are_typed_errors(gql: GraphQLClient, ws: Workspace) -> None:
    assert error(await gql.raw(USERS, {"f": {"role": "no-such-role"}}, ws.admin_token)) == {
        "code": "BAD_USER_INPUT", "field": "role"}
    assert error(await gql.raw(USERS, {"f": {"search": "x" * 201}}, ws.admin_token))["field"] == "search"
    assert error(await gql.raw(USERS, {"n": 201}, ws.admin_token))["field"] == "first"
    assert error(await gql.raw(USERS, {"a": "bm90LWEtY3Vyc29y"}, ws.admin_token))["field"] == "after"
    assert error(await gql.raw(USERS, {"f": {"teamId": "not-an-id"}}, ws.admin_token))["field"] == "teamId"


async def test_lists_need_the_read_permission(gql: GraphQLClient, ws: Workspace) -> None:
    rule = {"role": "clerk", "resource": "contact", "action": "read", "effect": "ALLOW", "scope": "all"}
    await gql.ok("mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role}}", {"r": rule}, ws.admin_token)
    clerk = await ws.user("clerk", ["clerk"])
    assert (await gql.ok(CONTACTS, token=clerk["token"]))["contacts"]["totalCount"] == 0
    for query in (USERS, KEYS, "{ teams { name } }"):
        assert code(await gql.raw(query, token=clerk["token"])) == "FORBIDDEN"
    # sales read users and teams (the default policy) but not API keys.
    sales = ws.users["kowloon"]["token"]
    assert len(emails(await gql.ok(USERS, token=sales))) == 5
    assert code(await gql.raw(KEYS, token=sales)) == "FORBIDDEN"


async def test_teams_are_listed_by_name(gql: GraphQLClient, ws: Workspace) -> None:
    names = [t["name"] for t in (await gql.ok("{ teams { id name } }", token=ws.admin_token))["teams"]]
    assert names == ["Island", "Kowloon"]


async def test_api_keys_show_creator_prefix_expiry_last_use_and_revocation(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime
) -> None:
    live = (await gql.ok(CREATE_KEY, {"n": "Accounting sync", "r": "manager"}, ws.admin_token))["createApiKey"]
    gone = (await gql.ok(CREATE_KEY, {"n": "Old partner", "r": "sales"}, ws.admin_token))["createApiKey"]
    await gql.ok("mutation($id:ID!){ revokeApiKey(id:$id){ id } }", {"id": gone["apiKey"]["id"]}, ws.admin_token)
    listed = (await gql.ok(KEYS, token=ws.admin_token))["apiKeys"]
    assert [e["node"]["name"] for e in listed["edges"]] == ["Accounting sync"] and listed["totalCount"] == 1
    node = listed["edges"][0]["node"]
    assert node["createdBy"] == {"email": ws.admin_email}
    assert live["key"].startswith(node["prefix"]) and node["lastUsedAt"] is None and node["expiresAt"]
    await gql.ok(CONTACTS, token=live["key"])
    first_use = (await gql.ok(KEYS, token=ws.admin_token))["apiKeys"]["edges"][0]["node"]["lastUsedAt"]
    assert first_use is not None
    # Used again within the minute: no second write, the time stays.
    await gql.ok(CONTACTS, token=live["key"])
    assert (await gql.ok(KEYS, token=ws.admin_token))["apiKeys"]["edges"][0]["node"]["lastUsedAt"] == first_use
    # A minute later it moves (the stored time is set back instead of waiting).
    await execute(runtime, ws.slug, "update api_keys set last_used_at = last_used_at - interval '2 minutes'")
    await gql.ok(CONTACTS, token=live["key"])
    later = (await gql.ok(KEYS, token=ws.admin_token))["apiKeys"]["edges"][0]["node"]["lastUsedAt"]
    assert datetime.fromisoformat(later) > datetime.fromisoformat(first_use)
    everything = (await gql.ok(KEYS, {"r": True}, ws.admin_token))["apiKeys"]
    revoked = {e["node"]["name"]: e["node"]["revokedAt"] for e in everything["edges"]}
    assert revoked["Old partner"] is not None and revoked["Accounting sync"] is None


async def test_export_jobs_admins_see_all_others_their_own(gql: GraphQLClient, ws: Workspace) -> None:
    job = (await gql.ok("mutation{ requestWorkspaceExport { id status } }", token=ws.admin_token))
    listed = (await gql.ok("{ exportJobs { totalCount edges { node { id kind } } } }", token=ws.admin_token))
    assert listed["exportJobs"]["edges"][0]["node"] == {"id": job["requestWorkspaceExport"]["id"], "kind": "WORKSPACE"}
    mine = await gql.ok("{ exportJobs { totalCount edges { node { id } } } }", token=ws.users["boss"]["token"])
    assert mine["exportJobs"] == {"totalCount": 0, "edges": []}


async def test_last_login_moves_on_sign_in(gql: GraphQLClient, ws: Workspace) -> None:
    before = (await session(gql, ws.slug, ws.users["island"]["email"]))["user"]["lastLoginAt"]
    after = (await session(gql, ws.slug, ws.users["island"]["email"]))["user"]["lastLoginAt"]
    assert before is not None and datetime.fromisoformat(after) >= datetime.fromisoformat(before)

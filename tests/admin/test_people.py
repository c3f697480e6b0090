"""People and keys over HTTP (no browser): users with deactivate / reactivate / reset mail / roles, teams, API keys
shown once and revoked, and signing out ending the token the console held."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from console import session as cookie
from resolvers.runtime import Runtime
from schema.ids import uuid_of
from tests.admin.helpers import csrf_of, signed_in, submit
from tests.audit.helpers import rows
from tests.factories.workspaces import PASSWORD, Workspace, WorkspaceFactory
from tests.identity.helpers import LOGIN, code
from tests.identity.helpers import signed_in as token_works
from tests.identity.test_sessions import Inbox, _mailed_token, inbox  # noqa: F401  (the SMTP fixture)

KEY = re.compile(r'id="new-key" class="secret" readonly value="([^"]+)"')
CONTACTS = "{ contacts(first: 1) { totalCount } }"


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def raw(user: dict[str, str]) -> str:
    return str(uuid_of(user["id"], "User", "id"))


async def test_people_lists_users_and_a_deactivated_user_can_no_longer_sign_in(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    sales = await ws.user("sales", ["sales"], team="Kowloon")
    async with signed_in(http, ws) as client:
        people = await client.get("/admin/people")
        assert people.status_code == 200, people.text[:2000]
        row = people.text.split(f'id="user-{raw(sales)}"')[1].split("</tr>")[0]
        assert sales["email"] in row and "Kowloon" in row and ">Sales" in row and "Off" in row and "Active" in row
        out = await submit(client, people, f"/admin/people/users/{raw(sales)}/deactivate")
        assert out.status_code == 303 and "done=user_deactivated" in out.headers["location"]
        assert code(await ws.gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD})) == "UNAUTHENTICATED"
        assert not await token_works(ws.gql, sales["token"])
        after = await client.get(out.headers["location"])
        assert "Deactivated" in after.text.split(f'id="user-{raw(sales)}"')[1].split("</tr>")[0]
        back = await submit(client, after, f"/admin/people/users/{raw(sales)}/reactivate")
        assert back.status_code == 303
    assert (await ws.gql.ok(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD}))["login"]["token"]


async def test_an_admin_cannot_deactivate_themselves_and_is_told_why(http: httpx.AsyncClient, ws: Workspace) -> None:
    me = (await ws.gql.ok("{ me { id } }", token=ws.admin_token))["me"]
    async with signed_in(http, ws) as client:
        people = await client.get("/admin/people")
        refused = await submit(client, people, f"/admin/people/users/{raw(me)}/deactivate")
        assert refused.status_code == 409 and 'id="user-error"' in refused.text
        assert "cannot deactivate yourself" in refused.text


async def test_binding_a_role_needs_policy_write_and_the_refusal_is_shown_inline(
    http: httpx.AsyncClient, ws: Workspace, runtime: Runtime
) -> None:
    for resource, action in (("user", "read"), ("user", "write"), ("team", "read")):
        await ws.gql.ok("mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }",
                        {"r": {"role": "hr", "resource": resource, "action": action, "effect": "ALLOW"}},
                        ws.admin_token)
    hr, sales = await ws.user("hr", ["hr"]), await ws.user("sales", ["sales"])
    async with signed_in(http, ws, hr["email"]) as client:
        people = await client.get("/admin/people")
        assert people.status_code == 200 and "needs permission to edit policies" in people.text
        refused = await submit(client, people, f"/admin/people/users/{raw(sales)}/roles", op="add", role="admin")
        assert refused.status_code == 403
        inline = refused.text.split('id="user-error"')[1].split("</p>")[0]
        assert "Not allowed" in inline and "policy write" in inline and "Nothing was changed" in inline
        assert "People and keys" in refused.text  # the page itself, not the 403 page
    roles = await ws.gql.ok("query($id:ID!){ node(id:$id){ ... on User { roles } } }", {"id": sales["id"]},
                            ws.admin_token)
    assert roles["node"]["roles"] == ["sales"]
    denied = await rows(runtime, ws.slug, action="DENIED")
    assert any((r.details or {}).get("operation") == "console.assignRole" for r in denied)


async def test_an_admin_gives_and_removes_a_role(http: httpx.AsyncClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    async with signed_in(http, ws) as client:
        people = await client.get("/admin/people")
        given = await submit(client, people, f"/admin/people/users/{raw(sales)}/roles", op="add", role="manager")
        assert given.status_code == 303
        removed = await submit(client, people, f"/admin/people/users/{raw(sales)}/roles", op="remove", role="sales")
        assert removed.status_code == 303
        history = await client.get("/admin/permissions/history")
        assert "assignRole" in history.text or "Role given" in history.text
    roles = await ws.gql.ok("query($id:ID!){ node(id:$id){ ... on User { roles } } }", {"id": sales["id"]},
                            ws.admin_token)
    assert roles["node"]["roles"] == ["manager"]


async def test_an_api_key_is_shown_once_works_and_stops_when_revoked(http: httpx.AsyncClient, ws: Workspace) -> None:
    async with signed_in(http, ws) as client:
        people = await client.get("/admin/people")
        bad = await submit(client, people, "/admin/people/keys", name="Partner sync", role="sales",
                           expires="2001-01-01")
        assert bad.status_code == 400 and 'id="key-error"' in bad.text and not KEY.search(bad.text)
        made = await submit(client, people, "/admin/people/keys", name="Partner sync", role="sales", expires="")
        assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
        found = KEY.search(made.text)
        assert found, made.text[:3000]
        key = html.unescape(found.group(1))
        assert (await ws.gql.ok(CONTACTS, token=key))["contacts"]["totalCount"] == 0
        again = await client.get("/admin/people")
        assert key not in again.text and "Partner sync" in again.text and key[:12] in again.text  # the prefix only
        listed = await ws.gql.ok("{ apiKeys { edges { node { id name } } } }", token=ws.admin_token)
        key_id = uuid_of(listed["apiKeys"]["edges"][0]["node"]["id"], "ApiKey", "id")
        revoked = await submit(client, again, f"/admin/people/keys/{key_id}/revoke")
        assert revoked.status_code == 303
    assert code(await ws.gql.raw(CONTACTS, token=key)) == "UNAUTHENTICATED"


async def test_a_team_is_created_and_a_reset_link_is_mailed(
    http: httpx.AsyncClient, ws: Workspace, inbox: Inbox  # noqa: F811
) -> None:
    sales = await ws.user("sales", ["sales"])
    async with signed_in(http, ws) as client:
        people = await client.get("/admin/people")
        made = await submit(client, people, "/admin/people/teams", name="New Territories")
        assert made.status_code == 303
        dup = await submit(client, people, "/admin/people/teams", name="New Territories")
        assert dup.status_code == 409 and "exists already" in dup.text
        sent = await submit(client, people, f"/admin/people/users/{raw(sales)}/reset")
        assert sent.status_code == 303 and "done=reset_sent" in sent.headers["location"]
    assert _mailed_token(inbox, sales["email"]) is not None
    teams = await ws.gql.ok("{ teams { name } }", token=ws.admin_token)
    assert [t["name"] for t in teams["teams"]] == ["New Territories"]


async def test_sign_out_ends_the_session_token_as_graphql_logout_does(
    http: httpx.AsyncClient, ws: Workspace, runtime: Runtime
) -> None:
    async with signed_in(http, ws) as client:
        held = cookie.decode(client.cookies.get(cookie.COOKIE), runtime.secret_key)
        assert held is not None and held.token
        assert await token_works(ws.gql, held.token)
        home = await client.get("/admin/")
        out = await client.post("/admin/logout", data={"csrf": csrf_of(home.text)})
        assert out.status_code == 303 and out.headers["location"] == "/admin/login"
        assert not await token_works(ws.gql, held.token)  # the token stopped working, not just the cookie
        assert (await client.get("/admin/")).status_code == 303

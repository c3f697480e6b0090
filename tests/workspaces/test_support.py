"""Support access: admins grant a window (1-72 hours) and revoke it; `support-login` works only inside one;
the token has the read-only `support` role, expires with the grant, and every use is audited as `support`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import update

from db.models import SupportGrant
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.workspaces.helpers import audit_rows, codes, run_cli

GRANT = """mutation($h:Int!,$r:String!){ grantSupportAccess(hours:$h, reason:$r){
  id reason startsAt expiresAt revokedAt active grantedBy { email } } }"""
GRANTS = "{ supportGrants { id reason active revokedAt expiresAt } }"
REVOKE = "mutation{ revokeSupportAccess }"
CONTACTS = "{ contacts(first: 10){ edges { node { id firstName email hkid taxId salary } } } }"
CREATE = 'mutation{ createContact(input:{firstName:"Not", lastName:"Allowed"}){ id } }'


async def support_login(ws: Workspace, reason: str = "ticket 4711: import fails") -> tuple[int, str, list[str]]:
    run = await run_cli("support-login", "--workspace", ws.slug, "--reason", reason)
    return run.code, run.out, run.err_lines


async def test_grant_input_and_permission(gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    for hours in (0, 73, -1):
        body = await gql.raw(GRANT, {"h": hours, "r": "ticket"}, ws.admin_token)
        assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "hours"
    body = await gql.raw(GRANT, {"h": 2, "r": "   "}, ws.admin_token)
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "reason"
    manager = await ws.user("manager", ["manager"])
    assert codes(await gql.raw(GRANT, {"h": 2, "r": "ticket"}, manager["token"])) == ["FORBIDDEN"]
    assert codes(await gql.raw(REVOKE, token=manager["token"])) == ["FORBIDDEN"]
    assert codes(await gql.raw(GRANTS, token=manager["token"])) == ["FORBIDDEN"]
    assert (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"] == []


async def test_support_login_only_inside_a_grant_read_only_and_audited(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Mei", lastName="Wong", email="mei@example.com", hkid="A123456(3)",
                               salary=42000)

    code, out, err = await support_login(ws)
    assert code != 0 and out.strip() == ""
    assert len(err) == 1 and err[0].startswith("error: no active support grant")

    granted = (await gql.ok(GRANT, {"h": 2, "r": "Customer ticket 4711"}, ws.admin_token))["grantSupportAccess"]
    assert granted["active"] is True and granted["revokedAt"] is None
    assert granted["grantedBy"] == {"email": ws.admin_email}
    expires = datetime.fromisoformat(granted["expiresAt"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    listed = (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"]
    assert [(g["id"], g["active"]) for g in listed] == [(granted["id"], True)]

    code, out, err = await support_login(ws)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    token = lines[0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["kind"] == "support" and claims["exp"] == int(expires.timestamp())  # expires with the grant

    # Read-only, names and contact details yes, government ids and salary no.
    body = await gql.raw(CONTACTS, token=token)
    node = body["data"]["contacts"]["edges"][0]["node"]
    assert node["id"] == contact and node["firstName"] == "Mei" and node["email"] == "mei@example.com"
    assert node["hkid"] is None and node["taxId"] is None and node["salary"] is None
    assert set(codes(body)) == {"FORBIDDEN"}
    assert codes(await gql.raw(CREATE, token=token)) == ["FORBIDDEN"]
    assert codes(await gql.raw(GRANT, {"h": 72, "r": "more"}, token)) == ["FORBIDDEN"]

    support_rows = await audit_rows(runtime, ws.slug, actor_kind="support")
    actions = [r.action for r in support_rows]
    assert actions[0] == "LOGIN" and {"READ", "DENIED"} <= set(actions)
    grant_id = str(from_global(granted["id"])[1])
    login = support_rows[0]
    assert login.entity_id == grant_id and login.details["reason"] == "ticket 4711: import fails"
    read = next(r for r in support_rows if r.action == "READ")
    assert read.entity_type == "contact" and read.entity_id == str(from_global(contact)[1])
    assert {r.actor_id for r in support_rows} == {login.actor_id}  # one support session, one actor id
    assert "hkid" in next(r for r in support_rows if r.action == "DENIED" and r.entity_type == "contact").fields
    grant_events = await audit_rows(runtime, ws.slug, entity_type="support_grant", action="CREATE")
    assert len(grant_events) == 1 and grant_events[0].details["reason"] == "Customer ticket 4711"

    # Revocation ends the session at once, and no new login is possible.
    assert (await gql.ok(REVOKE, token=ws.admin_token))["revokeSupportAccess"] is True
    assert codes(await gql.raw(CONTACTS, token=token)) == ["UNAUTHENTICATED"]
    assert (await gql.ok(REVOKE, token=ws.admin_token))["revokeSupportAccess"] is False
    listed = (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"]
    assert listed[0]["active"] is False and listed[0]["revokedAt"] is not None
    code, out, err = await support_login(ws)
    assert code != 0 and err[0].startswith("error: no active support grant")
    revoked = await audit_rows(runtime, ws.slug, entity_type="support_grant", action="DELETE")
    assert [(r.entity_id, r.actor_kind) for r in revoked] == [(grant_id, "user")]


async def test_the_token_stops_when_the_grant_expires(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    granted = (await gql.ok(GRANT, {"h": 1, "r": "Quick look"}, ws.admin_token))["grantSupportAccess"]
    code, out, err = await support_login(ws, "ticket 1")
    assert code == 0, err
    token = out.strip()
    assert (await gql.ok("{ workspace { slug } }", token=token))["workspace"]["slug"] == ws.slug
    async with runtime.directory.catalog.begin() as conn:  # the window ends (as an hour later)
        await conn.execute(
            update(SupportGrant)
            .where(SupportGrant.id == from_global(granted["id"])[1])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert codes(await gql.raw("{ workspace { slug } }", token=token)) == ["UNAUTHENTICATED"]
    code, _, err = await support_login(ws, "ticket 1")
    assert code != 0 and err[0].startswith("error: no active support grant")


async def test_support_login_refuses_an_unknown_workspace() -> None:
    run = await run_cli("support-login", "--workspace", "no-such-ws", "--reason", "ticket")
    assert run.code != 0 and run.err_lines == ["error: no workspace 'no-such-ws'"]

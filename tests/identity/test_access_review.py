"""Seeing the rules over HTTP: effectiveAccess, previewAs (audited, never more than the target gets),
previewPolicyChange (nothing written) and explainAccess on one contact."""

from __future__ import annotations

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.audit.helpers import rows
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.identity.helpers import code, error

EFFECTIVE = """query($e:String!,$r:String,$u:ID){ effectiveAccess(entity:$e, role:$r, userId:$u){
  field piiCategory custom read { scope effect } write { scope effect } } }"""
PREVIEW = "query($u:ID!,$c:ID!){ previewAs(userId:$u, contactId:$c){ visible fields deniedFields } }"
IMPACT = """query($r:PolicyRuleInput!,$c:PolicyChange!){ previewPolicyChange(rule:$r, change:$c){
  principalKind label roles records changes { resource action before { scope effect } after { scope effect } } } }"""
EXPLAIN = """query($u:ID!,$r:String!,$c:ID){ explainAccess(userId:$u, resource:$r, action:"read", contactId:$c){
  effect reason } }"""


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def by_field(rows_: list[dict]) -> dict[str, dict]:
    return {r["field"]: r for r in rows_}


async def test_effective_access_for_a_role_and_a_user(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"], "Kowloon")
    role = by_field((await gql.ok(EFFECTIVE, {"e": "contact", "r": "sales"}, ws.admin_token))["effectiveAccess"])
    assert role["hkid"]["piiCategory"] == "government_id"
    assert role["hkid"]["read"] == [{"scope": "all", "effect": "MASK"}]
    assert role["email"]["read"][-1]["scope"] == "all" and len(role["email"]["read"]) >= 2  # clear on own only
    user = (await gql.ok(EFFECTIVE, {"e": "contact", "u": sales["id"]}, ws.admin_token))["effectiveAccess"]
    assert by_field(user) == role
    assert error(await gql.raw(EFFECTIVE, {"e": "invoice", "r": "sales"}, ws.admin_token))["field"] == "entity"
    assert error(await gql.raw(EFFECTIVE, {"e": "contact"}, ws.admin_token))["code"] == "BAD_USER_INPUT"
    assert error(await gql.raw(EFFECTIVE, {"e": "contact", "r": "nobody"}, ws.admin_token))["field"] == "role"
    assert code(await gql.raw(EFFECTIVE, {"e": "contact", "r": "sales"}, sales["token"])) == "FORBIDDEN"


async def test_preview_as_shows_what_the_user_gets_and_is_audited(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime
) -> None:
    sales = await ws.user("sales", ["sales"], "Kowloon")
    support = await ws.user("support", ["support"])
    theirs = await ws.contact(firstName="Mei", email="mei@example.com", hkid="A1234563", ownerId=sales["id"])
    preview = (await gql.ok(PREVIEW, {"u": sales["id"], "c": theirs}, ws.admin_token))["previewAs"]
    assert preview["visible"] is True
    fields = preview["fields"]
    assert fields["firstName"] == "Mei" and fields["email"] == "mei@example.com"
    assert fields["hkid"] != "A123456(3)" and fields["hkid"].startswith("A123")  # masked for sales
    # Never more than the user gets: compare with what they receive themselves.
    own = await gql.ok("query($id:ID!){ contact(id:$id){ firstName email hkid } }", {"id": theirs}, sales["token"])
    assert {k: fields[k] for k in ("firstName", "email", "hkid")} == own["contact"]
    as_support = (await gql.ok(PREVIEW, {"u": support["id"], "c": theirs}, ws.admin_token))["previewAs"]
    assert as_support["fields"]["hkid"] is None and "hkid" in as_support["deniedFields"]
    other = await ws.contact(firstName="Hidden")  # owned by the admin, no team: outside sales' scope
    assert (await gql.ok(PREVIEW, {"u": sales["id"], "c": other}, ws.admin_token))["previewAs"] == {
        "visible": False, "fields": None, "deniedFields": []}
    reads = [r for r in await rows(runtime, ws.slug, action="READ", entity_type="contact")
             if (r.details or {}).get("previewAs")]
    assert reads and {r.details["previewAs"] for r in reads} <= {str(from_global(sales["id"])[1]),
                                                                  str(from_global(support["id"])[1])}
    assert any("hkid" in r.fields and "email" in r.fields for r in reads)
    assert code(await gql.raw(PREVIEW, {"u": sales["id"], "c": theirs}, sales["token"])) == "FORBIDDEN"


async def test_preview_policy_change_names_who_gains_and_writes_nothing(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    sales = await ws.user("sales", ["sales"], "Kowloon")
    await ws.contact(firstName="Wing", ownerId=sales["id"])
    rule = {"role": "sales", "resource": "contact.hkid", "action": "read", "effect": "ALLOW", "scope": "own"}
    impacts = (await gql.ok(IMPACT, {"r": rule, "c": "ADD"}, ws.admin_token))["previewPolicyChange"]
    mine = [i for i in impacts if i["label"] == sales["email"]]
    assert len(mine) == 1 and mine[0]["principalKind"] == "user" and mine[0]["records"] == 1
    change = mine[0]["changes"][0]
    assert change["resource"] == "contact.hkid" and change["action"] == "read"
    assert change["before"] == [{"scope": "all", "effect": "MASK"}]
    assert change["after"] == [{"scope": "own", "effect": "ALLOW"}, {"scope": "all", "effect": "MASK"}]
    assert all("admin" not in i["roles"] for i in impacts)
    policies = await gql.ok('{ policies(role:"sales") { resource scope } }', token=ws.admin_token)
    assert {"resource": "contact.hkid", "scope": "own"} not in policies["policies"]  # nothing was written
    assert code(await gql.raw(IMPACT, {"r": rule, "c": "REMOVE"}, ws.admin_token)) == "NOT_FOUND"
    assert code(await gql.raw(IMPACT, {"r": rule, "c": "ADD"}, sales["token"])) == "FORBIDDEN"


async def test_explain_access_on_one_contact(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"], "Kowloon")
    theirs = await ws.contact(firstName="Own", email="own@example.com", ownerId=sales["id"])
    other = await ws.contact(firstName="Other")
    on_own = (await gql.ok(EXPLAIN, {"u": sales["id"], "r": "contact.email", "c": theirs}, ws.admin_token))
    assert on_own["explainAccess"]["effect"] == "ALLOW"
    outside = (await gql.ok(EXPLAIN, {"u": sales["id"], "r": "contact", "c": other}, ws.admin_token))
    assert outside["explainAccess"]["effect"] == "DENY"
    inside = (await gql.ok(EXPLAIN, {"u": sales["id"], "r": "contact", "c": theirs}, ws.admin_token))
    assert inside["explainAccess"]["effect"] == "ALLOW"


async def test_preview_as_never_shows_more_than_the_caller_sees_either(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    """A reviewer with `policy read` who sees government ids masked previews an admin (who sees them in clear):
    built-in and custom government-id fields stay masked, as the reviewer's own view has them."""
    ws = await workspaces.create()
    await gql.ok('mutation{ defineCustomField(entity:"contact", name:"passportNo", type:"String", '
                 'piiCategory:"government_id", purpose:"Remittance checks"){ name } }', token=ws.admin_token)
    await gql.ok('mutation{ createRole(input:{name:"reviewer"}){ name } }', token=ws.admin_token)
    for resource, effect in (("policy", "ALLOW"), ("contact", "ALLOW"), ("pii:name", "ALLOW"),
                             ("pii:government_id", "MASK")):
        rule = {"role": "reviewer", "resource": resource, "action": "read", "effect": effect}
        await gql.ok("mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }", {"r": rule}, ws.admin_token)
    reviewer = await ws.user("reviewer", ["reviewer"])
    admin = await ws.user("second-admin", ["admin"])
    contact = await ws.contact(firstName="Siu Ming", hkid="A1234563", customFields={"passportNo": "K12345678"})
    fields = (await gql.ok(PREVIEW, {"u": admin["id"], "c": contact}, reviewer["token"]))["previewAs"]["fields"]
    assert fields["firstName"] == "Siu Ming"
    assert fields["hkid"] not in (None, "A123456(3)") and fields["hkid"].startswith("A123")
    assert fields["customFields"]["passportNo"] not in (None, "K12345678")
    as_admin = await gql.ok("query($id:ID!){ contact(id:$id){ hkid customFields } }", {"id": contact}, admin["token"])
    assert as_admin["contact"]["customFields"] == {"passportNo": "K12345678"}  # the target does see it in clear

"""Roles as things, over HTTP: templates, createRole (its rules active at once for a user bound to it),
describeRole / roleDetails, deleteRole refused while anything is bound and for built-in roles, every change a
POLICY_CHANGE event, and all of it FORBIDDEN without the `policy` permission."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.runtime import Runtime
from tests.audit.helpers import rows
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.identity.helpers import code, error

ROLE = ("name description builtIn template createdAt members apiKeys owner { email } "
        "rules { resource action effect scope }")
CREATE = f"mutation($i:RoleInput!){{ createRole(input:$i){{ {ROLE} }} }}"
DESCRIBE = f"query($n:String!){{ describeRole(name:$n){{ {ROLE} }} }}"
DELETE = "mutation($n:String!){ deleteRole(name:$n) }"
TEMPLATES = "{ roleTemplates { name description rules { role resource action effect scope } } }"
READ_CONTACT = "query($id:ID!){ contact(id:$id){ firstName email phone hkid salaryMasked company } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def policy_changes(runtime: Runtime, slug: str, change: str) -> list[Any]:
    return [r for r in await rows(runtime, slug, action="POLICY_CHANGE") if (r.details or {}).get("change") == change]


async def test_templates_cover_front_desk_accountant_and_dpo(gql: GraphQLClient, ws: Workspace) -> None:
    templates = {t["name"]: t for t in (await gql.ok(TEMPLATES, token=ws.admin_token))["roleTemplates"]}
    assert set(templates) == {"front_desk", "accountant", "dpo"}
    rules = {name: {(r["resource"], r["action"], r["effect"]) for r in t["rules"]} for name, t in templates.items()}
    assert ("pii:government_id", "read", "DENY") in rules["front_desk"]
    assert ("pii:financial", "read", "DENY") in rules["front_desk"]
    assert {("pii:financial", "read", "ALLOW"), ("pii:financial", "write", "ALLOW"),
            ("pii:government_id", "read", "MASK")} <= rules["accountant"]
    assert {("data_request", "read", "ALLOW"), ("data_request", "write", "ALLOW"), ("audit", "read", "ALLOW"),
            ("contact", "export", "ALLOW")} <= rules["dpo"]


async def test_a_role_from_a_template_works_at_once_and_cannot_be_deleted_while_bound(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime
) -> None:
    created = (await gql.ok(CREATE, {"i": {"name": "reception", "description": "Front desk in Mong Kok",
                                           "fromTemplate": "front_desk"}}, ws.admin_token))["createRole"]
    assert created["name"] == "reception" and created["builtIn"] is False and created["template"] == "front_desk"
    assert created["owner"] == {"email": ws.admin_email} and created["createdAt"]
    assert {"resource": "pii:government_id", "action": "read", "effect": "DENY", "scope": "all"} in created["rules"]
    assert "reception" in (await gql.ok("{ roles }", token=ws.admin_token))["roles"]
    [event] = await policy_changes(runtime, ws.slug, "createRole")
    assert event.details["role"] == "reception" and event.details["template"] == "front_desk"
    assert len(event.details["rules"]) == len(created["rules"])

    # A user bound to it gets its rules on the next request: names and contact details, no HKID, no salary.
    desk = await ws.user("desk", ["reception"])
    contact = await ws.contact(firstName="Ka Yan", email="kayan@example.com", phone="+85291234567",
                               hkid="A1234563", salary=480000, company="Harbour Tea")
    body = await gql.raw(READ_CONTACT, {"id": contact}, desk["token"])
    got = body["data"]["contact"]
    assert got["firstName"] == "Ka Yan" and got["email"] == "kayan@example.com" and got["phone"] == "+85291234567"
    assert got["hkid"] is None and got["salaryMasked"] is None and got["company"] == "Harbour Tea"
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}

    key = (await gql.ok('mutation{ createApiKey(name:"kiosk", role:"reception"){ apiKey { id } } }',
                        token=ws.admin_token))["createApiKey"]["apiKey"]["id"]
    described = (await gql.ok(DESCRIBE, {"n": "reception"}, ws.admin_token))["describeRole"]
    assert described["members"] == 1 and described["apiKeys"] == 1
    assert described["description"] == "Front desk in Mong Kok" and described["rules"] == created["rules"]
    listed = {r["name"]: r for r in (await gql.ok(f"{{ roleDetails {{ {ROLE} }} }}", token=ws.admin_token))[
        "roleDetails"]}
    assert listed["reception"] == described and listed["admin"]["builtIn"] is True and listed["admin"]["members"] >= 1

    refused = await gql.raw(DELETE, {"n": "reception"}, ws.admin_token)
    assert error(refused)["code"] == "CONFLICT" and error(refused)["detail"] == "ROLE_IN_USE"
    await gql.ok('mutation($u:ID!){ revokeRole(userId:$u, role:"reception"){ id } }', {"u": desk["id"]},
                 ws.admin_token)
    assert code(await gql.raw(DELETE, {"n": "reception"}, ws.admin_token)) == "CONFLICT"  # the API key still is
    await gql.ok("mutation($k:ID!){ revokeApiKey(id:$k){ id } }", {"k": key}, ws.admin_token)
    assert (await gql.ok(DELETE, {"n": "reception"}, ws.admin_token))["deleteRole"] is True

    assert "reception" not in (await gql.ok("{ roles }", token=ws.admin_token))["roles"]
    assert (await gql.ok('{ policies(role:"reception"){ resource } }', token=ws.admin_token))["policies"] == []
    assert code(await gql.raw(DESCRIBE, {"n": "reception"}, ws.admin_token)) == "NOT_FOUND"
    [deleted] = await policy_changes(runtime, ws.slug, "deleteRole")
    assert deleted.details["role"] == "reception" and deleted.details["rules"] == len(created["rules"])


async def test_accountant_reads_and_writes_finance_fields_but_never_the_hkid_in_clear(
    gql: GraphQLClient, ws: Workspace
) -> None:
    await gql.ok(CREATE, {"i": {"name": "books", "fromTemplate": "accountant"}}, ws.admin_token)
    accountant = await ws.user("accountant", ["books"])
    contact = await ws.contact(firstName="Chi Keung", hkid="A1234563", salary=360000)
    updated = await gql.ok("mutation($id:ID!){ updateContact(id:$id, input:{salary: 390000}){ salary hkid } }",
                           {"id": contact}, accountant["token"])
    assert updated["updateContact"]["salary"] == 390000
    assert updated["updateContact"]["hkid"] not in (None, "A1234563", "A123456(3)")  # masked


async def test_an_empty_role_can_be_bound_and_bad_input_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    empty = (await gql.ok(CREATE, {"i": {"name": "Intern"}}, ws.admin_token))["createRole"]
    assert empty["name"] == "intern" and empty["rules"] == [] and empty["description"] == ""
    intern = await ws.user("intern", ["intern"])  # a role with no rule yet can be bound
    assert (await gql.ok(DESCRIBE, {"n": "intern"}, ws.admin_token))["describeRole"]["members"] == 1
    assert code(await gql.raw(DESCRIBE, {"n": "intern"}, intern["token"])) == "FORBIDDEN"
    assert code(await gql.raw(CREATE, {"i": {"name": "intern"}}, ws.admin_token)) == "CONFLICT"
    assert code(await gql.raw(CREATE, {"i": {"name": "sales"}}, ws.admin_token)) == "CONFLICT"
    assert error(await gql.raw(CREATE, {"i": {"name": "no spaces"}}, ws.admin_token))["field"] == "name"
    bad_template = await gql.raw(CREATE, {"i": {"name": "x1", "fromTemplate": "ceo"}}, ws.admin_token)
    assert error(bad_template) == {"code": "BAD_USER_INPUT", "field": "fromTemplate"}
    built_in = await gql.raw(DELETE, {"n": "sales"}, ws.admin_token)
    assert error(built_in)["code"] == "CONFLICT" and error(built_in)["detail"] == "BUILT_IN_ROLE"
    assert code(await gql.raw(DELETE, {"n": "nobody"}, ws.admin_token)) == "NOT_FOUND"
    roles = (await gql.ok("{ roles }", token=ws.admin_token))["roles"]
    assert "x1" not in roles and "no spaces" not in roles


async def test_without_the_policy_permission_everything_is_forbidden(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    manager = await ws.user("manager", ["manager"])  # reads users and contacts, not policies
    for query, variables in ((CREATE, {"i": {"name": "sneaky", "fromTemplate": "dpo"}}), (DELETE, {"n": "sales"}),
                             (DESCRIBE, {"n": "sales"}), (TEMPLATES, {}), (f"{{ roleDetails {{ {ROLE} }} }}", {})):
        assert code(await gql.raw(query, variables, manager["token"])) == "FORBIDDEN", query
    assert "sneaky" not in (await gql.ok("{ roles }", token=ws.admin_token))["roles"]
    assert await policy_changes(runtime, ws.slug, "createRole") == []
    assert (await gql.ok(DESCRIBE, {"n": "sales"}, ws.admin_token))["describeRole"]["builtIn"] is True

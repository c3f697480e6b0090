"""Writes stay inside the caller's `write` scope: `updateContact` may not move a contact out of it (owner or
team), and activity field write rules with a scope (`activity.body, write, DENY, own`) are enforced by the
same check as contacts' field write rules. Refused writes change nothing."""

from __future__ import annotations

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, only_error, sql

UPDATE = "mutation($id:ID!,$i:ContactInput!){ updateContact(id:$id, input:$i){ id } }"
PLACE = "query($id:ID!){ node(id:$id){ ... on Contact { firstName owner { id } team { id } } } }"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id subject body } }"
ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"


async def place(gql: GraphQLClient, ws: Workspace, contact: str) -> tuple[str, str | None, str | None]:
    node = (await gql.ok(PLACE, {"id": contact}, ws.admin_token))["node"]
    return node["firstName"], (node["owner"] or {}).get("id"), (node["team"] or {}).get("id")


def forbidden(body: dict[str, object]) -> dict[str, object]:
    error = only_error(body)  # type: ignore[arg-type]
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert body.get("data") is None
    return error


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("seller", ["sales"], team="alpha")
    await ws.user("teammate", ["sales"], team="alpha")
    await ws.user("stranger", ["sales"], team="beta")
    return ws


async def test_sales_cannot_move_their_contact_out_of_their_write_scope(gql: GraphQLClient, ws: Workspace) -> None:
    seller, teammate, stranger = ws.users["seller"], ws.users["teammate"], ws.users["stranger"]
    alpha, beta = ws.teams["alpha"], ws.teams["beta"]
    contact = await ws.contact(seller["token"], firstName=canary("Mv"))
    name, owner, team = await place(gql, ws, contact)
    assert (owner, team) == (seller["id"], alpha)

    # To another owner and another team: outside `own` and `team` alike.
    out = {"firstName": "Moved", "ownerId": stranger["id"], "teamId": beta}
    forbidden(await gql.raw(UPDATE, {"id": contact, "i": out}, seller["token"]))
    assert await place(gql, ws, contact) == (name, seller["id"], alpha)  # nothing changed
    forbidden(await gql.raw(UPDATE, {"id": contact, "i": {"ownerId": stranger["id"], "teamId": None}},
                            seller["token"]))
    assert await place(gql, ws, contact) == (name, seller["id"], alpha)

    # Moves that stay inside the scope are allowed: the refusals above are about the scope, not the fields.
    await gql.ok(UPDATE, {"id": contact, "i": {"ownerId": teammate["id"]}}, seller["token"])  # still the team's
    assert await place(gql, ws, contact) == (name, teammate["id"], alpha)
    await gql.ok(UPDATE, {"id": contact, "i": {"ownerId": seller["id"], "teamId": beta}}, seller["token"])  # own
    assert await place(gql, ws, contact) == (name, seller["id"], beta)


async def test_a_team_scope_writer_cannot_hand_a_contact_to_another_team(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    for resource, action in (("contact", "read"), ("contact", "write"), ("contact.*", "read"), ("contact.*", "write")):
        rule = {"role": "teamdesk", "resource": resource, "action": action, "effect": "ALLOW", "scope": "team"}
        await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    desk = await ws.user("desk", ["teamdesk"], team="alpha")
    beta = await ws.team("beta")
    contact = await ws.contact(firstName=canary("Tm"), teamId=ws.teams["alpha"])

    forbidden(await gql.raw(UPDATE, {"id": contact, "i": {"teamId": beta, "jobTitle": "Moved"}}, desk["token"]))
    rows = await sql(runtime, ws.slug, "SELECT team_id::text, job_title FROM contacts WHERE id = :c",
                     {"c": from_global(contact)[1]})
    assert [tuple(r) for r in rows] == [(str(from_global(ws.teams["alpha"])[1]), None)]
    await gql.ok(UPDATE, {"id": contact, "i": {"jobTitle": "Stays"}}, desk["token"])  # inside: allowed
    rows = await sql(runtime, ws.slug, "SELECT job_title FROM contacts WHERE id = :c", {"c": from_global(contact)[1]})
    assert [r[0] for r in rows] == ["Stays"]


async def test_an_activity_field_write_rule_with_a_scope_is_enforced(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    seller = await ws.user("seller", ["sales"], team="alpha")
    contact = await ws.contact(seller["token"], firstName=canary("Ac"))
    body = canary("Body")
    before = await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "body": body}}, seller["token"])
    assert before["createActivity"]["body"] == body  # allowed by default (pii:free_text write)

    rule = {"role": "sales", "resource": "activity.body", "action": "write", "effect": "DENY", "scope": "own"}
    await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    denied_body = canary("Denied")
    error = forbidden(await gql.raw(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "subject": "Hi",
                                                      "body": denied_body}}, seller["token"]))
    assert error["extensions"]["field"] == "body"  # type: ignore[index]
    rows = await sql(runtime, ws.slug, "SELECT count(*) FROM activities WHERE body = :b", {"b": denied_body})
    assert rows[0][0] == 0  # the refused activity was not written

    # The rule is about the body of the caller's own activities: the subject alone still goes through, and an
    # admin (another role) still writes bodies.
    await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "subject": "Only a subject"}},
                 seller["token"])
    await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "body": canary("Adm")}}, ws.admin_token)


async def test_an_activity_field_write_rule_applies_only_inside_its_scope(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    """`DENY team` on activity.body: refused on a contact of the caller's team, allowed on an own contact
    that belongs to no team (the activity's `team` scope is its contact's team)."""
    ws = await workspaces.create()
    seller = await ws.user("seller", ["sales"], team="alpha")
    in_team = await ws.contact(seller["token"], firstName=canary("In"))
    no_team = await ws.contact(seller["token"], firstName=canary("No"), teamId=None)
    rule = {"role": "sales", "resource": "activity.body", "action": "write", "effect": "DENY", "scope": "team"}
    await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)

    forbidden(await gql.raw(ACTIVITY, {"i": {"contactId": in_team, "kind": "NOTE", "body": "x"}}, seller["token"]))
    ok = await gql.ok(ACTIVITY, {"i": {"contactId": no_team, "kind": "NOTE", "body": "y"}}, seller["token"])
    assert ok["createActivity"]["body"] == "y"

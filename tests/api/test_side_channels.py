"""Side channels over HTTP (issue #11, item 10): what a caller may not read must not leak through derived
values: `lastActivityAt`, the PII inventory's counts, data requests, the workspace export."""

from __future__ import annotations

import json
from typing import Any

import httpx

from resolvers.runtime import Runtime
from tests.exports.helpers import WORKSPACE_EXPORT, get, job, jsonl, opened, run_job
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"

ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"
CONSENT = (
    "mutation($c:ID!){ recordConsent(contactId:$c, purpose:EMAIL, granted:true, source:\"web form\"){ id } }"
)
LAST = "query($id:ID!){ contact(id:$id){ lastActivityAt } }"
ORDERED = (
    "{ contacts(first: 10, orderBy: {field: LAST_ACTIVITY_AT, direction: DESC})"
    " { edges { node { id lastActivityAt } } } }"
)


async def _activity(ws: Workspace, token: str, contact: str, when: str, private: bool) -> None:
    await ws.gql.ok(
        ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "subject": "s", "private": private,
                         "occurredAt": when}}, token)


async def _last(gql: GraphQLClient, token: str, contact: str) -> Any:
    return (await gql.ok(LAST, {"id": contact}, token))["contact"]["lastActivityAt"]


async def test_last_activity_at_is_computed_over_the_activities_the_caller_may_see(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"])
    market = await ws.user("market", ["marketing"])
    # A VIP contact of the rep's: others' private notes on it are hidden from sales (`own`, `non_private`, `non_vip`).
    vip = await ws.contact(firstName="Ho", lastName="Wing", vip=True, ownerId=rep["id"])
    plain = await ws.contact(firstName="Lee", lastName="Mei", ownerId=rep["id"])
    await gql.ok(CONSENT, {"c": vip}, ws.admin_token)
    await _activity(ws, rep["token"], vip, "2025-06-01T09:00:00Z", private=False)
    await _activity(ws, ws.admin_token, vip, "2026-01-15T10:30:00Z", private=True)  # the manager's private note
    await _activity(ws, rep["token"], plain, "2025-09-01T09:00:00Z", private=False)

    assert (await _last(gql, ws.admin_token, vip)).startswith("2026-01-15T10:30:00")
    assert (await _last(gql, rep["token"], vip)).startswith("2025-06-01T09:00:00")
    # marketing reads no activities at all: the time of none of them
    assert await _last(gql, market["token"], vip) is None

    # ordering by it follows what the caller sees: for the rep, `plain` (Sept 2025) comes before `vip` (June 2025)
    edges = (await gql.ok(ORDERED, token=rep["token"]))["contacts"]["edges"]
    assert [e["node"]["id"] for e in edges] == [plain, vip]
    edges = (await gql.ok(ORDERED, token=ws.admin_token))["contacts"]["edges"]
    assert [e["node"]["id"] for e in edges] == [vip, plain]


INVENTORY = "{ piiInventory { entity field recordsWithValue } }"


def _counts(data: dict[str, Any]) -> dict[str, int]:
    return {f"{r['entity']}.{r['field']}": r["recordsWithValue"] for r in data["piiInventory"]}


async def test_pii_inventory_counts_only_the_records_in_the_callers_read_scope(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"])
    mine = await ws.contact(firstName="Own", lastName="One", hkid="A1234563", ownerId=rep["id"])
    await ws.contact(firstName="Other", lastName="Two", hkid="A1234563")
    await ws.contact(firstName="Other", lastName="Three", hkid="A1234563")
    await _activity(ws, rep["token"], mine, "2025-06-01T09:00:00Z", private=False)

    admin = _counts(await gql.ok(INVENTORY, token=ws.admin_token))
    assert admin["contact.hkid"] == 3 and admin["contact.firstName"] == 3
    sales = _counts(await gql.ok(INVENTORY, token=rep["token"]))
    assert sales["contact.hkid"] == 1 and sales["contact.firstName"] == 1
    assert sales["activity.subject"] == 1


async def test_the_workspace_export_copies_only_the_parts_the_requester_may_read(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    """`workspace export` alone copies the contacts in scope; users, API keys, suppressions, the log book and the
    audit log each need the permission that reads them through the API."""
    ws = await workspaces.create()
    for resource, action in (("contact", "read"), ("contact.*", "read"), ("contact", "export"),
                             ("workspace", "export"), ("team", "read")):
        rule = {"role": "exporter", "resource": resource, "action": action, "effect": "ALLOW", "scope": "all"}
        await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    exporter = await ws.user("exporter", ["exporter"])
    await gql.ok('mutation{ createApiKey(name: "ci", role: "sales"){ key } }', token=ws.admin_token)
    await ws.contact(firstName="Chan", lastName="Siu Ming")

    async def archive_of(token: str) -> Any:
        queued = (await gql.ok(WORKSPACE_EXPORT, token=token))["requestWorkspaceExport"]
        await run_job(runtime, ws.slug, queued["id"])
        return opened(await get(http, (await job(gql, token, queued["id"]))["downloadUrl"]))

    limited = await archive_of(exporter["token"])
    files = set(limited.namelist())
    assert {"contacts.jsonl", "teams.jsonl"} <= files
    left_out = {"users.jsonl", "api_keys.jsonl", "suppressions.jsonl", "log_book.jsonl", "audit_log.jsonl",
                "policies.csv", "retention_policies.jsonl"}
    assert not left_out & files, left_out & files
    notes = json.loads(limited.read("manifest.json"))["notes"]
    assert {n.split(":")[0] for n in notes} >= left_out

    full = await archive_of(ws.admin_token)
    assert left_out <= set(full.namelist())
    assert len(jsonl(full, "api_keys.jsonl")) == 1


CREATE_REQUEST = (
    "mutation($c:ID!,$n:String!){ createDataRequest(input:{kind: ACCESS, contactId: $c, requesterName: $n}){ id } }"
)
REFUSE = 'mutation($id:ID!){ refuseDataRequest(id:$id, reason:"s.20(1)(a): identity not proven"){ id } }'


async def test_data_requests_and_the_log_book_follow_the_contact_record_scope(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    """A role reading data requests but only its own contacts sees no request (nor log book entry) about a
    contact it cannot see: not its requester's name, not that it exists."""
    ws = await workspaces.create()
    for resource, action, scope in (("contact", "read", "own"), ("contact.*", "read", "all"),
                                    ("data_request", "read", "all")):
        rule = {"role": "clerk", "resource": resource, "action": action, "effect": "ALLOW", "scope": scope}
        await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    clerk = await ws.user("clerk", ["clerk"])
    mine = await ws.contact(firstName="Own", ownerId=clerk["id"])
    hidden = await ws.contact(firstName="Hidden")  # the admin's
    seen = (await gql.ok(CREATE_REQUEST, {"c": mine, "n": "Visible Requester"}, ws.admin_token))["createDataRequest"]
    unseen = (await gql.ok(CREATE_REQUEST, {"c": hidden, "n": "Secret Requester"}, ws.admin_token))
    unseen_id = unseen["createDataRequest"]["id"]
    await gql.ok(REFUSE, {"id": unseen_id}, ws.admin_token)
    await gql.ok(REFUSE, {"id": seen["id"]}, ws.admin_token)

    listed = await gql.ok("{ dataRequests(first: 10){ totalCount edges { node { id requesterName } } } }",
                          token=clerk["token"])
    assert listed["dataRequests"]["totalCount"] == 1
    assert [e["node"]["requesterName"] for e in listed["dataRequests"]["edges"]] == ["Visible Requester"]
    one = await gql.raw("query($id:ID!){ dataRequest(id:$id){ requesterName } }", {"id": unseen_id}, clerk["token"])
    assert [e["extensions"]["code"] for e in one["errors"]] == ["NOT_FOUND"]
    assert "Secret" not in json.dumps(one)

    book = (await gql.ok("{ logBook { requesterName } }", token=clerk["token"]))["logBook"]
    assert [b["requesterName"] for b in book] == ["Visible Requester"]
    admin_book = (await gql.ok("{ logBook { requesterName } }", token=ws.admin_token))["logBook"]
    assert sorted(b["requesterName"] for b in admin_book) == ["Secret Requester", "Visible Requester"]

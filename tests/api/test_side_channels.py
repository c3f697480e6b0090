"""Side channels over HTTP (issue #11, item 10): what a caller may not read must not leak through derived
values: `lastActivityAt`, the PII inventory's counts, data requests, the workspace export."""

from __future__ import annotations

from typing import Any

from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

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

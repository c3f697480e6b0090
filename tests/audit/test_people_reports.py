"""The DPO's reports over HTTP: the exposure report names each affected person with their contact details through
the caller's own field rules (audited as the caller's READs); the access report keeps DENIED fields apart from
what was read; `piiInventory` says which roles can read each field, from the compiled decisions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import canary, codes, sql

ADD = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"
EXPOSURE = """query($from:DateTime!,$to:DateTime!){ exposureReport(from:$from, to:$to){
  rows { contactId readCount contact { id firstName lastName email phone hkid } } } }"""
ACCESS = "query($c:ID!){ accessReport(contactId:$c){ actors { actorId actions fields deniedFields } } }"
INVENTORY = "{ piiInventory { entity field piiCategory readableBy maskedFor } }"


async def test_exposure_report_names_people_through_the_dpos_own_field_rules(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    started = datetime.now(UTC) - timedelta(seconds=1)
    first = canary("Exp")
    contact = await ws.contact(firstName=first, lastName="Chan", email=f"{first.lower()}@example.hk",
                               phone="+852 9123 4567", hkid="A123456(3)")
    support = await ws.user("breach-support", ["support"])
    seen = await gql.raw("query($id:ID!){ contact(id:$id){ firstName email hkid } }", {"id": contact}, support["token"])
    assert codes(seen) == ["FORBIDDEN"]  # support is denied the HKID: a DENIED event

    rules = [("audit", "read", "ALLOW"), ("contact", "read", "ALLOW"), ("pii:name", "read", "ALLOW"),
             ("contact.email", "read", "ALLOW"), ("contact.phone", "read", "MASK")]
    for resource, action, effect in rules:
        await gql.ok(ADD, {"r": {"role": "breach-dpo", "resource": resource, "action": action, "effect": effect}},
                     ws.admin_token)
    dpo = await ws.user("breach-dpo", ["breach-dpo"])
    window = {"from": started.isoformat(), "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    body = await gql.raw(EXPOSURE, window, dpo["token"])
    row = next(r for r in body["data"]["exposureReport"]["rows"] if r["contactId"] == contact)
    person = row["contact"]
    assert (person["id"], person["firstName"], person["lastName"], person["email"]) == (
        contact, first, "Chan", f"{first.lower()}@example.hk")
    assert person["phone"] != "+85291234567" and person["phone"].endswith("4567")  # masked, as the DPO's rules say
    assert person["hkid"] is None and "FORBIDDEN" in codes(body)  # denied, as usual

    reads = await sql(runtime, ws.slug, "SELECT fields FROM audit_events WHERE action = 'READ' AND actor_id = :a "
                      "AND entity_type = 'contact' AND entity_id = :c",
                      {"a": from_global(dpo["id"])[1], "c": str(from_global(contact)[1])})
    assert [sorted(r[0]) for r in reads] == [["email", "firstName", "lastName", "phone"]]

    # The CSV download names them the same way, and its reads are audited too.
    response = await http.get("/audit/exposure-report.csv", params=window,
                              headers={"Authorization": f"Bearer {dpo['token']}"})
    line = next(r for r in csv.DictReader(io.StringIO(response.text)) if r["contact_id"] == contact)
    assert (line["name"], line["email"]) == (f"{first} Chan", f"{first.lower()}@example.hk")
    assert line["phone"] == "'" + person["phone"]  # masked; a leading + is defused for spreadsheets
    reads = await sql(runtime, ws.slug, "SELECT count(*) FROM audit_events WHERE action = 'READ' AND actor_id = :a "
                      "AND entity_type = 'contact' AND entity_id = :c",
                      {"a": from_global(dpo["id"])[1], "c": str(from_global(contact)[1])})
    assert reads[0][0] == 2

    # With `audit read` but no record scope on contacts, the report still counts them but names nobody.
    await gql.ok(ADD, {"r": {"role": "auditor", "resource": "audit", "action": "read", "effect": "ALLOW"}},
                 ws.admin_token)
    auditor = await ws.user("auditor", ["auditor"])
    blind = await gql.ok(EXPOSURE, window, auditor["token"])
    assert {r["contactId"]: r["contact"] for r in blind["exposureReport"]["rows"]}[contact] is None

    access = (await gql.ok(ACCESS, {"c": contact}, ws.admin_token))["accessReport"]["actors"]
    by_support = next(a for a in access if a["actorId"] == support["id"])
    assert by_support["fields"] == ["email", "firstName"] and by_support["deniedFields"] == ["hkid"]
    assert "DENIED" in by_support["actions"] and "hkid" not in by_support["fields"]


async def test_pii_inventory_says_which_roles_can_read_each_field(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    await gql.ok("mutation{ defineCustomField(entity:\"contact\", name:\"diagnosis\", type:\"String\", "
                 "piiCategory:\"health\", purpose:\"Treatment\"){ name } }", token=ws.admin_token)
    rows = {(r["entity"], r["field"]): r for r in (await gql.ok(INVENTORY, token=ws.admin_token))["piiInventory"]}
    hkid = rows[("contact", "hkid")]
    assert {"admin", "manager", "sales"} <= set(hkid["readableBy"]) and "support" not in hkid["readableBy"]
    assert "manager" in hkid["maskedFor"] and "admin" not in hkid["maskedFor"]
    email = rows[("contact", "email")]
    assert {"admin", "sales", "support", "marketing"} <= set(email["readableBy"]) and email["maskedFor"] == []
    diagnosis = rows[("contact", "diagnosis")]
    assert diagnosis["piiCategory"] == "health" and diagnosis["readableBy"] == ["admin"]

    # A new rule shows at once: readableBy is the compiled decision, not a copy of the rules.
    await gql.ok(ADD, {"r": {"role": "support", "resource": "pii:health", "action": "read", "effect": "MASK"}},
                 ws.admin_token)
    rows = {(r["entity"], r["field"]): r for r in (await gql.ok(INVENTORY, token=ws.admin_token))["piiInventory"]}
    assert rows[("contact", "diagnosis")]["readableBy"] == ["admin", "support"]
    assert rows[("contact", "diagnosis")]["maskedFor"] == ["support"]

    sales = await ws.user("inv-sales", ["sales"])  # reads field definitions, not the policy
    assert codes(await gql.raw(INVENTORY, token=sales["token"])) == ["FORBIDDEN"]
    assert (await gql.ok("{ piiInventory { field } }", token=sales["token"]))["piiInventory"]

"""A data request is about a person (DPP6, s.18-19): zero, one or several records, possible matches, the
identity check, the complete copy whatever the operator's own field rules, fulfilment tied to delivery."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, codes, hong_kong_mobile, only_error, random_hkid, sql
from tests.privacy.subject_helpers import ADD_POLICY, EXPORT, FULFIL, create_request, dpo, run_export

DETAIL = """query($id:ID!){ dataRequest(id:$id){ id requesterName requesterEmail identityVerified identityVerifiedAt
  identityVerifiedById identityCheck contacts { id firstName } possibleMatches { id firstName } } }"""
VERIFY = "mutation($id:ID!,$c:String){ verifyDataRequestIdentity(id:$id, check:$c){ identityVerified identityCheck } }"
LINK = "mutation($id:ID!,$c:[ID!]!){ linkDataRequestContacts(id:$id, contactIds:$c){ contacts { id } } }"
LIST = "{ dataRequests { totalCount edges { node { id } } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def held_twice(ws: Workspace) -> tuple[str, str, dict[str, Any]]:
    """One person, two records: the same e-mail, different phones; the second also holds the HKID."""
    email = f"{canary().lower()}@example.hk"
    person = {"firstName": canary("P"), "lastName": "Chan", "email": email, "phone": hong_kong_mobile()}
    first = await ws.contact(**person)
    second = await ws.contact(**{**person, "email": email.upper(), "phone": hong_kong_mobile(),
                                 "hkid": random_hkid(), "company": "Harbour Trading"})
    return first, second, person


async def test_possible_matches_linking_and_the_identity_check(gql: GraphQLClient, ws: Workspace) -> None:
    first, second, person = await held_twice(ws)
    unrelated = await ws.contact(firstName=canary("U"), email=f"{canary().lower()}@example.hk")
    request = await create_request(gql, ws, ws.admin_token, contactId=first, requesterEmail=person["email"])
    got = (await gql.ok(DETAIL, {"id": request["id"]}, ws.admin_token))["dataRequest"]
    assert [c["id"] for c in got["contacts"]] == [first]
    assert [c["id"] for c in got["possibleMatches"]] == [second] and unrelated not in str(got)
    assert got["identityVerified"] is False and got["identityVerifiedAt"] is None
    assert got["requesterEmail"] == person["email"]

    linked = (await gql.ok(LINK, {"id": request["id"], "c": [second]}, ws.admin_token))["linkDataRequestContacts"]
    assert [c["id"] for c in linked["contacts"]] == [first, second]
    got = (await gql.ok(DETAIL, {"id": request["id"]}, ws.admin_token))["dataRequest"]
    assert got["possibleMatches"] == []

    verified = (await gql.ok(VERIFY, {"id": request["id"], "c": "HKID card seen at the counter"},
                             ws.admin_token))["verifyDataRequestIdentity"]
    assert verified == {"identityVerified": True, "identityCheck": "HKID card seen at the counter"}
    got = (await gql.ok(DETAIL, {"id": request["id"]}, ws.admin_token))["dataRequest"]
    me = (await gql.ok("{ me { id } }", token=ws.admin_token))["me"]["id"]
    assert got["identityVerifiedById"] == me and got["identityVerifiedAt"] is not None

    both = await create_request(gql, ws, ws.admin_token, contactIds=[first, second], identityVerified=True)
    assert [c["id"] for c in both["contacts"]] == [first, second]
    nobody = await create_request(gql, ws, ws.admin_token, requesterEmail=f"{canary().lower()}@example.hk")
    assert nobody["contacts"] == []
    bad = only_error(await gql.raw(VERIFY, {"id": from_global(first)[1] and first}, ws.admin_token))
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"


async def test_requester_name_is_pii_and_a_request_is_seen_only_with_all_its_contacts(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    sales = await ws.user("req-sales", ["sales"])
    await gql.ok(ADD_POLICY, {"r": {"role": "sales", "resource": "data_request", "action": "read",
                                    "effect": "ALLOW", "scope": "named"}}, ws.admin_token)
    own = await ws.contact(sales["token"], firstName=canary("O"))
    foreign = await ws.contact(firstName=canary("F"))
    mine = await create_request(gql, ws, ws.admin_token, contactId=own)
    mixed = await create_request(gql, ws, ws.admin_token, contactIds=[own, foreign])
    nobody = await create_request(gql, ws, ws.admin_token)
    seen = {e["node"]["id"] for e in (await gql.ok(LIST, token=sales["token"]))["dataRequests"]["edges"]}
    assert mine["id"] in seen and mixed["id"] not in seen and nobody["id"] not in seen
    assert codes(await gql.raw(DETAIL, {"id": mixed["id"]}, sales["token"])) == ["NOT_FOUND"]
    admin_seen = {e["node"]["id"] for e in (await gql.ok(LIST, token=ws.admin_token))["dataRequests"]["edges"]}
    assert {mine["id"], mixed["id"], nobody["id"]} <= admin_seen

    await gql.ok("query($id:ID!){ dataRequest(id:$id){ requesterName } }", {"id": mine["id"]}, sales["token"])
    await gql.ok("query($id:ID!){ dataRequest(id:$id){ status } }", {"id": nobody["id"]}, ws.admin_token)
    reads = await sql(runtime, ws.slug, "SELECT entity_id, fields FROM audit_events WHERE action = 'READ' AND "
                      "entity_type = 'data_request' AND entity_id IN (:a, :b)",
                      {"a": str(from_global(mine["id"])[1]), "b": str(from_global(nobody["id"])[1])})
    assert [(r[0], list(r[1])) for r in reads] == [(str(from_global(mine["id"])[1]), ["requesterName"])]


async def test_the_complete_copy_shows_every_field_of_every_record_whatever_the_operators_rules(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    first, second, person = await held_twice(ws)
    officer = await dpo(gql, ws)
    request = await create_request(gql, ws, officer["token"], contactIds=[first, second])
    early = only_error(await gql.raw(FULFIL, {"id": request["id"], "m": "registered post"}, officer["token"]))
    assert early["extensions"] == {"code": "CONFLICT", "detail": "EXPORT_NOT_READY"}

    job = (await gql.ok(EXPORT, {"c": first, "r": request["id"]}, officer["token"]))["requestContactExport"]
    queued = only_error(await gql.raw(FULFIL, {"id": request["id"], "m": "registered post"}, officer["token"]))
    assert queued["extensions"]["detail"] == "EXPORT_NOT_READY"  # still QUEUED
    files = await run_export(runtime, ws, job["id"])
    doc = files["contact.json"]
    assert doc["email"] == person["email"] and doc["phone"] == person["phone"] and "withheld" not in doc
    (other,) = doc["otherRecords"]
    assert other["company"] == "Harbour Trading" and other["hkid"] and other["phone"] != person["phone"]
    events = await sql(runtime, ws.slug, "SELECT fields, details FROM audit_events WHERE action = 'EXPORT' AND "
                       "details->>'exportId' = :e AND details->>'phase' = 'completed'",
                       {"e": str(from_global(job["id"])[1])})
    (fields, details), = events
    assert details["dataRequestId"] == str(from_global(request["id"])[1])
    assert {"email", "phone", "hkid"} <= set(fields)

    own_view = (await gql.ok(EXPORT, {"c": first, "r": None}, officer["token"]))["requestContactExport"]
    mine = (await run_export(runtime, ws, own_view["id"]))["contact.json"]
    assert mine["email"] is None and "email" in mine["withheld"] and "otherRecords" not in mine

    done = (await gql.ok(FULFIL, {"id": request["id"], "m": "encrypted e-mail"}, officer["token"]))["fulfilDataRequest"]
    assert done["status"] == "FULFILLED" and done["deliveryMethod"] == "encrypted e-mail"
    assert done["deliveredAt"] == done["fulfilledAt"] and done["exportId"] == job["id"]


async def test_complete_copy_needs_data_request_write_and_contact_export(gql: GraphQLClient, ws: Workspace) -> None:
    contact = await ws.contact(firstName=canary("W"))
    other = await ws.contact(firstName=canary("X"))
    request = await create_request(gql, ws, ws.admin_token, contactId=contact)
    manager = await ws.user("req-manager", ["manager"])  # data_request read, no export, no write
    assert codes(await gql.raw(EXPORT, {"c": contact, "r": request["id"]}, manager["token"])) == ["FORBIDDEN"]
    wrong = only_error(await gql.raw(EXPORT, {"c": other, "r": request["id"]}, ws.admin_token))
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "dataRequestId"}
    missing = only_error(await gql.raw(FULFIL, {"id": request["id"]}, ws.admin_token))
    assert missing["extensions"] == {"code": "BAD_USER_INPUT", "field": "deliveryMethod"}


async def test_fulfilment_records_the_correction_and_answers_nobody_held_by_letter(
    gql: GraphQLClient, ws: Workspace
) -> None:
    contact = await ws.contact(firstName=canary("C"))
    correction = await create_request(gql, ws, ws.admin_token, kind="CORRECTION", contactId=contact)
    missing = only_error(await gql.raw(FULFIL, {"id": correction["id"]}, ws.admin_token))
    assert missing["extensions"] == {"code": "BAD_USER_INPUT", "field": "correction"}
    done = (await gql.ok(FULFIL, {"id": correction["id"], "c": "Surname corrected from Chen to Chan"},
                         ws.admin_token))["fulfilDataRequest"]
    assert done["status"] == "FULFILLED" and done["correction"] == "Surname corrected from Chen to Chan"
    nobody = await create_request(gql, ws, ws.admin_token)
    replied = (await gql.ok(FULFIL, {"id": nobody["id"], "m": "letter by post"}, ws.admin_token))["fulfilDataRequest"]
    assert replied["status"] == "FULFILLED" and replied["exportId"] is None

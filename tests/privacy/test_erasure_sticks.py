"""Erasure sticks and cannot destroy a pending request: updateContact checks the suppression list, erasure waits
for open access/correction requests, requester names are pseudonymised after the log-book period, and admins
tag built-in fields (company, job title) as PII so erasure and the policy cover them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from resolvers.privacy import requester_retention
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import canary, codes, frozen, hong_kong_mobile, only_error, random_hkid, sql
from tests.privacy.subject_helpers import ADD_POLICY, create_request
from workers.broker import unit_of_work

ERASE = "mutation($id:ID!,$r:String!){ eraseContact(id:$id, reason:$r){ id email company jobTitle anonymisedAt } }"
UPDATE = "mutation($id:ID!,$i:ContactInput!){ updateContact(id:$id, input:$i){ id email phone } }"
TAG = "mutation($n:String!,$c:String){ tagField(entity:\"contact\", name:$n, piiCategory:$c){ name piiCategory } }"
REFUSE = ("mutation($id:ID!){ refuseDataRequest(id:$id, reason:\"identity not proven\", ground: IDENTITY_NOT_PROVEN)"
          "{ status } }")


async def test_update_contact_refuses_an_erased_persons_identifiers(gql: GraphQLClient,
                                                                    workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    email, phone, hkid = f"{canary().lower()}@example.hk", hong_kong_mobile(), random_hkid()
    erased = await ws.contact(firstName=canary("E"), email=email, phone=phone, hkid=hkid)
    await gql.ok(ERASE, {"id": erased, "r": "erasure request"}, ws.admin_token)
    other = await ws.contact(firstName=canary("O"), email=f"{canary().lower()}@example.hk")
    for given, field in (({"email": email.upper()}, "email"), ({"phone": phone}, "phone"), ({"hkid": hkid}, "hkid")):
        error = only_error(await gql.raw(UPDATE, {"id": other, "i": given}, ws.admin_token))
        assert error["extensions"] == {"code": "CONFLICT", "field": field, "detail": "SUPPRESSED"}
    unchanged = (await gql.ok("query($id:ID!){ contact(id:$id){ email phone } }", {"id": other},
                              ws.admin_token))["contact"]
    assert unchanged["email"] != email and unchanged["phone"] is None
    fine = (await gql.ok(UPDATE, {"id": other, "i": {"phone": hong_kong_mobile()}}, ws.admin_token))["updateContact"]
    assert fine["phone"] is not None


async def test_erasure_waits_for_an_open_access_or_correction_request(gql: GraphQLClient,
                                                                      workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    first, second = await ws.contact(firstName=canary("A")), await ws.contact(firstName=canary("B"))
    access = await create_request(gql, ws, ws.admin_token, contactIds=[first, second])
    error = only_error(await gql.raw(ERASE, {"id": second, "r": "asked to be forgotten"}, ws.admin_token))
    assert error["extensions"] == {"code": "CONFLICT", "detail": "OPEN_DATA_REQUEST"}
    erasure = await create_request(gql, ws, ws.admin_token, kind="ERASURE", contactIds=[second])
    fulfil = "mutation($id:ID!){ fulfilDataRequest(id:$id){ status } }"
    assert only_error(await gql.raw(fulfil, {"id": erasure["id"]}, ws.admin_token))["extensions"]["detail"] == \
        "OPEN_DATA_REQUEST"
    await gql.ok(REFUSE, {"id": access["id"]}, ws.admin_token)
    assert (await gql.ok(fulfil, {"id": erasure["id"]}, ws.admin_token))["fulfilDataRequest"]["status"] == "FULFILLED"
    correction = await create_request(gql, ws, ws.admin_token, kind="CORRECTION", contactId=first)
    assert codes(await gql.raw(ERASE, {"id": first, "r": "x"}, ws.admin_token)) == ["CONFLICT"]
    await gql.ok(REFUSE, {"id": correction["id"]}, ws.admin_token)
    assert (await gql.ok(ERASE, {"id": first, "r": "x"}, ws.admin_token))["eraseContact"]["anonymisedAt"]


async def test_requester_names_are_pseudonymised_after_the_log_book_period(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    t0 = datetime.now(UTC)
    closed = await create_request(gql, ws, ws.admin_token, requesterName="Wong Siu Ming",
                                  requesterEmail="siu.ming@example.hk")
    await gql.ok(REFUSE, {"id": closed["id"]}, ws.admin_token)
    letters_query = "query($id:ID!){ dataRequest(id:$id){ letters { kind } } }"
    written = (await gql.ok(letters_query, {"id": closed["id"]}, ws.admin_token))["dataRequest"]["letters"]
    assert written == [{"kind": "REFUSAL"}, {"kind": "REFUSAL"}]  # EN and ZH, both addressed to Wong Siu Ming
    still_open = await create_request(gql, ws, ws.admin_token, requesterName="Lee Ka Yan")
    for at, expected in ((t0 + timedelta(days=400), 0), (t0 + timedelta(days=4 * 365 + 5), 1)):
        with frozen(runtime, at):
            async with unit_of_work(runtime, ws.slug) as unit:
                assert unit is not None
                assert await requester_retention.pseudonymise_requesters(*unit, runtime.now()) == expected
    raw = str(from_global(closed["id"])[1])
    rows = await sql(runtime, ws.slug, "SELECT requester_name, requester_email, letters FROM data_requests "
                     "WHERE id = :i", {"i": raw})
    assert tuple(rows[0]) == (f"Requester {raw[:8]}", None, None)  # the refusal letters named the requester
    book = await sql(runtime, ws.slug, "SELECT requester_name FROM log_book WHERE data_request_id = :i", {"i": raw})
    assert [r[0] for r in book] == [f"Requester {raw[:8]}"]
    kept = await sql(runtime, ws.slug, "SELECT requester_name FROM data_requests WHERE id = :i",
                     {"i": str(from_global(still_open["id"])[1])})
    assert kept[0][0] == "Lee Ka Yan"
    assert (await gql.ok(letters_query, {"id": closed["id"]}, ws.admin_token))["dataRequest"]["letters"] == []
    audit = await sql(runtime, ws.slug, "SELECT count(*) FROM audit_events WHERE entity_id = :i AND "
                      "details->>'pseudonymised' = 'true'", {"i": raw})
    assert audit[0][0] == 1


async def test_built_in_fields_tagged_as_pii_are_erased_and_governed_by_the_policy(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    for name in ("company", "jobTitle"):
        tagged = (await gql.ok(TAG, {"n": name, "c": "free_text"}, ws.admin_token))["tagField"]
        assert tagged == {"name": name, "piiCategory": "free_text"}
    assert only_error(await gql.raw(TAG, {"n": "hkid", "c": None}, ws.admin_token))["extensions"] == {
        "code": "BAD_USER_INPUT", "field": "name"}
    assert only_error(await gql.raw(TAG, {"n": "company", "c": "financial"}, ws.admin_token))["extensions"] == {
        "code": "BAD_USER_INPUT", "field": "piiCategory"}
    for resource in ("contact", "pii:name"):
        await gql.ok(ADD_POLICY, {"r": {"role": "names_only", "resource": resource, "action": "read",
                                        "effect": "ALLOW"}}, ws.admin_token)
    reader = await ws.user("names-only", ["names_only"])
    contact = await ws.contact(firstName=canary("T"), company="Harbour Trading", jobTitle="Buyer")
    seen = await gql.raw("query($id:ID!){ contact(id:$id){ firstName company jobTitle } }", {"id": contact},
                         reader["token"])
    assert seen["data"]["contact"]["company"] is None and "FORBIDDEN" in codes(seen)
    erased = (await gql.ok(ERASE, {"id": contact, "r": "erasure request"}, ws.admin_token))["eraseContact"]
    assert erased["company"] is None and erased["jobTitle"] is None


async def test_sensitive_categories_are_encrypted_and_governed_by_their_group(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    define = "mutation($n:String!,$c:String){ defineCustomField(entity:\"contact\", name:$n, type:\"String\", " \
             "piiCategory:$c, purpose:\"claims\"){ name piiCategory } }"
    for name, category in (("diagnosis", "health"), ("fingerprint", "biometric"), ("guardian", "children"),
                           ("conviction", "criminal_records")):
        assert (await gql.ok(define, {"n": name, "c": category}, ws.admin_token))["defineCustomField"][
            "piiCategory"] == category
    secret = canary("H")
    contact = await ws.contact(firstName=canary("S"), customFields={"diagnosis": secret})
    assert secret not in str(await sql(runtime, ws.slug, "SELECT custom_fields::text FROM contacts"))
    for resource in ("contact", "pii:name"):
        await gql.ok(ADD_POLICY, {"r": {"role": "clinic", "resource": resource, "action": "read", "effect": "ALLOW"}},
                     ws.admin_token)
    nurse = await ws.user("nurse", ["clinic"])
    query = "query($id:ID!){ contact(id:$id){ customFields } }"
    assert "diagnosis" not in str((await gql.raw(query, {"id": contact}, nurse["token"]))["data"])
    await gql.ok(ADD_POLICY, {"r": {"role": "clinic", "resource": "pii:health", "action": "read", "effect": "ALLOW"}},
                 ws.admin_token)
    allowed = await gql.raw(query, {"id": contact}, nurse["token"])
    assert allowed["data"]["contact"]["customFields"]["diagnosis"] == secret
    assert "customFields.diagnosis" not in {e["extensions"].get("field") for e in allowed["errors"]}


async def test_access_report_keeps_denied_attempts_apart_from_reads(gql: GraphQLClient,
                                                                     workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName=canary("R"), hkid=random_hkid())
    support = await ws.user("report-support", ["support"])
    body = await gql.raw("query($id:ID!){ contact(id:$id){ firstName hkid } }", {"id": contact}, support["token"])
    assert "FORBIDDEN" in codes(body)
    query = "query($c:ID!){ accessReport(contactId:$c){ actors { actorId actions fields deniedFields } } }"
    report = (await gql.ok(query, {"c": contact}, ws.admin_token))["accessReport"]
    (row,) = [a for a in report["actors"] if a["actorId"] == support["id"]]
    assert row["fields"] == ["firstName"] and row["deniedFields"] == ["hkid"]
    assert set(row["actions"]) == {"READ", "DENIED"}

"""duplicateContacts and mergeContacts over HTTP: duplicates found by e-mail, phone and HKID (keys named, values
never); a merge keeps every activity, attachment and history entry, the strictest consent and the data requests,
erases the duplicate (pointing at the primary) with one MERGE audit event; a DSAR copy after the merge covers the
merged history; legal hold refuses; a dry run reports the real run's counts and changes nothing; `contact merge`
is needed; the duplicate's own identifiers are suppressed, those now on the primary are not."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.exports.test_attachments import PDF, upload
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, codes, hong_kong_mobile, only_error, random_hkid, sql
from tests.privacy.subject_helpers import EXPORT, create_request, run_export

DUPLICATES = """query($after:String){ duplicateContacts(first: 2, after:$after){ totalCount
  edges { cursor node { matchedOn contacts { id email phone hkid } } } pageInfo { hasNextPage endCursor } } }"""
MERGE = """mutation($p:ID!,$d:[ID!]!,$dry:Boolean!){ mergeContacts(primaryId:$p, duplicateIds:$d, dryRun:$dry){
  mergedIds dryRun activities attachments history consents optOuts dataRequests disclosures filledFields suppressed
  primary { id email phone company hkid anonymisedAt consents { purpose granted active }
            activities(first: 50) { totalCount edges { node { id subject attachments { id } } } } } } }"""
CONSENT = """mutation($c:ID!,$p:ConsentPurpose!,$g:Boolean!){
  recordConsent(contactId:$c, purpose:$p, granted:$g, source:"web form"){ purpose granted } }"""
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"
UPDATE = "mutation($id:ID!,$i:ContactInput!){ updateContact(id:$id, input:$i){ id } }"
CREATE = "mutation($i:ContactInput!){ createContact(input:$i){ id } }"
VIEW = """query($id:ID!){ contact(id:$id){ id firstName email phone company anonymisedAt
  activities(first: 50) { totalCount } } }"""
EVENTS = """query($f:AuditFilter){ auditEvents(filter:$f, first: 50){ edges { node { action entityType entityId
  details } } } }"""
HOLD = 'mutation($c:ID!,$h:Boolean!){ setLegalHold(contactId:$c, hold:$h, reason:"HCA 1/2026"){ legalHold } }'
ACCESS_REPORT = "query($c:ID!){ accessReport(contactId:$c){ actors { actions count } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("manager", ["manager"])
    await ws.user("seller", ["sales"], team="alpha")
    return ws


def email() -> str:
    return f"{canary('m').lower()}@example.hk"


async def groups(gql: GraphQLClient, token: str, ids: set[str]) -> list[dict[str, Any]]:
    """The duplicate groups that contain one of `ids`, walking every page."""
    found, after = [], None
    while True:
        page = (await gql.ok(DUPLICATES, {"after": after}, token))["duplicateContacts"]
        found += [e["node"] for e in page["edges"] if {c["id"] for c in e["node"]["contacts"]} & ids]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def merged(gql: GraphQLClient, token: str, primary: str, duplicates: list[str], dry: bool) -> dict[str, Any]:
    return (await gql.ok(MERGE, {"p": primary, "d": duplicates, "dry": dry}, token))["mergeContacts"]  # type: ignore


async def test_duplicates_are_found_by_each_key_and_name_the_key_not_the_value(
    gql: GraphQLClient, ws: Workspace
) -> None:
    shared_email, shared_phone, shared_hkid = email(), hong_kong_mobile(), random_hkid()
    by_email = [await ws.contact(firstName="A", email=shared_email),
                await ws.contact(firstName="B", email=shared_email.upper())]  # case-folded
    by_phone = [await ws.contact(firstName="C", phone=shared_phone),
                await ws.contact(firstName="D", phone=shared_phone)]
    by_hkid = [await ws.contact(firstName="E", hkid=shared_hkid), await ws.contact(firstName="F", hkid=shared_hkid)]
    loner = await ws.contact(firstName="G", email=email())
    everyone = {*by_email, *by_phone, *by_hkid, loner}

    found = await groups(gql, ws.admin_token, everyone)
    as_sets = {frozenset(c["id"] for c in g["contacts"]): g["matchedOn"] for g in found}
    assert as_sets == {frozenset(by_email): ["EMAIL"], frozenset(by_phone): ["PHONE"], frozenset(by_hkid): ["HKID"]}
    assert [c["id"] for g in found for c in g["contacts"] if g["matchedOn"] == ["EMAIL"]] == by_email  # oldest first

    # The manager's HKID is masked: HKID is not compared for them, and the contacts show the mask, not the value.
    manager = ws.users["manager"]["token"]
    seen = await groups(gql, manager, everyone)
    assert sorted(g["matchedOn"][0] for g in seen) == ["EMAIL", "PHONE"]
    # Sales may read contacts but not merge them.
    refused = await gql.raw(DUPLICATES, {}, ws.users["seller"]["token"])
    assert codes(refused) == ["FORBIDDEN"]


async def _person_held_twice(
    gql: GraphQLClient, http: httpx.AsyncClient, ws: Workspace
) -> dict[str, Any]:
    """The primary (older, has e-mail) and a duplicate sharing its phone, with its own e-mail, company, HKID,
    activities (one with an attachment), history, an e-mail opt-out, an SMS consent and an open access request."""
    phone, own_email, dup_email = hong_kong_mobile(), email(), email()
    primary = await ws.contact(firstName="Tai Man", lastName="Chan", email=own_email, phone=phone)
    await gql.ok(CONSENT, {"c": primary, "p": "EMAIL", "g": True}, ws.admin_token)
    duplicate = await ws.contact(firstName="Tai-Man", lastName="Chan", email=dup_email, phone=phone,
                                 hkid=random_hkid())
    await gql.ok(UPDATE, {"id": duplicate, "i": {"company": "Harbour Trading Ltd"}}, ws.admin_token)  # history
    uploaded = await upload(http, ws.admin_token, PDF)
    assert uploaded.status_code == 201, uploaded.text
    subjects = [canary("Call"), canary("Quote")]
    activities = [
        (await gql.ok(ACTIVITY, {"i": {"contactId": duplicate, "kind": "CALL", "subject": subjects[0]}},
                      ws.admin_token))["createActivity"]["id"],
        (await gql.ok(ACTIVITY, {"i": {"contactId": duplicate, "kind": "NOTE", "subject": subjects[1],
                                       "attachmentIds": [uploaded.json()["id"]]}},
                      ws.admin_token))["createActivity"]["id"],
    ]
    await gql.ok(ACTIVITY, {"i": {"contactId": primary, "kind": "NOTE", "subject": "on the primary"}}, ws.admin_token)
    await gql.ok(CONSENT, {"c": duplicate, "p": "EMAIL", "g": True}, ws.admin_token)
    await gql.ok(CONSENT, {"c": duplicate, "p": "EMAIL", "g": False}, ws.admin_token)  # opted out later
    await gql.ok(CONSENT, {"c": duplicate, "p": "SMS", "g": True}, ws.admin_token)
    request = await create_request(gql, ws, ws.admin_token, contactId=duplicate)
    key = (await gql.ok('mutation{ createApiKey(name:"Partner portal", role:"support"){ key } }',
                        token=ws.admin_token))["createApiKey"]["key"]
    await gql.ok("query($id:ID!){ contact(id:$id){ firstName email } }", {"id": duplicate}, key)  # a disclosure
    return {"primary": primary, "duplicate": duplicate, "phone": phone, "own_email": own_email,
            "dup_email": dup_email, "activities": activities, "subjects": subjects, "request": request["id"]}


async def _state(runtime: Runtime, ws: Workspace, person: dict[str, Any]) -> list[Any]:
    """Everything a merge would change, read raw."""
    ids = {"p": from_global(person["primary"])[1], "d": from_global(person["duplicate"])[1]}
    return [
        *await sql(runtime, ws.slug, "SELECT id, email, company, hkid_enc IS NULL, anonymised_at, merged_into_id "
                                     "FROM contacts WHERE id IN (:p, :d) ORDER BY id", ids),
        *await sql(runtime, ws.slug, "SELECT id, contact_id FROM activities WHERE contact_id IN (:p, :d) "
                                     "ORDER BY id", ids),
        *await sql(runtime, ws.slug, "SELECT contact_id, purpose, granted FROM consents WHERE contact_id IN (:p, :d)"
                                     " ORDER BY contact_id, purpose", ids),
        *await sql(runtime, ws.slug, "SELECT count(*), contact_id FROM contact_history WHERE contact_id IN (:p, :d)"
                                     " GROUP BY contact_id ORDER BY contact_id", ids),
        *await sql(runtime, ws.slug, "SELECT data_request_id, contact_id FROM data_request_contacts "
                                     "WHERE contact_id IN (:p, :d)", ids),
        *await sql(runtime, ws.slug, "SELECT count(*) FROM suppressions"),
        *await sql(runtime, ws.slug, "SELECT count(*) FROM audit_events WHERE action IN ('MERGE', 'UPDATE')"),
    ]


async def _events_in_report(gql: GraphQLClient, ws: Workspace, contact: str) -> int:
    actors = (await gql.ok(ACCESS_REPORT, {"c": contact}, ws.admin_token))["accessReport"]["actors"]
    return sum(a["count"] for a in actors)


async def test_a_dry_run_reports_the_real_counts_and_the_merge_keeps_everything(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    person = await _person_held_twice(gql, http, ws)
    primary, duplicate = person["primary"], person["duplicate"]
    before = await _state(runtime, ws, person)
    trail_before = {c: await _events_in_report(gql, ws, c) for c in (primary, duplicate)}

    dry = await merged(gql, ws.admin_token, primary, [duplicate], dry=True)
    assert dry["dryRun"] is True and dry["primary"]["company"] is None  # the primary as it is
    assert await _state(runtime, ws, person) == before  # nothing written, not even an audit event
    real = await merged(gql, ws.admin_token, primary, [duplicate], dry=False)
    counts = ("activities", "attachments", "history", "consents", "optOuts", "dataRequests", "disclosures",
              "filledFields", "suppressed", "mergedIds")
    assert {k: dry[k] for k in counts} == {k: real[k] for k in counts}
    assert real["dryRun"] is False and real["mergedIds"] == [duplicate]
    assert (real["activities"], real["attachments"], real["optOuts"], real["dataRequests"]) == (2, 1, 1, 1)
    assert real["disclosures"] == 1  # the partner's read of the duplicate
    assert real["history"] >= 2 and real["consents"] == 2  # EMAIL (the withdrawal) and SMS came from the duplicate
    assert sorted(real["filledFields"]) == ["company", "hkid"]

    # Every activity and its attachment is on the primary; fields empty there were filled, its own kept.
    view = real["primary"]
    assert view["activities"]["totalCount"] == 3
    moved = {e["node"]["id"]: e["node"] for e in view["activities"]["edges"]}
    assert set(person["activities"]) <= set(moved) and len(moved[person["activities"][1]]["attachments"]) == 1
    assert (view["email"], view["phone"], view["company"]) == (person["own_email"], person["phone"],
                                                                "Harbour Trading Ltd")
    assert view["hkid"] is not None
    # The strictest consent wins: the duplicate's e-mail opt-out beats the primary's grant.
    assert {c["purpose"]: c["active"] for c in view["consents"]} == {"EMAIL": False, "SMS": True}

    # The duplicate is erased and points at the primary; the open access request now names the primary.
    gone = (await gql.ok(VIEW, {"id": duplicate}, ws.admin_token))["contact"]
    assert gone["anonymisedAt"] is not None and gone["email"] != person["dup_email"]
    assert gone["activities"]["totalCount"] == 0
    raw = await sql(runtime, ws.slug, "SELECT merged_into_id FROM contacts WHERE id = :d",
                    {"d": from_global(duplicate)[1]})
    assert raw[0][0] == from_global(primary)[1]
    named = await gql.ok("query($id:ID!){ dataRequest(id:$id){ status contacts { id } } }", {"id": person["request"]},
                         ws.admin_token)
    assert named["dataRequest"] == {"status": "OPEN", "contacts": [{"id": primary}]}

    # One MERGE event naming both sides.
    events = (await gql.ok(EVENTS, {"f": {"action": "MERGE"}}, ws.admin_token))["auditEvents"]["edges"]
    mine = [e["node"] for e in events if e["node"]["entityId"] in (primary, from_global(primary)[1])]
    assert len(mine) == 1
    assert mine[0]["details"]["duplicateIds"] == [str(from_global(duplicate)[1])]
    assert mine[0]["details"]["activities"] == 2

    # Suppression: the duplicate's own e-mail cannot come back; the phone now lives on the primary and can.
    again = await gql.raw(CREATE, {"i": {"firstName": "X", "email": person["dup_email"]}}, ws.admin_token)
    assert only_error(again)["extensions"]["detail"] == "SUPPRESSED"
    assert not (await gql.raw(CREATE, {"i": {"firstName": "Y", "phone": person["phone"]}}, ws.admin_token)).get(
        "errors")
    # Merging an erased record again is a conflict, and changes nothing.
    twice = await gql.raw(MERGE, {"p": primary, "d": [duplicate], "dry": False}, ws.admin_token)
    assert only_error(twice)["extensions"]["code"] == "CONFLICT"

    # The partner who read the duplicate is a recipient of the primary's data (s.23(1)(c) notices reach them).
    told = (await gql.ok("query($c:ID!){ disclosures(contactId:$c){ channel recipient } }", {"c": primary},
                         ws.admin_token))["disclosures"]
    assert {"channel": "API_KEY", "recipient": "Partner portal"} in told

    # A DSAR about the primary covers the merged history: activities, change history and audit trail.
    request = await create_request(gql, ws, ws.admin_token, contactId=primary)
    export = (await gql.ok(EXPORT, {"c": primary, "r": request["id"]}, ws.admin_token))["requestContactExport"]
    files = await run_export(runtime, ws, export["id"])
    subjects = {a.get("subject") for a in files["activities.json"]}
    assert set(person["subjects"]) <= subjects
    assert "company" in {h["field"] for h in files["history.json"]}  # the duplicate's own change, moved
    trail = {(e["entityId"], e["action"]) for e in files["audit.json"]}
    raw_primary, raw_duplicate = str(from_global(primary)[1]), str(from_global(duplicate)[1])
    assert (raw_duplicate, "CREATE") in trail and (raw_primary, "MERGE") in trail
    assert files["contact.json"]["mergedRecords"] == [raw_duplicate]
    # accessReport for the primary counts the duplicate's events too.
    assert await _events_in_report(gql, ws, primary) > trail_before[primary] + trail_before[duplicate]


async def test_legal_hold_on_either_side_refuses_and_changes_nothing(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    phone = hong_kong_mobile()
    primary, duplicate = await ws.contact(firstName="P", phone=phone), await ws.contact(firstName="Q", phone=phone)
    await gql.ok(ACTIVITY, {"i": {"contactId": duplicate, "kind": "NOTE", "subject": "kept"}}, ws.admin_token)
    for held in (duplicate, primary):
        await gql.ok(HOLD, {"c": held, "h": True}, ws.admin_token)
        for dry in (True, False):
            refused = await gql.raw(MERGE, {"p": primary, "d": [duplicate], "dry": dry}, ws.admin_token)
            error = only_error(refused)["extensions"]
            assert (error["code"], error["detail"]) == ("CONFLICT", "LEGAL_HOLD")
        await gql.ok(HOLD, {"c": held, "h": False}, ws.admin_token)
    view = (await gql.ok(VIEW, {"id": duplicate}, ws.admin_token))["contact"]
    assert view["anonymisedAt"] is None and view["activities"]["totalCount"] == 1


async def test_merging_needs_contact_merge_and_fills_only_writable_fields(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    seller = ws.users["seller"]
    shared = email()
    mine = await ws.contact(seller["token"], firstName="Own", email=shared)
    also_mine = await ws.contact(seller["token"], firstName="Own2", email=shared, company="Kowloon Co")
    refused = await gql.raw(MERGE, {"p": mine, "d": [also_mine], "dry": False}, seller["token"])
    assert codes(refused) == ["FORBIDDEN"]  # sales may write both, but not merge
    # A role that may read and write contacts but has no `contact merge`.
    for resource, action in (("contact", "read"), ("contact", "write"), ("pii:name", "read"), ("pii:contact", "read")):
        await gql.ok("mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }",
                     {"r": {"role": "clerk", "resource": resource, "action": action, "effect": "ALLOW"}},
                     ws.admin_token)
    clerk = await ws.user("clerk", ["clerk"])
    assert codes(await gql.raw(MERGE, {"p": mine, "d": [also_mine], "dry": True}, clerk["token"])) == ["FORBIDDEN"]
    assert codes(await gql.raw(DUPLICATES, {}, clerk["token"])) == ["FORBIDDEN"]
    # Bad input and invisible records.
    assert codes(await gql.raw(MERGE, {"p": mine, "d": [mine], "dry": False}, ws.admin_token)) == ["BAD_USER_INPUT"]
    assert codes(await gql.raw(MERGE, {"p": mine, "d": [], "dry": False}, ws.admin_token)) == ["BAD_USER_INPUT"]
    elsewhere = await ws.contact(firstName="Hidden")  # the admin's: outside the seller's scope
    assert codes(await gql.raw(MERGE, {"p": mine, "d": [elsewhere], "dry": False}, seller["token"])) == ["NOT_FOUND"]

    # The manager may merge; they may not write HKIDs, so the duplicate's HKID is not copied to the primary.
    manager = ws.users["manager"]["token"]
    target = await ws.contact(firstName="Target", email=email())
    source = await ws.contact(firstName="Source", hkid=random_hkid(), company="Sha Tin Ltd")
    result = await merged(gql, manager, target, [source], dry=False)
    assert result["filledFields"] == ["company"]
    raw = await sql(runtime, ws.slug, "SELECT hkid_enc IS NULL, company FROM contacts WHERE id = :t",
                    {"t": from_global(target)[1]})
    assert tuple(raw[0]) == (True, "Sha Tin Ltd")
    assert result["suppressed"] == ["hkid"]  # the HKID did not move to the primary: it is suppressed

"""eraseContact over HTTP: PII gone from the raw tables, links and counts intact, idempotent, suppression."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from db.files import FileStore
from resolvers.contacts.validation import normalize_email
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import (
    PII_TABLES,
    canary,
    codes,
    dump,
    hong_kong_mobile,
    only_error,
    random_hkid,
    sql,
)

VIEW = """id firstName lastName email phone hkid taxId dateOfBirth linkedinUrl bio salary company jobTitle stage
customFields anonymisedAt legalHold owner { id } activities(first: 50) { totalCount edges { node { id kind } } }"""
ERASE = f"mutation($id:ID!,$r:String!){{ eraseContact(id:$id, reason:$r){{ {VIEW} }} }}"
CREATE = "mutation($i:ContactInput!,$o:String){ createContact(input:$i, suppressionOverride:$o){ id email } }"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"


@dataclass
class Person:
    id: str
    raw_id: uuid.UUID
    email: str
    phone: str
    hkid: str
    canaries: list[str]
    activities: list[str] = field(default_factory=list)
    attachment_key: str = ""


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory, gql: GraphQLClient) -> Workspace:
    ws = await workspaces.create()
    for name, category, purpose in (
        ("passportNo", "government_id", "Identity checks for insurance products"),
        ("nickname", "name", None),
        ("tier", None, None),
    ):
        await gql.ok(
            "mutation($n:String!,$c:String,$p:String){ defineCustomField(entity:\"contact\", name:$n, type:\"String\","
            " piiCategory:$c, purpose:$p){ name } }",
            {"n": name, "c": category, "p": purpose},
            ws.admin_token,
        )
    return ws


async def make_person(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> Person:
    first, last, bio, note, subject = canary("F"), canary("L"), canary("B"), canary("N"), canary("S")
    passport, nickname, linkedin, tax = canary("P"), canary("K"), canary("I").lower(), canary("T").upper()
    email, phone, hkid = f"{canary('e').lower()}@example.hk", hong_kong_mobile(), random_hkid()
    given = {
        "firstName": first, "lastName": last, "email": email, "phone": phone, "hkid": hkid,
        "taxId": f"{tax}-1", "dateOfBirth": "1980-02-03", "salary": 51234, "bio": bio, "company": "Harbour Ltd",
        "linkedinUrl": f"https://www.linkedin.com/in/{linkedin}", "stage": "CUSTOMER",
        "customFields": {"passportNo": passport, "nickname": nickname, "tier": "gold"},
    }
    contact_id = (await gql.ok(CREATE, {"i": given}, ws.admin_token))["createContact"]["id"]
    await gql.ok(  # history rows with old and new values
        "mutation($id:ID!,$i:ContactInput!){ updateContact(id:$id, input:$i){ id } }",
        {"id": contact_id, "i": {"bio": bio + " again", "lastName": last + "x"}},
        ws.admin_token,
    )
    raw_id = from_global(contact_id)[1]
    person = Person(contact_id, raw_id, email, phone, hkid, [first, last, bio, note, subject, passport, nickname,
                                                               linkedin, tax, email, phone.removeprefix("+852")])
    for kind, text in (("NOTE", note), ("EMAIL", subject), ("PURCHASE", "Receipt " + subject)):
        data = await gql.ok(
            ACTIVITY, {"i": {"contactId": contact_id, "kind": kind, "subject": text, "body": f"{text} {note}"}},
            ws.admin_token,
        )
        person.activities.append(data["createActivity"]["id"])
    purchase = from_global(person.activities[2])[1]
    await sql(runtime, ws.slug, "UPDATE activities SET amount_cents = 1234500 WHERE id = :id", {"id": purchase})
    await gql.ok(
        'mutation($c:ID!){ recordConsent(contactId:$c, purpose:EMAIL, granted:true, source:"web form"){ id } }',
        {"c": contact_id}, ws.admin_token,
    )
    store = FileStore(runtime.export_dir)
    person.attachment_key = store.key(ws.slug, "attachments", uuid.uuid4().hex)
    path = store.path(person.attachment_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"scan of {passport}")
    await sql(
        runtime, ws.slug,
        "INSERT INTO attachments (id, activity_id, filename, content_type, size_bytes, sha256, storage_key, created_at)"
        " VALUES (:id, :a, :f, 'text/plain', 20, 'x', :k, now())",
        {"id": uuid.uuid4(), "a": from_global(person.activities[0])[1], "f": f"{first}-passport.txt",
         "k": person.attachment_key},
    )
    await gql.ok(
        "mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id } }",
        {"i": {"kind": "ERASURE", "contactId": contact_id, "requesterName": "Solicitor"}}, ws.admin_token,
    )
    return person


async def facts(runtime: Runtime, slug: str, contact_id: uuid.UUID) -> dict[str, Any]:
    """What erasure must keep: links, activity kinds, dates and amounts, the audit trail's size."""
    activities = await sql(
        runtime, slug,
        "SELECT id, kind, occurred_at, amount_cents, author_id FROM activities WHERE contact_id = :c ORDER BY id",
        {"c": contact_id},
    )
    contact = (await sql(runtime, slug, "SELECT owner_id, team_id, stage, company, created_at FROM contacts "
                                        "WHERE id = :c", {"c": contact_id}))[0]
    return {
        "activities": [tuple(a) for a in activities],
        "contact": tuple(contact),
        "requests": (await sql(runtime, slug, "SELECT count(*) FROM data_requests WHERE contact_id = :c",
                               {"c": contact_id}))[0][0],
        "consents": (await sql(runtime, slug, "SELECT count(*) FROM consents WHERE contact_id = :c",
                               {"c": contact_id}))[0][0],
        "history": (await sql(runtime, slug, "SELECT count(*) FROM contact_history WHERE contact_id = :c",
                              {"c": contact_id}))[0][0],
        "audit": (await sql(runtime, slug, "SELECT count(*) FROM audit_events WHERE entity_id = :c",
                            {"c": str(contact_id)}))[0][0],
    }


async def test_erasure_removes_every_pii_value_and_keeps_links(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    person = await make_person(gql, runtime, ws)
    before = await facts(runtime, ws.slug, person.raw_id)
    first, note = person.canaries[0], person.canaries[3]  # the canaries are really there before
    assert first in await dump(runtime, ws.slug, "contacts") and first in await dump(runtime, ws.slug, "attachments")
    assert note in await dump(runtime, ws.slug, "activities")

    erased = (await gql.ok(ERASE, {"id": person.id, "r": "ERASURE request by the person"}, ws.admin_token))[
        "eraseContact"
    ]

    assert erased["firstName"] == "Erased" and erased["lastName"] == "Contact"
    assert erased["email"].startswith("erased-") and normalize_email(erased["email"]) == erased["email"]
    for name in ("phone", "hkid", "taxId", "dateOfBirth", "linkedinUrl", "bio", "salary"):
        assert erased[name] is None, name
    assert erased["customFields"] == {"tier": "gold"}  # non-PII custom fields stay
    assert erased["company"] == "Harbour Ltd" and erased["stage"] == "CUSTOMER"
    assert erased["anonymisedAt"] is not None
    assert erased["activities"]["totalCount"] == 3

    for table in PII_TABLES:
        text = await dump(runtime, ws.slug, table)
        for value in person.canaries:
            assert value not in text, f"{value} still in {table}"
    row = (await sql(runtime, ws.slug, "SELECT hkid_enc, hkid_bidx, tax_id_enc, tax_id_bidx, date_of_birth_enc, "
                                       "salary_enc FROM contacts WHERE id = :c", {"c": person.raw_id}))[0]
    assert all(v is None for v in row)
    history = await sql(runtime, ws.slug, "SELECT old_enc, new_enc FROM contact_history WHERE contact_id = :c",
                        {"c": person.raw_id})
    assert history and all(old is None and new is None for old, new in history)
    attachment = (await sql(runtime, ws.slug, "SELECT deleted_at, filename FROM attachments WHERE storage_key = :k",
                            {"k": person.attachment_key}))[0]
    assert attachment.deleted_at is not None and attachment.filename == "erased"
    assert not FileStore(runtime.export_dir).exists(person.attachment_key)
    subjects = await sql(runtime, ws.slug, "SELECT subject, body FROM activities WHERE contact_id = :c",
                         {"c": person.raw_id})
    assert all(s is None and b is None for s, b in subjects)

    after = await facts(runtime, ws.slug, person.raw_id)
    assert after["activities"] == before["activities"]  # ids, kinds, dates, purchase amount, authors
    assert any(a[3] == 1234500 for a in after["activities"])
    assert after["contact"] == before["contact"]
    assert (after["requests"], after["consents"], after["history"]) == (
        before["requests"], before["consents"], before["history"])
    assert after["audit"] > before["audit"]  # the trail only grows
    consent = await sql(runtime, ws.slug, "SELECT granted, withdrawn_at FROM consents WHERE contact_id = :c",
                        {"c": person.raw_id})
    assert consent[0].granted is False and consent[0].withdrawn_at is not None
    event = (await sql(runtime, ws.slug, "SELECT fields, details FROM audit_events WHERE action = 'ERASE' "
                                         "AND entity_id = :c", {"c": str(person.raw_id)}))[0]
    assert event.details["reason"] == "ERASURE request by the person"
    assert {"hkid", "email", "customFields.passportNo"} <= set(event.fields)
    inventory = (await gql.ok("{ piiInventory { field recordsWithValue } }", token=ws.admin_token))["piiInventory"]
    assert all(r["recordsWithValue"] == 0 for r in inventory if r["field"] == "passportNo")


async def test_erasure_is_idempotent(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> None:
    person = await make_person(gql, runtime, ws)
    first = (await gql.ok(ERASE, {"id": person.id, "r": "request 1"}, ws.admin_token))["eraseContact"]
    suppressed = await sql(runtime, ws.slug, "SELECT count(*) FROM suppressions")
    contact_row = await dump(runtime, ws.slug, "contacts")
    second = (await gql.ok(ERASE, {"id": person.id, "r": "request 1, again"}, ws.admin_token))["eraseContact"]
    assert second == first  # same placeholders, same anonymisedAt
    assert await sql(runtime, ws.slug, "SELECT count(*) FROM suppressions") == suppressed
    assert await dump(runtime, ws.slug, "contacts") == contact_row
    events = await sql(runtime, ws.slug, "SELECT details FROM audit_events WHERE action = 'ERASE' AND entity_id = :c "
                                         "ORDER BY occurred_at", {"c": str(person.raw_id)})
    assert [e.details["repeat"] for e in events] == [False, True]


async def test_suppression_list_refuses_reimport_unless_an_admin_overrides(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    person = await make_person(gql, runtime, ws)
    await gql.ok(ERASE, {"id": person.id, "r": "erasure request"}, ws.admin_token)
    stored = await dump(runtime, ws.slug, "suppressions")
    assert person.email not in stored and person.phone not in stored  # keyed hashes only
    kinds = {r[0] for r in await sql(runtime, ws.slug, "SELECT kind FROM suppressions WHERE contact_id = :c",
                                     {"c": person.raw_id})}
    assert kinds == {"email", "phone", "hkid"}

    for given, field_name in (
        ({"firstName": "New", "email": person.email.upper()}, "email"),
        ({"firstName": "New", "phone": person.phone.replace("+852", "")}, "phone"),
        ({"firstName": "New", "hkid": person.hkid.replace("(", "").replace(")", "")}, "hkid"),
    ):
        error = only_error(await gql.raw(CREATE, {"i": given}, ws.admin_token))
        assert error["extensions"] == {"code": "CONFLICT", "detail": "SUPPRESSED", "field": field_name}

    manager = await ws.user("privacy-manager", ["manager"])
    body = await gql.raw(CREATE, {"i": {"firstName": "New", "email": person.email}, "o": "they asked"},
                         manager["token"])
    assert codes(body) == ["FORBIDDEN"]
    body = await gql.raw(CREATE, {"i": {"firstName": "New", "email": person.email}, "o": "  "}, ws.admin_token)
    assert only_error(body)["extensions"]["field"] == "suppressionOverride"

    created = (
        await gql.ok(CREATE, {"i": {"firstName": "Back", "email": person.email}, "o": "re-joined as a customer"},
                     ws.admin_token)
    )["createContact"]
    assert created["email"] == person.email
    override = await sql(runtime, ws.slug, "SELECT details FROM audit_events WHERE entity_type = 'suppression' "
                                           "AND entity_id = :c", {"c": str(from_global(created["id"])[1])})
    assert override[0].details == {"override": True, "matched": ["email"], "reason": "re-joined as a customer"}
    # Unrelated people are not affected.
    await gql.ok(CREATE, {"i": {"firstName": "Other", "email": f"{canary().lower()}@example.hk"}}, ws.admin_token)


async def test_erasure_needs_the_erase_permission_a_reason_and_no_legal_hold(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    person = await make_person(gql, runtime, ws)
    manager = await ws.user("privacy-manager", ["manager"])
    assert codes(await gql.raw(ERASE, {"id": person.id, "r": "why"}, manager["token"])) == ["FORBIDDEN"]
    sales = await ws.user("privacy-sales", ["sales"], team="privacy-east")
    assert codes(await gql.raw(ERASE, {"id": person.id, "r": "why"}, sales["token"])) == ["NOT_FOUND"]
    assert only_error(await gql.raw(ERASE, {"id": person.id, "r": " "}, ws.admin_token))["extensions"] == {
        "code": "BAD_USER_INPUT", "field": "reason"}

    hold = 'mutation($c:ID!,$h:Boolean!){ setLegalHold(contactId:$c, hold:$h, reason:"HCA 123/2026"){ legalHold } }'
    assert (await gql.ok(hold, {"c": person.id, "h": True}, ws.admin_token))["setLegalHold"]["legalHold"] is True
    error = only_error(await gql.raw(ERASE, {"id": person.id, "r": "why"}, ws.admin_token))
    assert error["extensions"] == {"code": "CONFLICT", "detail": "LEGAL_HOLD"}
    seen = await gql.ok("query($id:ID!){ contact(id:$id){ legalHold } }", {"id": person.id}, manager["token"])
    assert seen["contact"]["legalHold"] is None  # a hold can reveal litigation: retention readers only
    assert person.canaries[0] in await dump(runtime, ws.slug, "contacts")  # nothing half-done
    await gql.ok(hold, {"c": person.id, "h": False}, ws.admin_token)
    await gql.ok(ERASE, {"id": person.id, "r": "hold released"}, ws.admin_token)
    assert person.canaries[0] not in await dump(runtime, ws.slug, "contacts")

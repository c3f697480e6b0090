"""Free text that is PII (a requester's name, an audit event's `details`, attachment file names, consent
`source`) is audited as READ when it leaves, like registry fields; the ERASE event does not name the person
(issue 11, item 9(d))."""

from __future__ import annotations

import httpx

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.audit.helpers import ok, request_id, rows
from tests.factories.workspaces import WorkspaceFactory

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"


def reads(events: list) -> dict[tuple[str, str], list[str]]:  # type: ignore[type-arg]
    return {(e.entity_type, e.entity_id): list(e.fields) for e in events}


async def test_free_text_pii_that_leaves_is_a_read_event(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    token = ws.admin_token
    contact = await ws.contact(firstName="Tai Man", lastName="Chan")
    cid = str(from_global(contact)[1])
    uploaded = await http.post("/attachments", files={"file": ("Chan Tai Man payslip.pdf", PDF, "application/pdf")},
                               headers={"Authorization": f"Bearer {token}"})
    assert uploaded.status_code in (200, 201), uploaded.text
    data = await ok(http, "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }",
                    {"i": {"contactId": contact, "kind": "NOTE", "attachmentIds": [uploaded.json()["id"]]}},
                    token=token)
    activity = str(from_global(data["createActivity"]["id"])[1])
    consent = await ok(http, 'mutation($c:ID!){ recordConsent(contactId:$c, purpose:EMAIL, granted:true,'
                             ' source:"phone call with Chan Tai Man"){ id } }', {"c": contact}, token=token)
    consent_id = str(from_global(consent["recordConsent"]["id"])[1])
    request = await ok(http, 'mutation($c:ID!){ createDataRequest(input:{kind: ACCESS, contactId: $c,'
                             ' requesterName: "Chan Tai Man"}){ id } }', {"c": contact}, token=token)
    await ok(http, 'mutation($id:ID!){ refuseDataRequest(id:$id, reason:"identity not proven",'
             ' ground: IDENTITY_NOT_PROVEN){ id } }',
             {"id": request["createDataRequest"]["id"]}, token=token)

    rid = request_id("free")
    data = await ok(
        http,
        "query($id:ID!){ contact(id:$id){ id consents { source } activities { edges { node { id"
        " attachments { filename } } } } } logBook { id requesterName }"
        " dataRequests(first: 5){ edges { node { id requesterName } } }"
        " auditEvents(first: 3){ edges { node { id details } } } }",
        {"id": contact},
        token=token,
        rid=rid,
    )
    got = reads(await rows(runtime, ws.slug, action="READ", request_id=rid))
    assert got[("consent", consent_id)] == ["source"]
    [attachment] = [(k, v) for k, v in got.items() if k[0] == "attachment"]
    assert attachment[1] == ["filename"]
    [book] = data["logBook"]
    assert got[("log_book", book["id"])] == ["requesterName"]
    [dr] = data["dataRequests"]["edges"]
    assert got[("data_request", str(from_global(dr["node"]["id"])[1]))] == ["requesterName"]
    with_details = [e["node"]["id"] for e in data["auditEvents"]["edges"] if e["node"]["details"]]
    assert with_details and all(got[("audit_event", i)] == ["details"] for i in with_details)
    assert activity  # the activity itself carries no PII selected here

    # Not selected, not audited: the same query without the free text writes no such READ.
    rid = request_id("plain")
    await ok(http, "query($id:ID!){ contact(id:$id){ id consents { purpose } } logBook { id }"
                   " auditEvents(first: 3){ edges { node { id } } } }", {"id": contact}, token=token, rid=rid)
    plain = await rows(runtime, ws.slug, action="READ", request_id=rid)
    assert not [e for e in plain if e.entity_type in ("consent", "log_book", "audit_event")], plain
    assert cid


async def test_the_erase_event_does_not_name_the_erased_person(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Siu Ming", lastName="Chan", email="siuming.chan@example.com")
    rid = request_id("erase")
    await ok(http, 'mutation($id:ID!){ eraseContact(id:$id, reason:"asked by Chan Siu Ming '
                   '(siuming.chan@example.com) on the phone"){ id } }', {"id": contact}, token=ws.admin_token, rid=rid)
    [erase] = await rows(runtime, ws.slug, action="ERASE", request_id=rid)
    reason = erase.details["reason"]
    assert "chan" not in reason.lower() and "siu ming" not in reason.lower(), reason
    assert reason.startswith("asked by [erased]")


async def test_the_erase_event_drops_name_parts_phone_and_hkid_however_written(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Siu-ming", lastName="Chan", email="smchan@example.com",
                               phone="+852 9123 4567", hkid="A123456(3)")
    said = ("Mr Chan (Siu-ming, smchan) called from 9123-4567, also +852 91234567; HKID A 123456 (3) and "
            "a123456(3); the ticket number 12345 stays")
    rid = request_id("erase-forms")
    await ok(http, "mutation($id:ID!, $r:String!){ eraseContact(id:$id, reason:$r){ id } }",
             {"id": contact, "r": said}, token=ws.admin_token, rid=rid)
    [erase] = await rows(runtime, ws.slug, action="ERASE", request_id=rid)
    reason = erase.details["reason"]
    for gone in ("chan", "siu", "ming", "smchan", "9123", "4567", "123456"):
        assert gone not in reason.lower(), (gone, reason)
    assert reason.startswith("Mr [erased]") and reason.endswith("the ticket number 12345 stays"), reason

"""The DPO's walk-through (issue 13, "Done when"), over HTTP: a person held twice makes an access request; the
operator links both records, exports the complete copy, opens index.html (the messages and the audit trail
are in it, dated today in Hong Kong time), reviews the names it still holds and exports it again with the
stranger's name redacted, fulfils with a delivery method; an erasure request for the same person is refused
while the access request is open and succeeds after; the erased e-mail cannot come back through
updateContact."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import canary, hong_kong_mobile, only_error
from tests.privacy.subject_helpers import EXPORT, FULFIL, create_request, dpo, run_export

MATCHES = "query($id:ID!){ dataRequest(id:$id){ possibleMatches { id } contacts { id } } }"
LINK = "mutation($id:ID!,$c:[ID!]!){ linkDataRequestContacts(id:$id, contactIds:$c){ contacts { id } } }"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"


async def test_a_person_held_twice_from_access_request_to_erasure(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    email = f"{canary().lower()}@example.hk"
    first = await ws.contact(firstName=canary("Ho"), lastName="Chan", email=email, phone=hong_kong_mobile())
    second = await ws.contact(firstName=canary("Ho"), lastName="Chan", email=email, company="Harbour Trading")
    note = f"Called about the invoice {canary()}: Wife Mary Chan pays it"
    await gql.ok(ACTIVITY, {"i": {"contactId": first, "kind": "CALL", "subject": note}}, ws.admin_token)
    await gql.ok(ACTIVITY, {"i": {"contactId": second, "kind": "EMAIL", "subject": "Quote sent"}}, ws.admin_token)
    officer = await dpo(gql, ws)

    access = await create_request(gql, ws, officer["token"], contactId=first, requesterEmail=email,
                                  identityVerified=True)
    found = (await gql.ok(MATCHES, {"id": access["id"]}, officer["token"]))["dataRequest"]
    assert found["possibleMatches"] == []  # the DPO may not read e-mails: no matching on them
    found = (await gql.ok(MATCHES, {"id": access["id"]}, ws.admin_token))["dataRequest"]
    assert [m["id"] for m in found["possibleMatches"]] == [second]
    await gql.ok(LINK, {"id": access["id"], "c": [second]}, officer["token"])

    job = (await gql.ok(EXPORT, {"c": first, "r": access["id"]}, officer["token"]))["requestContactExport"]
    files = await run_export(runtime, ws, job["id"])
    assert files["contact.json"]["email"] == email
    assert files["contact.json"]["otherRecords"][0]["company"] == "Harbour Trading"
    subjects = {a["subject"] for a in files["activities.json"]}
    assert {note, "Quote sent"} <= subjects
    assert any(e["action"] == "CREATE" for e in files["audit.json"])
    page = files["index.html"].decode()
    today = datetime.now(ZoneInfo("Asia/Hong_Kong"))
    assert f"Copy made on {today.day} {today:%b} {today.year}" in page
    assert note.replace("'", "&#39;") in page and "Quote sent" in page
    assert "recorded the subject of a message or note about you on" in page  # the audit trail, in words
    review = "query($id:ID!){ exportJob(id:$id){ reviewNames } }"
    names = (await gql.ok(review, {"id": job["id"]}, officer["token"]))["exportJob"]["reviewNames"]
    assert "Wife Mary Chan" in names  # not a contact: listed for the operator, who has it redacted
    again = """mutation($c:ID!,$r:ID,$n:[String!]){
      requestContactExport(contactId:$c, dataRequestId:$r, redactNames:$n){ id } }"""
    job = (await gql.ok(again, {"c": first, "r": access["id"], "n": ["Mary Chan"]}, officer["token"]))[
        "requestContactExport"]
    files = await run_export(runtime, ws, job["id"])
    page = files["index.html"].decode()
    assert "Mary Chan" not in page and "Wife [another person] pays it" in page
    assert (await gql.ok(review, {"id": job["id"]}, officer["token"]))["exportJob"]["reviewNames"] == []

    erasure = await create_request(gql, ws, officer["token"], kind="ERASURE", contactIds=[first, second])
    refused = only_error(await gql.raw(FULFIL, {"id": erasure["id"]}, ws.admin_token))
    assert refused["extensions"] == {"code": "CONFLICT", "detail": "OPEN_DATA_REQUEST"}
    done = (await gql.ok(FULFIL, {"id": access["id"], "m": "encrypted e-mail"}, officer["token"]))
    assert done["fulfilDataRequest"]["deliveryMethod"] == "encrypted e-mail"
    erased = (await gql.ok(FULFIL, {"id": erasure["id"]}, ws.admin_token))["fulfilDataRequest"]
    assert erased["status"] == "FULFILLED"

    newcomer = await ws.contact(firstName=canary("N"))
    back = only_error(await gql.raw("mutation($id:ID!,$e:String){ updateContact(id:$id, input:{email:$e}){ id } }",
                                    {"id": newcomer, "e": email}, ws.admin_token))
    assert back["extensions"] == {"code": "CONFLICT", "field": "email", "detail": "SUPPRESSED"}

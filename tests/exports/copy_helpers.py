"""A person's copy made the way a DPO makes it, over HTTP: workspace settings, a person held twice (two records),
a sales user who reads the phone number, messages out of order, a change, a consent, an attachment, notes naming
a known contact, a user, a stranger ("Wife Mary Chan") and a Chinese name, and a `<script>` note; then an access
request in EN or ZH, its export run as the worker does, downloaded through its link and unzipped."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from resolvers.runtime import Runtime
from tests.exports.helpers import get, job, opened, run_job
from tests.exports.test_attachments import PDF, upload
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace
from tests.privacy.helpers import hong_kong_mobile

HKT = ZoneInfo("Asia/Hong_Kong")
SETTINGS = "mutation($i:WorkspaceSettingsInput!){ updateWorkspaceSettings(input:$i){ businessName } }"
CREATE_USER = "mutation($i:UserInput!){ createUser(input:$i){ id } }"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"
UPDATE = "mutation($id:ID!,$i:ContactInput!){ updateContact(id:$id, input:$i){ id } }"
CONSENT = """mutation($c:ID!){ recordConsent(contactId:$c, purpose:EMAIL, granted:true, source:"web form"){ id } }"""
READ_PHONE = "query($id:ID!){ contact(id:$id){ phone } }"
REQUEST = "mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id } }"
EXPORT = "mutation($c:ID!,$r:ID){ requestContactExport(contactId:$c, dataRequestId:$r){ id } }"
READS = """query($c:ID!){ auditEvents(filter:{entityId:$c, action:READ, field:"phone"}, first:5){
  edges { node { occurredAt actorId } } } }"""
SCRIPT_NOTE = "<script>alert('copy')</script> prefers calls after 6pm"


@dataclass
class Copy:
    archive: zipfile.ZipFile
    page: str
    job: dict[str, Any]
    phone_read_at: datetime  # in HKT
    first: str
    second: str


async def person(gql: GraphQLClient, http: httpx.AsyncClient, ws: Workspace) -> dict[str, Any]:
    """The workspace's settings and the data held on one person, twice; returns the ids the tests need."""
    await gql.ok(SETTINGS, {"i": {"businessName": "Harbour Trading Ltd", "dpoName": "Miss Lam, Data Protection Officer",
                                  "dpoEmail": "dpo@harbour.example.hk", "dpoPhone": "+852 2123 4567"}}, ws.admin_token)
    email = f"alice.wong.{ws.slug}@example.com"
    alice = (await gql.ok(CREATE_USER, {"i": {"email": email, "password": PASSWORD, "displayName": "Alice Wong",
                                              "roles": ["sales"]}}, ws.admin_token))["createUser"]["id"]
    alice_token = await gql.login(ws.slug, email)
    first = await ws.contact(firstName="Siu Ming", lastName="Cheung", email=f"sm.{ws.slug}@example.hk",
                             phone=hong_kong_mobile(), stage="LEAD", vip=True, dateOfBirth="1980-03-04",
                             bio=SCRIPT_NOTE, ownerId=alice)
    second = await ws.contact(firstName="Siu Ming", lastName="Cheung", company="Kowloon Printing")
    await ws.contact(firstName="Peter", lastName="Lee")  # another customer, named in a note
    await gql.ok(UPDATE, {"id": first, "i": {"stage": "CUSTOMER"}}, ws.admin_token)
    await gql.ok(CONSENT, {"c": first}, ws.admin_token)
    upload_meta = (await upload(http, ws.admin_token, PDF, filename="invoice 42.pdf")).json()
    await gql.ok(ACTIVITY, {"i": {"contactId": first, "kind": "MEETING", "subject": "Second meeting: signed the order",
                                  "occurredAt": "2026-11-20T06:30:00Z", "attachmentIds": [upload_meta["id"]]}},
                 ws.admin_token)
    await gql.ok(ACTIVITY, {"i": {"contactId": first, "kind": "CALL", "subject": "First call about the catalogue",
                                  "body": "Referred by Peter Lee. Wife Mary Chan will join; 陳大文 is her brother.",
                                  "occurredAt": "2026-11-02T01:15:00Z"}}, ws.admin_token)
    await gql.ok(ACTIVITY, {"i": {"contactId": second, "kind": "EMAIL", "subject": "Printing quote sent",
                                  "body": "Alice Wong sent the quote", "occurredAt": "2026-11-10T09:00:00Z"}},
                 ws.admin_token)
    await gql.ok(READ_PHONE, {"id": first}, alice_token)  # audited: Alice Wong read the phone number
    reads = (await gql.ok(READS, {"c": first}, ws.admin_token))["auditEvents"]["edges"]
    read_at = datetime.fromisoformat(reads[0]["node"]["occurredAt"]).astimezone(HKT)
    return {"first": first, "second": second, "read_at": read_at}


async def make_copy(gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace,
                    facts: dict[str, Any], language: str) -> Copy:
    request = (await gql.ok(REQUEST, {"i": {"kind": "ACCESS", "contactIds": [facts["first"], facts["second"]],
                                            "requesterName": "Cheung Siu Ming", "language": language,
                                            "identityVerified": True}}, ws.admin_token))["createDataRequest"]
    made = (await gql.ok(EXPORT, {"c": facts["first"], "r": request["id"]}, ws.admin_token))["requestContactExport"]
    await run_job(runtime, ws.slug, made["id"])
    done = await job(gql, ws.admin_token, made["id"])
    with_review = await gql.ok("query($id:ID!){ exportJob(id:$id){ reviewNames } }", {"id": made["id"]},
                               ws.admin_token)
    done["reviewNames"] = with_review["exportJob"]["reviewNames"]
    response = await get(http, done["downloadUrl"])
    assert response.status_code == 200, response.text
    archive = opened(response)
    return Copy(archive, archive.read("index.html").decode(), done, facts["read_at"], facts["first"],
                facts["second"])

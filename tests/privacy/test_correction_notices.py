"""Corrections passed on (s.23(1)(c)) over HTTP: fulfilling a CORRECTION request tells every recipient of the
person's data in the last 12 months: the webhook that received it gets a `contact.corrected` event (ids and
field names only), whoever downloaded an export gets a mail, a partner API key is listed for the DPO; all are
recorded on the request, with the correction reply letter."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx

from resolvers.mail import Mailer
from resolvers.runtime import Runtime
from tests.exports.helpers import CONTACT_EXPORT, get, job, run_job
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import canary
from tests.webhooks.helpers import create_webhook, receiver, webhook_options
from tests.webhooks.test_webhooks import deliver

CREATE = "mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id } }"
FULFIL = """mutation($id:ID!,$c:String){ fulfilDataRequest(id:$id, correction:$c){ status
  correctionNotices { recipient channel sentAt contactIds fields } letters { kind language text } } }"""


@dataclass(frozen=True)
class Outbox(Mailer):
    sent: list[tuple[list[str], str, str]] = field(default_factory=list)

    async def send(self, to: list[str], subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


async def test_a_fulfilled_correction_is_passed_on_to_every_recipient(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    wrong = f"{canary('old').lower()}@example.hk"
    with webhook_options(runtime, allow_private=True), receiver() as rx, receiver() as bystander:
        hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        other = await create_webhook(gql, ws, bystander.url, ["data_request.created"])  # never got the contact
        contact = await ws.contact(firstName=canary("Corr"), email=wrong)
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
        key = (await gql.ok('mutation{ createApiKey(name:"Broker portal", role:"support"){ key } }',
                            token=ws.admin_token))["createApiKey"]["key"]
        await gql.ok("query($id:ID!){ contact(id:$id){ firstName email } }", {"id": contact}, key)
        export = (await gql.ok(CONTACT_EXPORT, {"c": contact}, ws.admin_token))["requestContactExport"]
        await run_job(runtime, ws.slug, export["id"])
        assert (await get(http, (await job(gql, ws.admin_token, export["id"]))["downloadUrl"])).status_code == 200

        request = (await gql.ok(CREATE, {"i": {"kind": "CORRECTION", "contactId": contact,
                                               "requesterName": "Chan Tai Man"}}, ws.admin_token))["createDataRequest"]
        outbox = Outbox()
        previous, runtime.mailer = runtime.mailer, outbox
        try:
            done = (await gql.ok(FULFIL, {"id": request["id"], "c": "e-mail address changed to the new one"},
                                 ws.admin_token))["fulfilDataRequest"]
        finally:
            runtime.mailer = previous
        await deliver(runtime, ws.slug, hook["webhook"]["id"])
        await deliver(runtime, ws.slug, other["webhook"]["id"])

    notices = {n["channel"]: n for n in done["correctionNotices"]}
    assert set(notices) == {"WEBHOOK", "EMAIL", "MANUAL"}, done["correctionNotices"]
    assert notices["WEBHOOK"]["recipient"] == rx.url and notices["WEBHOOK"]["sentAt"]
    assert notices["EMAIL"]["recipient"] == ws.admin_email and notices["EMAIL"]["sentAt"]
    assert notices["MANUAL"]["recipient"] == "Broker portal" and notices["MANUAL"]["sentAt"] is None
    assert all(n["contactIds"] == [contact] for n in notices.values())
    assert "email" in notices["MANUAL"]["fields"]

    corrected = [json.loads(r.body) for r in rx.requests if json.loads(r.body)["type"] == "contact.corrected"]
    assert len(corrected) == 1 and corrected[0]["data"]["id"] == contact
    assert wrong not in rx.requests[-1].body.decode()  # field names, never a value
    # a webhook that never received the person's data is not told
    assert [json.loads(r.body)["type"] for r in bystander.requests] == ["data_request.created"]

    (to, subject, body), = outbox.sent
    assert to == [ws.admin_email] and "Correction of personal data" in subject and "s.23(1)(c)" in body
    assert contact in body and wrong not in body

    assert done["status"] == "FULFILLED"
    reply = {x["language"]: x["text"] for x in done["letters"] if x["kind"] == "CORRECTION_REPLY"}
    assert "e-mail address changed to the new one" in reply["EN"] and "s.23(1)(c)" in reply["EN"]
    assert "第23(1)(c)條" in reply["ZH"]

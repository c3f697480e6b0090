"""A correction request in the console over HTTP: the page asks for the correction made, refuses without it, and
once fulfilled shows the correction and every recipient told of it (s.23(1)(c)): here a partner API key that read
the person's data, listed for the DPO to pass on."""

from __future__ import annotations

import httpx

from schema.ids import uuid_of
from tests.admin.helpers import signed_in, submit
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

READ = "query($id:ID!){ dataRequest(id:$id){ status correction correctionNotices { recipient channel } } }"


async def test_a_correction_is_recorded_and_its_recipients_are_listed(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Mei Ling", lastName="Ho", email="mlho@example.com")
    key = (await gql.ok('mutation{ createApiKey(name:"Broker portal", role:"support"){ key } }',
                        token=ws.admin_token))["createApiKey"]["key"]
    await gql.ok("query($id:ID!){ contact(id:$id){ firstName email } }", {"id": contact}, key)  # a disclosure
    made = await gql.ok("mutation($i:DataRequestInput!){createDataRequest(input:$i){id}}",
                        {"i": {"kind": "CORRECTION", "contactId": contact, "requesterName": "Ho Mei Ling"}},
                        ws.admin_token)
    gid = made["createDataRequest"]["id"]
    rid = str(uuid_of(gid, "DataRequest", "id"))
    async with signed_in(http, ws) as client:
        page = await client.get(f"/admin/requests/{rid}")
        assert page.status_code == 200 and 'name="correction"' in page.text and 'for="correction"' in page.text
        missing = await submit(client, page, f"/admin/requests/{rid}/fulfil", delivery_method="Letter")
        assert missing.status_code == 400 and "say which correction was made" in missing.text
        assert (await gql.ok(READ, {"id": gid}, ws.admin_token))["dataRequest"]["status"] == "OPEN"

        done = await submit(client, page, f"/admin/requests/{rid}/fulfil", delivery_method="Letter",
                            correction="E-mail corrected to mlho@example.net")
        assert done.status_code == 303
        after = await client.get(f"/admin/requests/{rid}")
        assert "E-mail corrected to mlho@example.net" in after.text
        assert "Pass on yourself: Broker portal" in after.text
    found = (await gql.ok(READ, {"id": gid}, ws.admin_token))["dataRequest"]
    assert found["status"] == "FULFILLED" and found["correction"] == "E-mail corrected to mlho@example.net"
    assert {(n["recipient"], n["channel"]) for n in found["correctionNotices"]} == {("Broker portal", "MANUAL")}

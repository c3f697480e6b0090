"""An erasure request in the console over HTTP (no browser): the confirmation page names the record and counts its
activities, nothing is erased without the tick, and the legal-hold and open-request refusals are said in words."""

from __future__ import annotations

import httpx
import pytest

from schema.ids import uuid_of
from tests.admin.helpers import signed_in, submit
from tests.factories.workspaces import Workspace, WorkspaceFactory

REQUEST = "mutation($i:DataRequestInput!){createDataRequest(input:$i){id}}"
HOLD = "mutation($c:ID!,$h:Boolean!){ setLegalHold(contactId:$c, hold:$h, reason:\"court order\"){ id } }"
STATUS = "query($id:ID!){ dataRequest(id:$id){ status } }"


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def request(ws: Workspace, kind: str, contact: str) -> tuple[str, str]:
    made = await ws.gql.ok(REQUEST, {"i": {"kind": kind, "contactId": contact, "requesterName": "Chan Siu Fong"}},
                           ws.admin_token)
    gid = made["createDataRequest"]["id"]
    return gid, str(uuid_of(gid, "DataRequest", "id"))


async def test_an_erasure_is_confirmed_on_a_page_naming_it_and_its_refusals_are_in_words(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    contact = await ws.contact(firstName="Siu Fong", lastName="Chan", email="sfchan@example.com")
    for subject in ("Called back", "Sent the brochure"):
        await ws.gql.ok("mutation($i:ActivityInput!){createActivity(input:$i){id}}",
                        {"i": {"contactId": contact, "kind": "CALL", "subject": subject}}, ws.admin_token)
    erasure, erasure_id = await request(ws, "ERASURE", contact)
    async with signed_in(http, ws) as client:
        detail = await client.get(f"/admin/requests/{erasure_id}")
        assert f'href="/admin/requests/{erasure_id}/erase"' in detail.text
        confirm = await client.get(f"/admin/requests/{erasure_id}/erase")
        assert confirm.status_code == 200
        row = confirm.text.split("<tbody>")[1].split("</tr>")[0]
        assert "Siu Fong Chan" in row and "<td>2</td><td>0</td>" in row  # two activities, no attachment
        unticked = await submit(client, confirm, f"/admin/requests/{erasure_id}/fulfil")
        assert unticked.status_code == 400 and "Tick the confirmation" in unticked.text

        await ws.gql.ok(HOLD, {"c": contact, "h": True}, ws.admin_token)
        held = await submit(client, confirm, f"/admin/requests/{erasure_id}/fulfil", confirm="on")
        assert held.status_code == 409 and "under legal hold" in held.text.split('id="erase-error"')[1]
        await ws.gql.ok(HOLD, {"c": contact, "h": False}, ws.admin_token)

        access, access_id = await request(ws, "ACCESS", contact)
        blocked = await submit(client, confirm, f"/admin/requests/{erasure_id}/fulfil", confirm="on")
        assert blocked.status_code == 409 and "still open. Answer it before erasing" in blocked.text
        assert (await ws.gql.ok(STATUS, {"id": erasure}, ws.admin_token))["dataRequest"]["status"] == "OPEN"
        await ws.gql.ok("mutation($id:ID!){ refuseDataRequest(id:$id, ground: REPEATED_REQUEST,"
                        " reason:\"duplicate of the erasure\"){ id } }",
                        {"id": access}, ws.admin_token)
        erased = await submit(client, confirm, f"/admin/requests/{erasure_id}/fulfil", confirm="on")
        assert erased.status_code == 303 and "done=request_fulfil" in erased.headers["location"]
    assert (await ws.gql.ok(STATUS, {"id": erasure}, ws.admin_token))["dataRequest"]["status"] == "FULFILLED"
    assert access_id

"""The console's refusal form names a ground of the ordinance, and the request page lists the letters written,
each downloadable with the console's sign-in."""

from __future__ import annotations

import httpx

from resolvers.workspaces import demo
from schema.ids import from_global
from tests.admin.helpers import signed_in, submit
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

CREATE = "mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id } }"


async def test_refusing_in_the_console_takes_a_ground_and_lists_the_letters(
    http: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Console")
    gid = (await ws.gql.ok(CREATE, {"i": {"kind": "ACCESS", "contactId": contact, "requesterName": "Ho Ka Yan"}},
                           ws.admin_token))["createDataRequest"]["id"]
    raw = from_global(gid)[1]
    async with signed_in(http, ws) as client:
        page = await client.get(f"/admin/requests/{raw}")
        assert page.status_code == 200 and 'name="ground"' in page.text and "s.20(3)(c)" in page.text
        bare = await submit(client, page, f"/admin/requests/{raw}/refuse", reason="no")
        assert bare.status_code == 400 and 'role="alert"' in bare.text  # free text alone is not a ground
        done = await submit(client, page, f"/admin/requests/{raw}/refuse", reason="Third request this month",
                            ground="REPEATED_REQUEST")
        assert done.status_code == 303
        page = await client.get(f"/admin/requests/{raw}")
        assert "Refusal notice (s.21 / s.25)" in page.text
        link = page.text.split(f'href="/admin/requests/{raw}/letters/', 1)[1].split('"', 1)[0]
        letter = await client.get(f"/admin/requests/{raw}/letters/{link}")
        assert letter.status_code == 200 and "Ho Ka Yan" in letter.text and "s.20(3)(c)" in letter.text


async def test_the_demo_workspaces_privacy_notice_names_the_demo_business_and_its_dpo(
    demo_workspace: str, gql: GraphQLClient
) -> None:
    token = await gql.login(demo_workspace, "admin@demo.example.com", demo.PASSWORD)
    notice = (await gql.ok('{ privacyNotice(language: EN){ text } }', token=token))["privacyNotice"]["text"]
    assert "Demo Trading Co. Limited" in notice and "Ms Chan Mei Ling" in notice and "dpo@demo.example.com" in notice
    assert "+852 2123 4567" in notice

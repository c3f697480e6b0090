"""The permission pages over HTTP: the matrix from effectiveAccess, a cell changed through choose -> preview ->
confirm (the lockout guard refusing inline), a contact previewed as another user, and the policy history."""

from __future__ import annotations

import html

import httpx
import pytest

from resolvers.contacts.validation import hkid_check_digit
from schema.ids import uuid_of
from tests.admin.helpers import signed_in, submit
from tests.factories.workspaces import Workspace, WorkspaceFactory

HKID = f"A123456({hkid_check_digit('A', '123456')})"
CONTACT = "query($id:ID!){ contact(id:$id){ hkid } }"


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def own_contact(ws: Workspace, owner: dict[str, str]) -> str:
    data = await ws.gql.ok("mutation($i:ContactInput!){ createContact(input:$i){ id } }",
                           {"i": {"firstName": "Siu Ming", "lastName": "Cheung", "hkid": HKID, "ownerId": owner["id"]}},
                           ws.admin_token)
    return str(data["createContact"]["id"])


def section(text: str, marker: str) -> str:
    return html.unescape(text.split(marker)[1].split("</section>")[0])


async def test_the_matrix_shows_effective_access_per_role_and_scope(http: httpx.AsyncClient, ws: Workspace) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/permissions?entity=contact")
        assert page.status_code == 200
        email_row = page.text.split("<code>email</code>")[1].split("</tr>")[0]
        sales_cell = email_row.split("role=sales&amp;field=email")[1].split("</a>")[0]
        assert "Allow <small>own contacts</small>" in sales_cell and "Mask" in sales_cell


async def test_a_cell_changes_through_the_preview_and_the_sales_view_changes(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    sales = await ws.user("sales", ["sales"])
    contact_id = await own_contact(ws, sales)
    assert "*" in (await ws.gql.ok(CONTACT, {"id": contact_id}, sales["token"]))["contact"]["hkid"]
    async with signed_in(http, ws) as client:
        cell = await client.get("/admin/permissions/change?entity=contact&role=sales&field=hkid")
        assert cell.status_code == 200 and 'name="effect"' in cell.text
        preview = await submit(client, cell, "/admin/permissions/preview", change="add", role="sales",
                               entity="contact", field="hkid", resource="contact.hkid", action="read", effect="allow",
                               scope="own")
        assert preview.status_code == 200, preview.text[:3000]
        assert "1 user gains clear HKID on 1 contact." in html.unescape(preview.text)
        assert (await ws.gql.ok(CONTACT, {"id": contact_id}, sales["token"]))["contact"]["hkid"] != HKID  # not yet
        saved = await submit(client, preview, "/admin/permissions/add", role="sales", resource="contact.hkid",
                             action="read", effect="allow", scope="own", **{"from": "preview"})
        assert saved.status_code == 303
        assert saved.headers["location"].startswith("/admin/permissions?entity=contact&role=sales&field=hkid&done=")
        again = await client.post("/admin/permissions/preview", data={
            "csrf": "", "change": "add", "role": "sales", "resource": "contact.hkid", "effect": "allow"})
        assert again.status_code == 403  # no CSRF token, no preview
        history = await client.get("/admin/permissions/history")
        row = section(history.text, 'id="h-history"').split("</tr>")[1]
        assert "Rule added" in row and ws.admin_email in row and "sales, contact.hkid, read, allow, own" in row
    assert (await ws.gql.ok(CONTACT, {"id": contact_id}, sales["token"]))["contact"]["hkid"] == HKID


async def test_the_lockout_guard_refuses_on_the_preview_it_was_confirmed_from(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    rule = {"role": "admin", "resource": "policy", "action": "write", "effect": "allow", "scope": "all"}
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/permissions?role=admin")
        preview = await submit(client, page, "/admin/permissions/preview", change="remove", **rule)
        assert preview.status_code == 200 and "Confirm and remove the rule" in preview.text
        assert "1 user loses" in html.unescape(preview.text) or "1 user has" in html.unescape(preview.text)
        refused = await submit(client, preview, "/admin/permissions/remove", **rule, **{"from": "preview"})
        assert refused.status_code == 409 and 'id="preview-error"' in refused.text
        assert "no one able to edit policies" in refused.text
        dup = await submit(client, page, "/admin/permissions/preview", change="add", **rule)
        assert dup.status_code == 409 and "exists already" in dup.text  # refused before any preview
    data = await ws.gql.ok('{ policies(role:"admin"){ resource action } }', token=ws.admin_token)
    assert {"resource": "policy", "action": "write"} in data["policies"]


async def test_a_contact_is_previewed_as_a_sales_user(http: httpx.AsyncClient, ws: Workspace) -> None:
    sales, other = await ws.user("sales", ["sales"]), await ws.user("other", ["sales"])
    contact_id = await own_contact(ws, sales)
    cid, uid = uuid_of(contact_id, "Contact", "id"), uuid_of(sales["id"], "User", "id")
    async with signed_in(http, ws) as client:
        found = await client.get(f"/admin/permissions/preview-as?user={uid}&q=Cheung")
        assert f"contact={cid}" in found.text
        shown = await client.get(f"/admin/permissions/preview-as?user={uid}&contact={cid}")
        assert shown.status_code == 200
        result = section(shown.text, 'id="result"')
        hkid = result.split("<code>hkid</code>")[1].split("</tr>")[0]
        assert "*" in hkid and HKID not in hkid  # masked for sales
        assert "Siu Ming" in result
        outside = await client.get(
            f"/admin/permissions/preview-as?user={uuid_of(other['id'], 'User', 'id')}&contact={cid}")
        assert "outside the user" in outside.text  # another sales user's contact does not exist for them

"""The console over HTTP (no browser): sessions, CSRF, headers, permissions per page, and each workflow's effect."""

from __future__ import annotations

import httpx

from tests.admin.helpers import console_client, csrf_of, sign_in
from tests.factories.workspaces import PASSWORD, WorkspaceFactory


async def test_sign_in_sets_a_strict_cookie_and_the_home_page_shows_the_workspace(
    http: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    async with await console_client(http) as client:
        response = await sign_in(client, ws.slug, ws.admin_email, PASSWORD)
        assert response.status_code == 303 and response.headers["location"] == "/admin/"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
        home = await client.get("/admin/")
        assert home.status_code == 200, home.text
        assert "Compliance home" in home.text and ws.slug in home.text
        assert "script-src 'self'" in home.headers["content-security-policy"]
        assert "unsafe-inline" not in home.headers["content-security-policy"]
        for path in ("/admin/requests", "/admin/requests/new", "/admin/retention", "/admin/audit",
                     "/admin/audit/exposure", "/admin/workspace", "/admin/permissions", "/admin/inventory",
                     "/admin/contacts"):
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text[:2000])


async def test_wrong_password_is_said_in_words_and_audited(
    http: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    async with await console_client(http) as client:
        response = await sign_in(client, ws.slug, ws.admin_email, "not the password")
        assert response.status_code == 401
        assert "The workspace, email or password is not right" in response.text
        assert (await client.get("/admin/")).status_code == 303
    data = await ws.gql.ok("{auditEvents(filter:{action:LOGIN_FAILED}){totalCount}}", token=ws.admin_token)
    assert data["auditEvents"]["totalCount"] == 1


async def test_a_form_without_its_csrf_token_changes_nothing(
    http: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    async with await console_client(http) as client:
        await sign_in(client, ws.slug, ws.admin_email, PASSWORD)
        response = await client.post("/admin/workspace/support", data={"hours": "2", "reason": "ticket 1"})
        assert response.status_code == 403
        forged = await client.post("/admin/workspace/support", data={"hours": "2", "reason": "t", "csrf": "x" * 43})
        assert forged.status_code == 403
    data = await ws.gql.ok("{supportGrants{id}}", token=ws.admin_token)
    assert data["supportGrants"] == []


async def test_a_sales_user_gets_403_pages_on_admin_urls(http: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    sales = await ws.user("sales", ["sales"])
    async with await console_client(http) as client:
        await sign_in(client, ws.slug, sales["email"], PASSWORD)
        home = await client.get("/admin/")
        assert home.status_code == 200 and "/admin/permissions" not in home.text and "/admin/contacts" in home.text
        for path in ("/admin/requests", "/admin/permissions", "/admin/audit", "/admin/retention"):
            page = await client.get(path)
            assert page.status_code == 403 and "Not allowed" in page.text, path
        page = await client.get("/admin/workspace")
        csrf = csrf_of(page.text) if page.status_code == 200 else csrf_of(home.text)
        closed = await client.post("/admin/workspace/close", data={"csrf": csrf, "confirm_slug": ws.slug})
        assert closed.status_code == 403
    data = await ws.gql.ok("{workspace{status}}", token=ws.admin_token)
    assert data["workspace"]["status"] == "ACTIVE"

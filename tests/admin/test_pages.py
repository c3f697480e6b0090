"""The console over HTTP (no browser): sessions, CSRF, headers, permissions per page, and each workflow's effect."""

from __future__ import annotations

import httpx
import pytest

from console.i18n import catalogue
from tests.admin.helpers import console_client, csrf_of, sign_in, signed_in, submit
from tests.factories.workspaces import PASSWORD, Workspace, WorkspaceFactory


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    """A workspace of each test's own (some close it or change its policies)."""
    return await workspaces.create()


async def test_sign_in_sets_a_strict_cookie_and_the_home_page_shows_the_workspace(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
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
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with await console_client(http) as client:
        response = await sign_in(client, ws.slug, ws.admin_email, "not the password")
        assert response.status_code == 401
        assert "The workspace, email or password is not right" in response.text
        assert (await client.get("/admin/")).status_code == 303
    data = await ws.gql.ok("{auditEvents(filter:{action:LOGIN_FAILED}){totalCount}}", token=ws.admin_token)
    assert data["auditEvents"]["totalCount"] == 1


async def test_a_form_without_its_csrf_token_changes_nothing(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with signed_in(http, ws) as client:
        response = await client.post("/admin/workspace/support", data={"hours": "2", "reason": "ticket 1"})
        assert response.status_code == 403
        forged = await client.post("/admin/workspace/support", data={"hours": "2", "reason": "t", "csrf": "x" * 43})
        assert forged.status_code == 403
    data = await ws.gql.ok("{supportGrants{id}}", token=ws.admin_token)
    assert data["supportGrants"] == []


async def test_a_sales_user_gets_403_pages_on_admin_urls(http: httpx.AsyncClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    async with signed_in(http, ws, sales["email"]) as client:
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


async def test_the_lockout_guard_refusal_is_shown_next_to_the_rule(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    rule = {"role": "admin", "resource": "policy", "action": "write", "effect": "allow", "scope": "all"}
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/permissions?role=admin")
        refused = await submit(client, page, "/admin/permissions/remove", **rule)
        assert refused.status_code == 409
        assert 'role="alert"' in refused.text and "no one able to edit policies" in refused.text
        added = await submit(client, page, "/admin/permissions/add", role="sales", resource="contact.hkid",
                             action="read", effect="deny", scope="all")
        assert added.status_code == 303
    data = await ws.gql.ok('{admin: policies(role:"admin"){resource action effect} sales: policies(role:"sales")'
                           "{resource action effect scope}}", token=ws.admin_token)
    assert {"resource": "policy", "action": "write", "effect": "ALLOW"} in data["admin"]
    assert {"resource": "contact.hkid", "action": "read", "effect": "DENY", "scope": "all"} in data["sales"]


async def test_a_matrix_cell_explains_the_rules_behind_it(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/permissions?entity=contact&role=sales&field=email")
        assert page.status_code == 200
        explained = page.text.split('id="explain"')[1].split("</section>")[0]
        assert "sales, contact.email, read, allow, own" in explained
        assert "sales, contact.email, read, mask, all" in explained


async def test_support_access_is_granted_and_revoked_from_the_workspace_page(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/workspace")
        bad = await submit(client, page, "/admin/workspace/support", hours="500", reason="ticket 7")
        assert bad.status_code == 400 and 'role="alert"' in bad.text
        granted = await submit(client, page, "/admin/workspace/support", hours="2", reason="ticket 7")
        assert granted.status_code == 303
        home = await client.get("/admin/")
        assert "Active" in home.text.split('id="h-support"')[1]
        grants = (await ws.gql.ok("{supportGrants{reason active}}", token=ws.admin_token))["supportGrants"]
        assert grants == [{"reason": "ticket 7", "active": True}]
        await submit(client, page, "/admin/workspace/support/revoke")
    grants = (await ws.gql.ok("{supportGrants{active}}", token=ws.admin_token))["supportGrants"]
    assert grants == [{"active": False}]


async def test_closing_the_workspace_needs_its_slug_typed(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/workspace")
        wrong = await submit(client, page, "/admin/workspace/close", confirm_slug="nope")
        assert wrong.status_code == 400
        assert "type the workspace&#39;s slug" in wrong.text.split('id="h-close"')[1]
        assert (await ws.gql.ok("{workspace{status}}", token=ws.admin_token))["workspace"]["status"] == "ACTIVE"
        closed = await submit(client, page, "/admin/workspace/close", confirm_slug=ws.slug)
        assert closed.status_code == 303 and closed.headers["location"].startswith("/admin/login")
        again = await sign_in(client, ws.slug, ws.admin_email, PASSWORD)
        assert again.status_code == 401  # nobody can sign in to a closing workspace


async def test_both_catalogues_have_the_same_keys_and_every_label_is_translated() -> None:
    en, zh = catalogue("en"), catalogue("zh-Hant")
    assert set(en) == set(zh)
    same = [k for k in en if en[k] == zh[k] and k not in {"app.name"}]
    assert same == []


async def test_signed_out_or_never_signed_in_goes_to_the_sign_in_page(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with await console_client(http) as client:
        bare = await client.get("/admin/retention?x=1")
        assert bare.status_code == 303 and bare.headers["location"] == "/admin/login?next=/admin/retention%3Fx%3D1"
        tampered = client.cookies.get("crm_console")
        assert tampered is None
        client.cookies.set("crm_console", "eyJuIjoieCIsInQiOiJ4In0.forged", path="/admin")
        assert (await client.get("/admin/")).status_code == 303
        client.cookies.clear()
        await sign_in(client, ws.slug, ws.admin_email, PASSWORD)
        home = await client.get("/admin/")
        out = await client.post("/admin/logout", data={"csrf": csrf_of(home.text)})
        assert out.status_code == 303 and out.headers["location"] == "/admin/login"
        assert (await client.get("/admin/")).status_code == 303


async def test_a_retention_policy_with_a_bad_condition_is_refused_inline_and_not_created(
    http: httpx.AsyncClient, ws: Workspace
) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/retention")
        form = {"name": "Old cold leads", "entity": "contact", "after_days": "400", "action": "ARCHIVE"}
        bad = await submit(client, page, "/admin/retention/policies", **form, condition="stage === ((")
        assert bad.status_code == 400 and 'role="alert"' in bad.text
        assert 'value="Old cold leads"' in bad.text  # the form keeps what was typed
        good = await submit(client, page, "/admin/retention/policies", **form, condition="stage = COLD")
        assert good.status_code == 303
    names = [p["name"] for p in (await ws.gql.ok("{retentionPolicies{name}}", token=ws.admin_token))[
        "retentionPolicies"]]
    assert names.count("Old cold leads") == 1

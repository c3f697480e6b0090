"""The console in a real browser (Debian's Chromium through Playwright) against the app served by uvicorn."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from resolvers.workspaces import demo
from tests.admin.browser import blocking_violations, demo_email, sign_in, unlabelled_inputs
from tests.factories.workspaces import GraphQLClient


async def new_contact(gql: GraphQLClient, slug: str) -> tuple[str, str]:
    token = await gql.login(slug, demo_email("admin"), demo.PASSWORD)
    last = f"Testlam{secrets.token_hex(3)}"
    data = await gql.ok(
        "mutation($i:ContactInput!){createContact(input:$i){id}}",
        {"i": {"firstName": "Ka Yan", "lastName": last, "email": f"{last.lower()}@example.com"}},
        token,
    )
    return data["createContact"]["id"], f"Ka Yan {last}"


async def test_home_counts_down_each_open_request_in_colour(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await gql.login(demo_workspace, demo_email("admin"), demo.PASSWORD)
    now, colours = datetime.now(UTC), {}
    for days_ago, colour in ((10, "ok"), (30, "amber"), (36, "red"), (45, "overdue")):
        contact_id, name = await new_contact(gql, demo_workspace)
        await gql.ok(
            "mutation($i:DataRequestInput!){createDataRequest(input:$i){id}}",
            {"i": {"kind": "ACCESS", "contactId": contact_id, "requesterName": name,
                   "receivedAt": (now - timedelta(days=days_ago, hours=1)).isoformat()}},
            token,
        )
        colours[name] = colour
    await sign_in(page, demo_workspace, demo_email("admin"))
    for name, colour in colours.items():
        row = page.get_by_role("row").filter(has_text=name)
        assert await row.locator(f".badge.{colour}").count() == 1, (name, colour)
    overdue = page.get_by_role("row").filter(has_text=next(n for n, c in colours.items() if c == "overdue"))
    assert "Overdue by 5 days" in await overdue.inner_text()
    await shot(page, "home-requests-en")
    await page.get_by_role("link", name="中文").click()
    assert "已逾期 5 日" in await overdue.inner_text()
    await shot(page, "home-requests-zh")


async def test_sign_in_with_the_keyboard_alone(page: Any, demo_workspace: str, shot: Any) -> None:
    await page.goto("/admin/login")
    await shot(page, "login-en")
    assert await page.evaluate("document.activeElement.id") == "workspace"  # autofocus
    await page.keyboard.type(demo_workspace)
    await page.keyboard.press("Tab")
    await page.keyboard.type(demo_email("admin"))
    await page.keyboard.press("Tab")
    await page.keyboard.type(demo.PASSWORD)
    await page.keyboard.press("Tab")  # One-time code: not needed for this account
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Sign in"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/admin/")
    assert await page.get_by_role("heading", name="Compliance home").is_visible()
    await shot(page, "home-en")
    assert page.csp_errors == []


async def test_a_wrong_password_is_explained_on_the_form(page: Any, demo_workspace: str, shot: Any) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Workspace").fill(demo_workspace)
    await page.get_by_label("Email").fill(demo_email("admin"))
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    assert "is not right" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Email").input_value() == demo_email("admin")  # kept, the password is not
    await shot(page, "login-error")


async def test_answer_a_data_access_request_from_creation_to_fulfilment(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    _, name = await new_contact(gql, demo_workspace)
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.get_by_role("link", name="Data requests").first.click()
    await page.get_by_role("link", name="New data request").click()
    await page.get_by_label("Name, e-mail, phone or HKID").fill(name.split()[-1])
    await page.get_by_role("button", name="Search").click()
    await page.get_by_label(name).check()
    await page.get_by_label("Requester's name").fill(name)
    await page.get_by_role("button", name="Record the request").click()
    await page.wait_for_url("**/admin/requests/*")
    assert "40-day deadline has started" in await page.get_by_role("status").inner_text()
    assert await page.get_by_text("39 days left").or_(page.get_by_text("40 days left")).first.is_visible()
    await page.get_by_role("button", name="Produce the complete copy").click()
    # The script polls the console's JSON endpoint and reloads the page once the copy is ready.
    download_link = page.get_by_role("link", name="Download the copy (ZIP)")
    await download_link.wait_for(state="visible", timeout=60_000)
    await shot(page, "request-en")
    async with page.expect_download() as event:
        await download_link.click()
    download = await event.value
    path = await download.path()
    with open(path, "rb") as archive:
        assert archive.read(2) == b"PK"  # a ZIP
    await page.get_by_role("button", name="Fulfil the request").click()
    assert "marked as fulfilled" in await page.get_by_role("status").inner_text()
    assert await page.locator(".badge", has_text="Fulfilled").first.is_visible()
    await page.get_by_role("link", name="中文").click()
    assert await page.get_by_role("heading", name=f"查閱資料\uff1a{name}").is_visible()
    await shot(page, "request-zh")


async def test_refusing_needs_a_reason(page: Any, demo_workspace: str, gql: GraphQLClient) -> None:
    _, name = await new_contact(gql, demo_workspace)
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/requests/new?by=name&q=" + name.split()[-1])
    await page.get_by_label(name).check()
    await page.get_by_label("Kind").select_option("CORRECTION")
    await page.get_by_label("Requester's name").fill(name)
    await page.get_by_role("button", name="Record the request").click()
    await page.get_by_label("Reason").fill("   ")
    await page.get_by_role("button", name="Refuse the request").click()
    assert await page.get_by_role("alert").is_visible()  # typed refusal, shown inline; nothing changed
    assert await page.locator(".badge", has_text="left").first.is_visible()
    await page.get_by_label("Reason").fill("The requester could not prove their identity (s.20(1)(a)).")
    await page.get_by_role("button", name="Refuse the request").click()
    assert "log book" in await page.get_by_role("status").inner_text()


async def test_retention_dry_run_names_what_would_change(page: Any, demo_workspace: str, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.get_by_role("link", name="Retention").first.click()
    await page.get_by_role("button", name="Enable Cold leads after 2 years").click()
    await page.get_by_role("button", name="Dry run: show what would change").click()
    result = page.locator("#run-result")
    assert "Dry run" in await result.get_by_role("heading").inner_text()
    row = result.get_by_role("row").filter(has_text="Cold leads after 2 years")
    assert await row.count() == 1
    await shot(page, "retention-dry-run")
    await page.get_by_role("button", name="Disable Cold leads after 2 years").click()


async def test_download_the_exposure_report(page: Any, demo_workspace: str, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/contacts?by=name&q=Chan")  # reads some contacts: they are in the report
    await page.get_by_role("link", name="Audit").first.click()
    await page.get_by_role("link", name="Exposure report").click()
    assert "people" in await page.locator(".lead").inner_text()
    await shot(page, "exposure")
    async with page.expect_download() as event:
        await page.get_by_role("link", name="Download as CSV").click()
    download = await event.value
    text = Path(await download.path()).read_text(encoding="utf-8")
    assert text.startswith("contact_id,fields,categories,actors,actor_ids,read_count,first_at,last_at")
    assert demo_email("admin") in text
    assert download.suggested_filename.startswith("exposure-report-")


async def test_a_sales_user_sees_only_what_their_role_allows(page: Any, demo_workspace: str, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("sales.kowloon"))
    nav = page.get_by_role("navigation", name="Console pages")
    assert await nav.get_by_role("link", name="Contacts").is_visible()
    for hidden in ("Data requests", "Permissions", "Audit", "Workspace"):
        assert await nav.get_by_role("link", name=hidden).count() == 0
    await page.goto("/admin/contacts?by=name&q=Chan")
    hkids = await page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert hkids and all("*" in h or h == "—" for h in hkids)  # HKID masked for sales
    await shot(page, "contacts-sales")
    response = await page.goto("/admin/permissions")
    assert response.status == 403
    assert await page.get_by_role("heading", name="Not allowed").is_visible()
    await shot(page, "forbidden-sales")


async def test_the_language_switch_shows_chinese(page: Any, demo_workspace: str, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.get_by_role("link", name="中文").click()
    assert await page.get_by_role("heading", name="合規總覽").is_visible()
    assert await page.evaluate("document.documentElement.lang") == "zh-Hant-HK"
    await shot(page, "home-zh")
    await page.goto("/admin/permissions")
    assert await page.get_by_role("heading", name="權限").is_visible()
    await shot(page, "matrix-zh")
    await page.get_by_role("link", name="English").click()
    assert await page.get_by_role("heading", name="Permissions").is_visible()
    await shot(page, "matrix-en")


async def test_main_pages_have_no_serious_accessibility_violations(page: Any, demo_workspace: str) -> None:
    await page.goto("/admin/login")
    found = {"/admin/login": await blocking_violations(page)}
    unlabelled = {"/admin/login": await unlabelled_inputs(page)}
    await sign_in(page, demo_workspace, demo_email("admin"))
    for path in ("/admin/", "/admin/requests", "/admin/requests/new?by=name&q=Chan", "/admin/contacts?by=name&q=Chan",
                 "/admin/retention", "/admin/audit", "/admin/audit/exposure", "/admin/permissions",
                 "/admin/permissions?entity=contact&role=sales&field=hkid", "/admin/inventory", "/admin/workspace"):
        await page.goto(path)
        found[path] = await blocking_violations(page)
        unlabelled[path] = await unlabelled_inputs(page)
    assert {p: v for p, v in found.items() if v} == {}
    assert {p: v for p, v in unlabelled.items() if v} == {}
    assert page.csp_errors == []

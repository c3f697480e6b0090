"""The console in a real browser (Debian's Chromium through Playwright) against the app served by uvicorn."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp

from resolvers.contacts.validation import hkid_check_digit
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
                 "/admin/permissions?entity=contact&role=sales&field=hkid", "/admin/inventory", "/admin/workspace",
                 "/admin/people", "/admin/permissions/change?entity=contact&role=sales&field=hkid",
                 "/admin/permissions/preview-as?q=Chan", "/admin/permissions/history"):
        await page.goto(path)
        found[path] = await blocking_violations(page)
        unlabelled[path] = await unlabelled_inputs(page)
    assert {p: v for p, v in found.items() if v} == {}
    assert {p: v for p, v in unlabelled.items() if v} == {}
    assert page.csp_errors == []


async def demo_user(gql: GraphQLClient, slug: str, role: str) -> tuple[str, str, str]:
    """A new user of the demo workspace: (id, email, admin token)."""
    token = await gql.login(slug, demo_email("admin"), demo.PASSWORD)
    email = f"{role}-{secrets.token_hex(3)}@demo.example.com"
    data = await gql.ok("mutation($i:UserInput!){createUser(input:$i){id}}",
                        {"i": {"email": email, "password": demo.PASSWORD, "displayName": f"Temp {role.title()}",
                               "roles": [role]}}, token)
    return data["createUser"]["id"], email, token


async def test_deactivate_a_user_from_people_and_keys_and_they_cannot_sign_in(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    _, email, _ = await demo_user(gql, demo_workspace, "support")
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.get_by_role("link", name="People and keys").click()
    row = page.get_by_role("row").filter(has_text=email)
    assert "Active" in await row.inner_text()
    await shot(page, "people-en")
    await row.get_by_role("button", name=f"Deactivate {email}").click()
    assert "deactivated" in await page.get_by_role("status").inner_text()
    assert "Deactivated" in await page.get_by_role("row").filter(has_text=email).inner_text()
    await page.get_by_role("link", name="中文").click()
    assert await page.get_by_role("heading", name="用戶及金鑰").is_visible()
    await shot(page, "people-zh")
    await page.get_by_role("link", name="English").click()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/admin/login")
    await page.get_by_label("Workspace").fill(demo_workspace)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(demo.PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    assert "is not right" in await page.get_by_role("alert").inner_text()
    assert page.csp_errors == []


async def test_change_a_permission_cell_through_the_preview_and_the_sales_view_changes(
    page: Any, browser: Any, console_url: str, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await gql.login(demo_workspace, demo_email("admin"), demo.PASSWORD)
    found = await gql.ok('{users(filter:{search:"sales.kowloon"}){edges{node{id}}}}', token=token)
    sales_id = found["users"]["edges"][0]["node"]["id"]
    last = f"Testho{secrets.token_hex(3)}"
    hkid = f"C668668({hkid_check_digit('C', '668668')})"
    await gql.ok("mutation($i:ContactInput!){createContact(input:$i){id}}",
                 {"i": {"firstName": "Wing Sze", "lastName": last, "hkid": hkid, "ownerId": sales_id}}, token)
    sales_context = await browser.new_context(base_url=console_url, viewport={"width": 1280, "height": 900})
    sales = await sales_context.new_page()
    rule = {"role": "sales", "resource": "contact.hkid", "action": "read", "effect": "ALLOW", "scope": "own"}
    try:
        await sign_in(sales, demo_workspace, demo_email("sales.kowloon"))
        await sales.goto(f"/admin/contacts?by=name&q={last}")
        row = sales.get_by_role("row").filter(has_text=last)
        assert hkid not in await row.inner_text() and "*" in await row.inner_text()  # masked before
        await sign_in(page, demo_workspace, demo_email("admin"))
        await page.get_by_role("link", name="Permissions").first.click()
        await page.get_by_role("link", name="Explain sales on hkid").click()
        await page.get_by_role("link", name="Change this cell").click()
        await page.get_by_label("Allow: the value in clear").check()
        await page.get_by_label("On which records").select_option("own")
        await page.get_by_role("button", name="Preview the change").click()
        impact = await page.locator("#impact").inner_text()
        assert "gain" in impact and "clear HKID" in impact and "contacts" in impact
        assert "sales.kowloon@demo.example.com" in await page.get_by_role("table").inner_text()
        assert await blocking_violations(page) == []
        await shot(page, "permission-preview-en")
        await page.get_by_role("button", name="Confirm and save the rule").click()
        assert "rule is added" in await page.get_by_role("status").inner_text()
        await sales.reload()
        assert hkid in await sales.get_by_role("row").filter(has_text=last).inner_text()  # clear now, own contact
        await page.get_by_role("link", name="History of policy changes").click()
        first = page.get_by_role("row").nth(1)
        assert "Rule added" in await first.inner_text() and "contact.hkid" in await first.inner_text()
        await shot(page, "policy-history-en")
    finally:
        await gql.raw("mutation($r:PolicyRuleInput!){removePolicy(rule:$r)}", {"r": rule}, token)
        await sales_context.close()


async def test_preview_a_contact_as_a_sales_user(page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/permissions/preview-as")
    await page.get_by_label("User").select_option(label=next(
        o for o in await page.get_by_label("User").locator("option").all_inner_texts() if "sales.island" in o))
    await page.get_by_label("Contact's name").fill("Chan")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name="Preview").first.click()
    result = page.locator("#result")
    assert "as sales.island@demo.example.com would see it" in await result.get_by_role("heading").inner_text()
    assert await blocking_violations(page) == []
    await shot(page, "preview-as-en")


async def test_create_an_api_key_and_see_it_once(page: Any, demo_workspace: str, shot: Any) -> None:
    name = f"Partner sync {secrets.token_hex(2)}"
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/people")
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Role", exact=True).select_option("support")
    await page.get_by_role("button", name="Create the key").click()
    key = await page.get_by_label("The new API key").input_value()
    assert key.startswith(f"{demo_workspace}_") or len(key) > 30
    assert "shown this once" in await page.get_by_role("status").first.inner_text()
    await shot(page, "api-key-once")
    await page.goto("/admin/people")
    assert await page.get_by_label("The new API key").count() == 0
    assert key not in await page.content()
    row = page.get_by_role("row").filter(has_text=name)
    assert "Active" in await row.inner_text()
    await row.get_by_role("button", name=f"Revoke {name}").click()
    assert "revoked" in await page.get_by_role("status").inner_text()


async def test_workspace_settings_are_saved(page: Any, demo_workspace: str, shot: Any) -> None:
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.get_by_role("link", name="Workspace").first.click()
    # The demo workspace is shared by the run: save a changed value, then put the demo's own back (the privacy
    # notice test reads it).
    await page.get_by_label("DPO's name").fill("Mandy Wong")
    await page.get_by_label("DPO's e-mail").fill("dpo@demo.example.com")
    await page.get_by_label("DPO's phone").fill("2123 4567")
    await page.get_by_label("Time zone").select_option("Asia/Hong_Kong")
    await page.get_by_role("button", name="Save the settings").click()
    assert "settings were saved" in await page.get_by_role("status").inner_text()
    assert await page.get_by_label("DPO's phone").input_value() == "+85221234567"
    assert await page.get_by_label("DPO's name").input_value() == "Mandy Wong"
    await shot(page, "settings-en")
    await page.get_by_label("DPO's name").fill(demo.DEMO_SETTINGS["dpo_name"])
    await page.get_by_role("button", name="Save the settings").click()
    assert "settings were saved" in await page.get_by_role("status").inner_text()


async def test_sign_in_with_a_one_time_code(page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any) -> None:
    _, email, _ = await demo_user(gql, demo_workspace, "manager")
    token = await gql.login(demo_workspace, email, demo.PASSWORD)
    secret = (await gql.ok("mutation{enrollMfa{secret}}", token=token))["enrollMfa"]["secret"]
    totp = pyotp.TOTP(secret)
    await gql.ok("mutation($c:String!){confirmMfa(code:$c){mfaEnabled}}", {"c": totp.now()}, token)
    await page.goto("/admin/login")
    await page.get_by_label("Workspace").fill(demo_workspace)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(demo.PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    assert "one-time code" in (await page.get_by_role("alert").inner_text()).lower()
    await shot(page, "login-mfa")
    await page.get_by_label("Password").fill(demo.PASSWORD)
    next_code = totp.at(datetime.now(UTC) + timedelta(seconds=30))  # a code is accepted once: not the one used
    await page.get_by_label("One-time code").fill(next_code)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin/")
    assert await page.get_by_role("heading", name="Compliance home").is_visible()

"""The console's PDPO workflows in a real browser: one access request end to end (a person held twice, identity,
the copy, a redaction, delivery), retention policies edited and deleted, roles from a template, duplicates merged.
Each workflow's new pages are checked with axe (no serious or critical violations) and saved as screenshots."""

from __future__ import annotations

import secrets
from typing import Any

from resolvers.workspaces import demo
from schema.ids import uuid_of
from tests.admin.browser import blocking_violations, demo_email, sign_in, unlabelled_inputs
from tests.factories.workspaces import GraphQLClient

CREATE = "mutation($i:ContactInput!){createContact(input:$i){id}}"
ACTIVITY = "mutation($i:ActivityInput!){createActivity(input:$i){id}}"
REQUEST = "mutation($i:DataRequestInput!){createDataRequest(input:$i){id}}"


async def admin_token(gql: GraphQLClient, slug: str) -> str:
    return await gql.login(slug, demo_email("admin"), demo.PASSWORD)


async def held_twice(gql: GraphQLClient, slug: str, token: str) -> tuple[str, str, str]:
    """One person as two records sharing an e-mail (the second from an old import); a note names a stranger."""
    last = f"Testho{secrets.token_hex(3)}"
    email = f"{last.lower()}@example.com"
    first = (await gql.ok(CREATE, {"i": {"firstName": "Wing Sze", "lastName": last, "email": email}}, token))[
        "createContact"]["id"]
    second = (await gql.ok(CREATE, {"i": {"firstName": "Wing-Sze", "lastName": last, "email": email.upper(),
                                          "company": "Harbour Trading"}}, token))["createContact"]["id"]
    await gql.ok(ACTIVITY, {"i": {"contactId": first, "kind": "NOTE", "subject": "Renewal",
                                  "body": "Her colleague Winston Yeung asked for the quote."}}, token)
    return first, second, f"Wing Sze {last}"


async def no_blocking(page: Any) -> None:
    assert await blocking_violations(page) == [], page.url
    assert await unlabelled_inputs(page) == [], page.url


async def test_an_access_request_for_a_person_held_twice_from_link_to_delivery(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await admin_token(gql, demo_workspace)
    first, _, name = await held_twice(gql, demo_workspace, token)
    made = await gql.ok(REQUEST, {"i": {"kind": "ACCESS", "contactId": first, "requesterName": name}}, token)
    request_id = made["createDataRequest"]["id"]
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto(f"/admin/requests/{uuid_of(request_id, 'DataRequest', 'id')}")
    await shot(page, "request-matches-en")
    people = page.locator("#people")
    assert "Possible matches" in await people.inner_text()
    await page.get_by_label(f"Wing-Sze {name.split()[-1]}").check()
    await page.get_by_role("button", name="Link the chosen records to this request").click()
    assert "linked" in await page.get_by_role("status").inner_text()
    assert "names 2 records" in await people.inner_text()
    assert await people.locator("dl").count() == 2

    # delivery before the copy exists: the CONFLICT is said in words next to the form
    await page.get_by_role("button", name="Record delivery and fulfil the request").click()
    assert "has not been produced yet" in await page.locator("#deliver-error").inner_text()

    await page.get_by_label("How it was checked").fill("HKID card seen at the counter")
    await page.get_by_role("button", name="Record the identity check").click()
    assert await page.locator("#identity").get_by_text("Identity verified").is_visible()

    await page.get_by_role("button", name="Produce the complete copy").click()
    redact = page.get_by_label("Winston Yeung")
    await redact.wait_for(state="visible", timeout=120_000)  # the script reloads the page when the copy is ready
    await no_blocking(page)
    await shot(page, "request-review-en")
    await page.get_by_role("link", name="中文").click()
    assert await page.get_by_role("heading", name="發放前須檢查的姓名").is_visible()
    await no_blocking(page)
    await shot(page, "request-review-zh")
    await page.get_by_role("link", name="English").click()
    await redact.check()
    await page.get_by_role("button", name="Produce the copy again with the ticked names redacted").click()
    await page.get_by_text("No other names to review").wait_for(state="visible", timeout=120_000)
    await page.get_by_label("How the reply was delivered").fill("Registered post")
    await page.get_by_role("button", name="Record delivery and fulfil the request").click()
    assert "marked as fulfilled" in await page.get_by_role("status").inner_text()
    assert await page.locator(".badge", has_text="Fulfilled").first.is_visible()
    assert "Registered post" in await page.locator("dl").first.inner_text()
    fulfilled = await gql.ok("query($id:ID!){ dataRequest(id:$id){ status deliveryMethod identityVerified "
                             "contacts { id } } }", {"id": request_id}, token)
    node = fulfilled["dataRequest"]
    assert node["status"] == "FULFILLED" and node["deliveryMethod"] == "Registered post"
    assert node["identityVerified"] and len(node["contacts"]) == 2
    await shot(page, "request-fulfilled-en")


async def test_edit_a_retention_policy_past_the_guard_then_delete_it(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await admin_token(gql, demo_workspace)
    name = f"Old purchases {secrets.token_hex(3)}"
    await gql.ok("mutation($i:RetentionPolicyInput!){createRetentionPolicy(input:$i){id}}",
                 {"i": {"name": name, "entity": "activity", "condition": "kind = PURCHASE", "afterDays": 3000,
                        "action": "DELETE"}}, token)
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/retention")
    await page.get_by_role("link", name=f"Edit {name}").click()
    assert await page.get_by_label("Name", exact=True).input_value() == name
    await page.get_by_label("After (days)").fill("30")
    await page.get_by_role("button", name="Save the changes").click()
    refusal = await page.locator("#policy-error").inner_text()
    assert "minimum-retention guard" in refusal and "Lengthen the period" in refusal
    await no_blocking(page)
    await shot(page, "retention-edit-refused-en")
    await page.get_by_label("After (days)").fill("2600")
    await page.get_by_role("button", name="Save the changes").click()
    assert "updated" in await page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text=name)
    assert "2600" in await row.inner_text()
    await row.get_by_role("link", name=f"Delete {name}").click()
    assert await page.get_by_role("heading", name=f"Delete the policy “{name}”?").is_visible()
    await no_blocking(page)
    await page.get_by_role("button", name="Delete the policy").click()
    assert "deleted" in await page.get_by_role("status").inner_text()
    assert await page.get_by_role("row").filter(has_text=name).count() == 0
    policies = (await gql.ok("{retentionPolicies{name}}", token=token))["retentionPolicies"]
    assert name not in [p["name"] for p in policies]


async def test_create_a_role_from_a_template_and_delete_it_once_no_key_holds_it(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await admin_token(gql, demo_workspace)
    name = f"reception_{secrets.token_hex(3)}"
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/permissions")
    await page.get_by_role("link", name="Roles").last.click()
    assert await page.get_by_role("row").filter(has_text="Admin").first.get_by_text("Built in").is_visible()
    await page.get_by_label("Role name").fill(name)
    await page.get_by_label("Description").fill("Reception at the Mong Kok shop")
    await page.get_by_label("Front desk").check()
    await page.get_by_role("button", name="Create the role").click()
    assert "created" in await page.get_by_role("status").inner_text()
    row = page.locator(f"#role-{name}")
    for _ in range(20):  # every process enforces a new role's rules within 2 s
        if await row.count():
            break
        await page.wait_for_timeout(250)
        await page.reload()
    text = await row.inner_text()
    assert "Reception at the Mong Kok shop" in text and "Front desk" in text and "Admin" in text  # owner: the admin
    await no_blocking(page)
    await shot(page, "roles-en")
    key = (await gql.ok("mutation($r:String!){ createApiKey(name:\"desk tablet\", role:$r){ apiKey { id } } }",
                        {"r": name}, token))["createApiKey"]["apiKey"]["id"]
    await page.reload()
    await row.get_by_role("button", name=f"Delete {name}").click()
    refusal = await page.locator("#role-error").inner_text()
    assert "still held by someone" in refusal and "1 API key" in refusal
    await gql.ok("mutation($id:ID!){ revokeApiKey(id:$id){ id } }", {"id": key}, token)
    await row.get_by_role("button", name=f"Delete {name}").click()
    assert "deleted" in await page.get_by_role("status").inner_text()
    assert await page.locator(f"#role-{name}").count() == 0
    await page.get_by_role("link", name="中文").click()
    assert await page.get_by_role("heading", name="角色", exact=True).is_visible()
    await shot(page, "roles-zh")


async def test_merge_two_duplicates_after_a_dry_run_and_a_legal_hold_refused_in_words(
    page: Any, demo_workspace: str, gql: GraphQLClient, shot: Any
) -> None:
    token = await admin_token(gql, demo_workspace)
    first, second, name = await held_twice(gql, demo_workspace, token)
    await gql.ok(ACTIVITY, {"i": {"contactId": second, "kind": "CALL", "subject": "Asked about delivery"}}, token)
    hold = "mutation($c:ID!,$h:Boolean!){ setLegalHold(contactId:$c, hold:$h, reason:\"court order\"){ id } }"
    await gql.ok(hold, {"c": second, "h": True}, token)
    await sign_in(page, demo_workspace, demo_email("admin"))
    await page.goto("/admin/contacts")
    await page.get_by_role("link", name="Duplicates and merge").click()
    group = page.locator("section").filter(has_text=name.split()[-1])
    assert "same e-mail" in await group.inner_text()
    await no_blocking(page)
    await group.get_by_label(name).check()
    await group.get_by_role("button", name="Dry run").click()
    assert "legal hold" in await page.locator("#merge-error").inner_text()
    await gql.ok(hold, {"c": second, "h": False}, token)
    await page.goto("/admin/duplicates")
    await group.get_by_label(name).check()
    await group.get_by_role("button", name="Dry run").click()
    assert await page.get_by_role("heading", name=f"Kept: {name}").is_visible()
    counts = page.locator("#merge-counts")
    assert "1" in await counts.get_by_role("row").filter(has_text="Activities").inner_text()
    assert "company" in await page.get_by_text("Empty fields filled").inner_text()
    await no_blocking(page)
    await shot(page, "merge-dry-run-en")
    await page.get_by_role("button", name="Merge the records").click()
    assert "merged" in await page.get_by_role("status").inner_text()
    assert await page.locator("section").filter(has_text=name.split()[-1]).count() == 0
    kept = await gql.ok("query($id:ID!){ contact(id:$id){ company } }",
                        {"id": first}, token)
    assert kept["contact"]["company"] == "Harbour Trading"

"""PII tags over HTTP: a custom field tagged government_id is hidden from roles denied `pii:government_id`
with no policy edit; purposes; the inventory; the generated privacy notice in English and Chinese."""

from __future__ import annotations

import pytest

from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, only_error

DEFINE = """mutation($n:String!,$c:String,$p:String){
  defineCustomField(entity:"contact", name:$n, type:"String", piiCategory:$c, purpose:$p){ name purpose } }"""
TAG = 'mutation($n:String!,$c:String){ tagField(entity:"contact", name:$n, piiCategory:$c){ piiCategory } }'
READ = "query($id:ID!){ contact(id:$id){ id firstName customFields } }"
NOTICE = "query($l:Language!){ privacyNotice(language:$l){ language title text sections { heading body } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("pii-support", ["support"])
    await ws.user("pii-manager", ["manager"])
    return ws


async def test_government_id_custom_fields_need_a_purpose(gql: GraphQLClient, ws: Workspace) -> None:
    error = only_error(await gql.raw(DEFINE, {"n": "idCardNo", "c": "government_id"}, ws.admin_token))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "purpose"}


async def test_a_government_id_field_is_hidden_without_any_policy_edit(gql: GraphQLClient, ws: Workspace) -> None:
    passport, visa = canary("P"), canary("V")
    await gql.ok(DEFINE, {"n": "passportNo", "c": "government_id", "p": "KYC for insurance products"}, ws.admin_token)
    await gql.ok(DEFINE, {"n": "visaNo", "p": "Work visa checks for placements"}, ws.admin_token)
    policies_before = (await gql.ok("{ policies { role resource action effect scope } }", token=ws.admin_token))
    contact = await ws.contact(firstName="Tagged", customFields={"passportNo": passport, "visaNo": visa})

    support = (await gql.raw(READ, {"id": contact}, ws.users["pii-support"]["token"]))["data"]["contact"]
    assert support["customFields"] == {"visaNo": visa}  # untagged: readable; passportNo: denied by its category
    admin = (await gql.ok(READ, {"id": contact}, ws.admin_token))["contact"]
    assert admin["customFields"] == {"passportNo": passport, "visaNo": visa}
    manager = (await gql.ok(READ, {"id": contact}, ws.users["pii-manager"]["token"]))["contact"]
    assert manager["customFields"]["passportNo"] != passport  # masked for managers, as HKIDs are

    assert (await gql.ok(TAG, {"n": "visaNo", "c": "government_id"}, ws.admin_token))["tagField"] == {
        "piiCategory": "government_id"
    }
    support = (await gql.raw(READ, {"id": contact}, ws.users["pii-support"]["token"]))["data"]["contact"]
    assert support["customFields"] == {}
    policies_after = (await gql.ok("{ policies { role resource action effect scope } }", token=ws.admin_token))
    assert policies_after == policies_before

    inventory = (await gql.ok("{ piiInventory { field piiCategory recordsWithValue purpose encrypted custom } }",
                              token=ws.admin_token))["piiInventory"]
    row = next(r for r in inventory if r["field"] == "passportNo")
    assert row == {"field": "passportNo", "piiCategory": "government_id", "recordsWithValue": 1,
                   "purpose": "KYC for insurance products", "encrypted": True, "custom": True}


async def test_the_privacy_notice_describes_fields_purposes_and_retention(gql: GraphQLClient, ws: Workspace) -> None:
    await gql.ok(DEFINE, {"n": "memberNo", "c": "government_id", "p": "Loyalty scheme membership"}, ws.admin_token)
    policies = (await gql.ok("{ retentionPolicies { id entity } }", token=ws.admin_token))["retentionPolicies"]
    cold = next(p["id"] for p in policies if p["entity"] == "contact")
    await gql.ok("mutation($id:ID!){ setRetentionPolicyEnabled(id:$id, enabled:true){ enabled } }", {"id": cold},
                 ws.admin_token)

    en = (await gql.ok(NOTICE, {"l": "EN"}, ws.admin_token))["privacyNotice"]
    headings = [s["heading"] for s in en["sections"]]
    assert "Identity document numbers" in headings and "Direct marketing" in headings
    assert "memberNo: Loyalty scheme membership" in en["text"]
    assert "Hong Kong Identity Card number" in en["text"] and "stored encrypted" in en["text"]
    assert "Cold leads: anonymised (names and contact details removed) 2 years after the last contact with us." \
        in en["text"] and "stage = COLD" not in en["text"]
    assert "40 days" in en["text"]

    zh = (await gql.ok(NOTICE, {"l": "ZH"}, ws.admin_token))["privacyNotice"]
    assert zh["language"] == "ZH" and zh["title"] == "我們持有閣下的個人資料及其用途"
    assert "身份證明文件號碼" in zh["text"] and "香港身份證號碼" in zh["text"]
    assert "memberNo" in zh["text"] and "Loyalty scheme membership" in zh["text"]
    assert "匿名化" in zh["text"] and "40日" in zh["text"]

    sales = await ws.user("pii-sales", ["sales"])  # reads field definitions, so the notice too
    assert (await gql.ok(NOTICE, {"l": "EN"}, sales["token"]))["privacyNotice"]["text"] == en["text"]
    support = ws.users["pii-support"]["token"]
    assert only_error(await gql.raw(NOTICE, {"l": "EN"}, support))["extensions"]["code"] == "FORBIDDEN"

# ruff: noqa: RUF001  (the Chinese text uses full-width punctuation, as Chinese should)
"""The privacy notice's DPP1(3) items over HTTP: it names the business, who handles access and correction requests
and how to reach them, the classes of transferees (partner API keys and webhooks by their declared names), and
retention in plain words, in English and Traditional Chinese."""

from __future__ import annotations

from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.webhooks.helpers import receiver, webhook_options

NOTICE = "query($l:Language!){ privacyNotice(language:$l){ text sections { heading body } } }"
SETTINGS = "mutation($i:WorkspaceSettingsInput!){ updateWorkspaceSettings(input:$i){ businessName } }"
POLICY = "mutation($i:RetentionPolicyInput!){ createRetentionPolicy(input:$i){ id } }"
WEBHOOK = "mutation($i:WebhookInput!){ createWebhook(input:$i){ webhook { id } } }"


async def test_the_notice_names_the_business_its_dpo_transferees_and_retention_in_plain_words(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    bare = (await gql.ok(NOTICE, {"l": "EN"}, ws.admin_token))["privacyNotice"]["text"]
    assert "except where the law requires it" in bare  # nobody outside receives data yet
    name = (await gql.ok("{ workspace { name } }", token=ws.admin_token))["workspace"]["name"]
    assert f"correction of, personal data in writing to {name}." in bare  # no DPO set: the business itself

    await gql.ok(SETTINGS, {"i": {"businessName": "Kowloon Dental Clinic", "dpoName": "Dr Lam Wai Kit",
                                  "dpoEmail": "privacy@kdc.example", "dpoPhone": "+852 2123 4567"}}, ws.admin_token)
    await gql.ok('mutation{ createApiKey(name:"Insurance claims portal", role:"support"){ key } }',
                 token=ws.admin_token)
    revoked = (await gql.ok('mutation{ createApiKey(name:"Old broker feed", role:"support"){ apiKey { id } } }',
                            token=ws.admin_token))["createApiKey"]["apiKey"]["id"]
    await gql.ok("mutation($id:ID!){ revokeApiKey(id:$id){ id } }", {"id": revoked}, ws.admin_token)
    with webhook_options(runtime, allow_private=True), receiver() as rx:
        await gql.ok(WEBHOOK, {"i": {"url": rx.url, "events": ["contact.created"], "description": "Dental laboratory"}},
                     ws.admin_token)
    await gql.ok(POLICY, {"i": {"name": "Old notes", "entity": "activity", "condition": "kind = NOTE",
                                "afterDays": 180, "action": "DELETE", "enabled": True}}, ws.admin_token)
    await gql.ok(POLICY, {"i": {"name": "VIP leads reviewed", "entity": "contact",
                                "condition": "vip = true and stage = LEAD", "afterDays": 1095, "action": "ARCHIVE",
                                "enabled": True}}, ws.admin_token)

    en = (await gql.ok(NOTICE, {"l": "EN"}, ws.admin_token))["privacyNotice"]
    text = en["text"]
    assert "the personal data Kowloon Dental Clinic holds" in text
    dpo = next(s["body"] for s in en["sections"] if s["heading"] == "Access and correction requests")
    assert "Dr Lam Wai Kit" in dpo and "privacy@kdc.example" in dpo and "+852 2123 4567" in dpo
    transfer = next(s["body"] for s in en["sections"] if s["heading"] == "Who we may pass it to")
    assert "Insurance claims portal" in transfer and "Dental laboratory" in transfer
    assert "Old broker feed" not in transfer  # a revoked key receives nothing any more
    retention = next(s["body"] for s in en["sections"] if s["heading"] == "How long we keep it")
    assert "Notes: deleted 6 months after the date they were made." in retention
    assert "VIP leads reviewed: archived 3 years after the last contact with us." in retention
    assert "kind = NOTE" not in text and "1095" not in text and "vip = true" not in text

    zh = (await gql.ok(NOTICE, {"l": "ZH"}, ws.admin_token))["privacyNotice"]
    assert "Kowloon Dental Clinic在客戶紀錄中持有" in zh["text"]
    assert "保障資料主任" in zh["text"] and "privacy@kdc.example" in zh["text"]
    assert "Insurance claims portal（可存取我們紀錄的連接系統）" in zh["text"]
    assert "備註：在紀錄日期的6個月後刪除。" in zh["text"]

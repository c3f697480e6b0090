"""Reply letters over HTTP: the s.19(1) reply (and "we hold no data about you"), the s.19(2) notice, the s.21
refusal with a ground of s.20, in English and Chinese, naming the business and its DPO; the HTML download."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import frozen, only_error, sql
from tests.privacy.subject_helpers import EXPORT, create_request, run_export

LETTERS = "letters { id kind language createdAt text html downloadPath }"
REQUEST = f"id status refusalReason refusalGround {LETTERS}"
FULFIL = f"mutation($id:ID!,$m:String){{ fulfilDataRequest(id:$id, deliveryMethod:$m){{ {REQUEST} }} }}"
REFUSE = ("mutation($id:ID!,$r:String!,$g:RefusalGround){ refuseDataRequest(id:$id, reason:$r, ground:$g)"
          f"{{ {REQUEST} }} }}")
PARTIAL = f"mutation($id:ID!,$n:String!){{ recordPartialComplianceNotice(id:$id, notice:$n){{ {REQUEST} }} }}"
SETTINGS = "mutation($i:WorkspaceSettingsInput!){ updateWorkspaceSettings(input:$i){ businessName } }"
T0 = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # 3 March 2026, 01:30 in Hong Kong


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory, gql: GraphQLClient) -> Workspace:
    ws = await workspaces.create()
    await gql.ok(SETTINGS, {"i": {"businessName": "Harbour Insurance Ltd", "dpoName": "Ms Wong Siu Ling",
                                  "dpoEmail": "dpo@harbour.example", "dpoPhone": "+852 2345 6789"}}, ws.admin_token)
    return ws


def by_language(request: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {x["language"]: x for x in request["letters"] if x["kind"] == kind}


async def test_access_reply_and_no_data_held_in_both_languages(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace, http: httpx.AsyncClient
) -> None:
    contact = await ws.contact(firstName="Letter")
    with frozen(runtime, T0):
        held = await create_request(gql, ws, ws.admin_token, contactId=contact, requesterName="Chan <b>Tai</b> Man",
                                    language="ZH")
        job = (await gql.ok(EXPORT, {"c": contact, "r": held["id"]}, ws.admin_token))["requestContactExport"]
        await run_export(runtime, ws, job["id"])
        done = (await gql.ok(FULFIL, {"id": held["id"], "m": "registered post"}, ws.admin_token))["fulfilDataRequest"]
    assert [x["language"] for x in done["letters"]] == ["ZH", "EN"]  # the request's language first
    letters = by_language(done, "ACCESS_REPLY")
    en, zh = letters["EN"]["text"], letters["ZH"]["text"]
    assert "Harbour Insurance Ltd" in en and "Ms Wong Siu Ling" in en and "dpo@harbour.example" in en
    assert "We hold personal data about you" in en and "registered post on 3 March 2026" in en
    assert "Date: 3 March 2026" in en  # the workspace's time zone, not UTC's 2 March
    assert "閣下的查閱資料要求" in zh and "2026年3月3日" in zh and "Harbour Insurance Ltd 保障資料主任" in zh
    html = letters["EN"]["html"]
    assert "Chan &lt;b&gt;Tai&lt;/b&gt; Man" in html and "<b>Tai</b>" not in html  # autoescaped
    assert '<html lang="zh-Hant">' in letters["ZH"]["html"]

    nobody = await create_request(gql, ws, ws.admin_token, requesterName="Lee Siu Fai")
    reply = (await gql.ok(FULFIL, {"id": nobody["id"], "m": "e-mail"}, ws.admin_token))["fulfilDataRequest"]
    none = by_language(reply, "NO_DATA_HELD")
    assert "we hold no personal data about you" in none["EN"]["text"]
    assert "我們並無持有關於閣下的個人資料" in none["ZH"]["text"]

    # Reading a letter's text is reading the requester's name: audited.
    raw = str(from_global(nobody["id"])[1])
    reads = await sql(runtime, ws.slug, "SELECT fields FROM audit_events WHERE action = 'READ' "
                      "AND entity_type = 'data_request' AND entity_id = :id", {"id": raw})
    assert any("requesterName" in r[0] for r in reads)

    # The download: the stored HTML as a file, with the caller's token; others get nothing.
    path = none["EN"]["downloadPath"]
    response = await http.get(path, headers={"Authorization": f"Bearer {ws.admin_token}"})
    assert response.status_code == 200 and response.text == none["EN"]["html"]
    assert response.headers["content-disposition"].startswith('attachment; filename="no_data_held-en-')
    assert (await http.get(path)).status_code == 401
    sales = await ws.user("sales", ["sales"])
    assert (await http.get(path, headers={"Authorization": f"Bearer {sales['token']}"})).status_code in (403, 404)
    missing = path.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000.html"
    assert (await http.get(missing, headers={"Authorization": f"Bearer {ws.admin_token}"})).status_code == 404
    exports = await sql(runtime, ws.slug, "SELECT details FROM audit_events WHERE action = 'EXPORT' "
                        "AND entity_type = 'data_request' AND entity_id = :id", {"id": raw})
    assert [d[0]["kind"] for d in exports] == ["NO_DATA_HELD"]


async def test_refusal_needs_a_ground_of_the_ordinance(gql: GraphQLClient, ws: Workspace) -> None:
    request = await create_request(gql, ws, ws.admin_token, contactId=await ws.contact(firstName="Refused"))
    error = only_error(await gql.raw(REFUSE, {"id": request["id"], "r": "no"}, ws.admin_token))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ground"}
    wrong = only_error(await gql.raw(REFUSE, {"id": request["id"], "r": "it is accurate", "g": "DATA_NOT_INACCURATE"},
                                     ws.admin_token))  # a correction ground on an access request
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "ground"}
    assert (await gql.ok("query($id:ID!){ dataRequest(id:$id){ status letters { id } } }", {"id": request["id"]},
                         ws.admin_token))["dataRequest"] == {"status": "OPEN", "letters": []}  # nothing changed

    refused = (await gql.ok(REFUSE, {"id": request["id"], "r": "This is the third identical request this month.",
                                     "g": "REPEATED_REQUEST"}, ws.admin_token))["refuseDataRequest"]
    assert refused["status"] == "REFUSED" and refused["refusalGround"] == "REPEATED_REQUEST"
    letters = by_language(refused, "REFUSAL")
    en, zh = letters["EN"]["text"], letters["ZH"]["text"]
    assert "under s.20(3)(c) of the Personal Data (Privacy) Ordinance" in en
    assert "two or more similar requests" in en and "third identical request" in en and "pcpd.org.hk" in en
    assert "notice of refusal under s.21 of the Personal Data (Privacy) Ordinance" in en
    assert "第20(3)(c)條" in zh and "拒絕依從" in zh and "第21條" in zh
    book = (await gql.ok("{ logBook { dataRequestId reason } }", token=ws.admin_token))["logBook"]
    assert any(e["dataRequestId"] == request["id"] for e in book)

    # A reason citing the section still works alone: the ground is read from it.
    cited = await create_request(gql, ws, ws.admin_token, contactId=await ws.contact(firstName="Cited"))
    done = (await gql.ok(REFUSE, {"id": cited["id"], "r": "s.20(1)(a): no identity document was supplied"},
                         ws.admin_token))["refuseDataRequest"]
    assert done["refusalGround"] == "IDENTITY_NOT_PROVEN"

    # An erasure request is refused on its own grounds (DPP2(2), s.26), not on s.20's.
    erasure = await create_request(gql, ws, ws.admin_token, kind="ERASURE", contactId=await ws.contact(firstName="E"))
    wrong = only_error(await gql.raw(REFUSE, {"id": erasure["id"], "r": "again", "g": "REPEATED_REQUEST"},
                                     ws.admin_token))
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "ground"}
    kept = (await gql.ok(REFUSE, {"id": erasure["id"], "r": "The policy's claims records are kept 7 years.",
                                  "g": "STILL_REQUIRED"}, ws.admin_token))["refuseDataRequest"]
    text = by_language(kept, "REFUSAL")["EN"]["text"]
    assert "under DPP2(2), s.26(1)" in text and "still required for the purpose" in text


async def test_partial_compliance_notice_letter(gql: GraphQLClient, ws: Workspace) -> None:
    request = await create_request(gql, ws, ws.admin_token, contactId=await ws.contact(firstName="Partial"))
    notice = "the archived call recordings are held by our vendor and arrive next week"
    noted = (await gql.ok(PARTIAL, {"id": request["id"], "n": notice}, ws.admin_token))["recordPartialComplianceNotice"]
    letters = by_language(noted, "PARTIAL_COMPLIANCE")
    assert "s.19(2)" in letters["EN"]["text"] and notice in letters["EN"]["text"]
    assert "第19(2)條" in letters["ZH"]["text"] and notice in letters["ZH"]["text"]
    only_zh = await gql.ok('query($id:ID!){ dataRequest(id:$id){ letters(language: ZH){ language } } }',
                           {"id": request["id"]}, ws.admin_token)
    assert only_zh["dataRequest"]["letters"] == [{"language": "ZH"}]

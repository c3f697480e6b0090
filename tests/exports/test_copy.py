"""The copy a person receives (issue 13, item 7), over HTTP: a DPO exports the complete copy for an access request
naming two records of one person, downloads it and opens `index.html`: the business and its DPO, today's date
in Hong Kong time, plain labels, every message in time order with its attachment linked inside the ZIP, the
history of changes, who read the data in a sentence, consents, both records; other people's names redacted
(s.20(2)) and the rest listed for review; every value HTML-escaped. In English and in Traditional Chinese."""

# ruff: noqa: RUF001 - the Chinese copy uses full-width punctuation
from __future__ import annotations

import json
import re
from datetime import datetime

import httpx

from resolvers.runtime import Runtime
from tests.exports.copy_helpers import HKT, REQUEST, SCRIPT_NOTE, make_copy, person
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.privacy.helpers import only_error


def body_of(page: str) -> str:
    """The page without its style sheet and the glossary of codes (which names the codes on purpose)."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return page.split('<section class="glossary">')[0]


async def test_the_english_copy_reads_in_plain_words(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    facts = await person(gql, http, ws)
    copy = await make_copy(gql, http, runtime, ws, facts, "EN")
    page, body = copy.page, body_of(copy.page)
    today = datetime.now(HKT)

    assert '<html lang="en">' in page
    assert "From Harbour Trading Ltd" in page
    assert f"Copy made on {today.day} {today:%b} {today.year}" in page
    assert "Miss Lam, Data Protection Officer" in page and "dpo@harbour.example.hk" in page
    assert "+852 2123 4567" in page
    assert "All times are Hong Kong time." in page
    assert "@media print" in page

    # plain labels and values, no codes, quotes or raw UTC
    assert "<th scope=\"row\">Relationship stage</th><td>Customer</td>" in body
    assert "<th scope=\"row\">Marked as a VIP customer</th><td>Yes</td>" in body
    assert "<th scope=\"row\">Date of birth</th><td>4 Mar 1980</td>" in body
    assert "<th scope=\"row\">Staff member responsible</th><td>Alice Wong</td>" in body
    for code in ("CUSTOMER", "LEAD", "&quot;", ">true<", "+00:00", "T01:15"):
        assert code not in body, code

    # both records of the person, together
    assert "The business holds 2 records about you" in body
    assert "<h3>Record 2</h3>" in body and "Kowloon Printing" in body

    # every message and activity, in time order, in HKT (01:15 UTC is 09:15 in Hong Kong)
    order = [body.index(s) for s in ("First call about the catalogue", "Printing quote sent",
                                     "Second meeting: signed the order")]
    assert order == sorted(order)
    assert "2 Nov 2026 09:15 · Phone call" in body
    # the attachment, linked inside the ZIP
    link = re.search(r'<a href="(attachments/[^"]+)">invoice 42.pdf</a>', body)
    assert link is not None and link.group(1) in copy.archive.namelist()

    # the history of changes, in words
    assert re.search(r"<td>Relationship stage</td><td>First contact</td><td>Customer</td>", body)

    # who accessed the data, in a sentence, at the time of the read in HKT
    at = copy.phone_read_at
    assert f"Alice Wong (Sales) viewed your phone number on {at.day} {at:%b} {at.year} {at:%H:%M}" in body
    assert "READ" not in body
    assert "changed your consent (Marketing by e-mail) on" in body

    # consents
    assert "<td>Marketing by e-mail</td><td>Yes</td><td>web form</td>" in body

    # s.20(2): a known contact and a user of the workspace are replaced; strangers and Chinese names are
    # listed for the operator to review
    activities = json.loads(copy.archive.read("activities.json"))
    texts = " ".join(f"{a['subject']} {a['body']}" for a in activities)
    assert "Peter Lee" not in texts and "Peter Lee" not in page
    assert "Referred by [another person]." in texts and "[another person] sent the quote" in texts
    assert "Wife Mary Chan" in texts
    assert {"Wife Mary Chan", "陳大文"} <= set(copy.job["reviewNames"])
    assert "Siu Ming Cheung" not in copy.job["reviewNames"]

    # every value is escaped: the note's script is text, not markup
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;copy&#39;)&lt;/script&gt; prefers calls after 6pm" in body
    assert json.loads(copy.archive.read("contact.json"))["bio"] == SCRIPT_NOTE


async def test_the_chinese_copy_uses_the_chinese_labels(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    facts = await person(gql, http, ws)
    copy = await make_copy(gql, http, runtime, ws, facts, "ZH")
    body = body_of(copy.page)
    today = datetime.now(HKT)

    assert '<html lang="zh-Hant-HK">' in copy.page
    assert "<h1>你的個人資料副本</h1>" in body
    assert f"副本製作日期：{today.year}年{today.month}月{today.day}日" in body
    assert "發出機構：Harbour Trading Ltd" in body
    assert "<th scope=\"row\">關係階段</th><td>客戶</td>" in body
    assert "<th scope=\"row\">標記為貴賓客戶</th><td>是</td>" in body
    assert "<th scope=\"row\">出生日期</th><td>1980年3月4日</td>" in body
    assert "2026年11月2日 09:15 · 電話" in body
    at = copy.phone_read_at
    assert f"Alice Wong（銷售）於{at.year}年{at.month}月{at.day}日 {at:%H:%M}查閱了你的電話號碼" in body
    assert "<td>電郵促銷</td><td>是</td>" in body
    assert "[其他人士]" in body and "Peter Lee" not in body
    for code in ("CUSTOMER", "Customer", "Yes", "&quot;"):
        assert code not in body, code


async def test_names_to_redact_are_checked_and_a_bad_list_changes_nothing(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Siu Ming", lastName="Cheung")
    request = (await gql.ok(REQUEST, {"i": {"kind": "ACCESS", "contactId": contact,
                                            "requesterName": "Cheung Siu Ming"}}, ws.admin_token))["createDataRequest"]
    export = """mutation($c:ID!,$r:ID,$n:[String!]){ requestContactExport(contactId:$c, dataRequestId:$r,
      redactNames:$n){ id } }"""
    for bad in (["Mary Chan", " "], ["x" * 201], [f"Name {i}" for i in range(201)]):
        refused = only_error(await gql.raw(export, {"c": contact, "r": request["id"], "n": bad}, ws.admin_token))
        assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "redactNames"}
    jobs = await gql.ok("{ exportJobs { edges { node { id } } } }", None, ws.admin_token)
    assert jobs["exportJobs"]["edges"] == []

"""Bulk import (CONTRACT.md "Integrations"): a 10k-row CSV with duplicates, invalid rows and a suppressed person;
the dry run reports exactly what the real run then does, counts are right, and nothing suppressed comes back.
Files go through `POST /imports` over HTTP; the job runs as the `imports.run` actor would run it."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from resolvers.contacts.validation import hkid_check_digit
from resolvers.imports import runner as import_runner
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import hong_kong_mobile, sql

START = """mutation($u:ID!,$d:Boolean!,$m:JSON,$k:[String!]){startImport(uploadId:$u,dryRun:$d,mapping:$m,dedupeBy:$k){
  id status dryRun}}"""
JOB = "query($id:ID!){importJob(id:$id){status progress dryRun created updated skipped failed reportUrl error}}"
COUNT = "query($f:ContactFilter){contacts(first:1, filter:$f){totalCount}}"


async def upload(http: httpx.AsyncClient, token: str, name: str, data: bytes) -> httpx.Response:
    return await http.post("/imports", files={"file": (name, data, "text/csv")},
                           headers={"Authorization": f"Bearer {token}"})


async def run_import(http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime, ws: Workspace, upload_id: str,
                     dry_run: bool, **args: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    started = await gql.ok(START, {"u": upload_id, "d": dry_run, **args}, ws.admin_token)
    job_id = started["startImport"]["id"]
    await import_runner.run(runtime, ws.slug, from_global(job_id)[1])
    job = (await gql.ok(JOB, {"id": job_id}, ws.admin_token))["importJob"]
    assert job["status"] == "SUCCEEDED", job
    response = await http.get(job["reportUrl"].replace("http://testserver", ""),
                              headers={"Authorization": f"Bearer {ws.admin_token}"})
    assert response.status_code == 200, response.text
    return job, list(csv.DictReader(io.StringIO(response.text)))


async def total(gql: GraphQLClient, ws: Workspace, **flt: Any) -> int:
    return int((await gql.ok(COUNT, {"f": flt or None}, ws.admin_token))["contacts"]["totalCount"])


def bad_hkid(i: int) -> str:
    digits = f"{i:06d}"
    good = hkid_check_digit("K", digits)
    return f"K{digits}({'1' if good != '1' else '2'})"


async def test_ten_thousand_rows_dry_run_equals_real_run_and_nothing_suppressed_comes_back(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    by_email = [await ws.contact(firstName=f"Old{i}", email=f"old{i}@shop.example.com") for i in range(30)]
    phones = list(dict.fromkeys(hong_kong_mobile() for _ in range(20)))
    by_phone = [await ws.contact(firstName=f"Tel{i}", phone=p) for i, p in enumerate(phones)]
    gone = await ws.contact(firstName="Gone", email="erased.person@example.com")
    await gql.ok('mutation($id:ID!){eraseContact(id:$id, reason:"DSAR"){id}}', {"id": gone}, ws.admin_token)
    before = await total(gql, ws)

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["First name", "Surname", "E-mail", "Mobile", "HKID", "Salary", "Company"])
    expected: list[str] = []
    for i in range(10_000):
        if i < 30:  # an existing contact by e-mail, in other case
            writer.writerow([f"Old{i}", "", f"OLD{i}@Shop.Example.com", "", "", "", "Updated Co"])
            expected.append("updated")
        elif i < 30 + len(phones):  # an existing contact by phone, in local format ("9123 4567")
            local = phones[i - 30].removeprefix("+852")
            writer.writerow([f"Tel{i - 30}", "", "", f"{local[:4]} {local[4:]}", "", "", ""])
            expected.append("updated")
        elif i < 50:
            writer.writerow([f"New{i}", "", f"new{i}@import.example.com", "", "", "", ""])
            expected.append("created")
        elif i < 100:  # comes first with the e-mail of row 155 + i: creates; that later row then updates
            writer.writerow(["Dup", "", f"new{i + 155}@import.example.com", "", "", "", "Dup Co"])
            expected.append("created")
        elif i < 140:
            writer.writerow(["Bad", "", f"not-an-email-{i}", "", "", "", ""])
            expected.append("failed")
        elif i < 180:
            writer.writerow(["Bad", "", "", "", bad_hkid(i), "", ""])
            expected.append("failed")
        elif i < 200:
            writer.writerow(["Bad", "", "", "", "", "lots", ""])
            expected.append("failed")
        elif i < 205:  # the erased person, in any case
            writer.writerow(["Back", "Again", "Erased.Person@example.com" if i % 2 else "erased.person@example.com",
                             "", "", "", ""])
            expected.append("skipped")
        else:
            writer.writerow([f"New{i}", "Chan", f"new{i}@import.example.com", "", "", "45000", "New Co"])
            expected.append("updated" if i < 255 else "created")
    data = out.getvalue().encode()
    response = await upload(http, ws.admin_token, "contacts.csv", data)
    assert response.status_code == 201, response.text
    upload_id = response.json()["uploadId"]
    mapping = {"First name": "firstName", "Surname": "lastName", "E-mail": "email", "Mobile": "phone",
               "HKID": "hkid", "Salary": "salary", "Company": "company"}
    args = {"m": mapping, "k": ["email", "phone"]}

    dry, dry_report = await run_import(http, gql, runtime, ws, upload_id, True, **args)
    assert await total(gql, ws) == before  # the dry run wrote nothing
    real, real_report = await run_import(http, gql, runtime, ws, upload_id, False, **args)

    actions = [r["action"] for r in real_report]
    assert actions == expected
    counts = {a: actions.count(a) for a in ("created", "updated", "skipped", "failed")}
    assert counts == {"created": 10_000 - 100 - 100 - 5, "updated": 100, "skipped": 5, "failed": 100}
    assert {k: real[k] for k in counts} == counts == {k: dry[k] for k in counts}
    assert [(r["row"], r["action"], r["field"], r["reason"]) for r in dry_report] == \
        [(r["row"], r["action"], r["field"], r["reason"]) for r in real_report]
    assert {r["field"] for r in real_report if r["action"] == "failed"} == {"email", "hkid", "salary"}
    assert await total(gql, ws) == before + counts["created"]
    assert await total(gql, ws, email="erased.person@example.com") == 0
    rows = await sql(runtime, ws.slug, "SELECT count(*) FROM contacts WHERE lower(email) = 'erased.person@example.com'")
    assert rows[0][0] == 0
    updated_ids = {r["contactId"] for r in real_report[: 30 + len(phones)]}
    assert updated_ids == set(by_email) | set(by_phone)
    assert await total(gql, ws, email="old7@shop.example.com") == 1


async def test_hong_kong_excel_encodings_and_json_lines(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    text = "firstName,lastName,company\n大文,陳,香港茶餐廳有限公司\n美玲,黃,九龍\n"
    files = {
        "bom.csv": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "big5.csv": text.encode("big5hkscs"),
        "utf16.csv": text.encode("utf-16"),
        "people.jsonl": "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"firstName": "大文", "lastName": "陳", "company": "香港茶餐廳有限公司"},
            {"firstName": "美玲", "lastName": "黃", "company": "九龍"}, ["not", "an", "object"]]).encode(),
    }
    for name, data in files.items():
        response = await upload(http, ws.admin_token, name, data)
        assert response.status_code == 201, (name, response.text)
        job, report = await run_import(http, gql, runtime, ws, response.json()["uploadId"], False)
        assert job["created"] == 2, (name, job, report)
        assert job["failed"] == (1 if name.endswith(".jsonl") else 0)
    names = await gql.ok('{ contacts(first:50, filter:{search:"茶餐廳"}){ edges { node { firstName lastName } } } }',
                         token=ws.admin_token)
    assert [e["node"] for e in names["contacts"]["edges"]] == [{"firstName": "大文", "lastName": "陳"}] * 4


async def test_importing_needs_contact_import_and_bad_input_writes_nothing(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    sales = await ws.user("sales", ["sales"])
    manager = await ws.user("manager", ["manager"])
    refused = await upload(http, sales["token"], "c.csv", b"firstName\nA\n")
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await upload(http, "", "c.csv", b"firstName\nA\n")).status_code == 401
    accepted = await upload(http, manager["token"], "c.csv", b"firstName\nA\n")
    assert accepted.status_code == 201
    upload_id = accepted.json()["uploadId"]
    body = await gql.raw(START, {"u": upload_id, "d": True, "k": ["fax"]}, manager["token"])
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "dedupeBy"}
    body = await gql.raw(START, {"u": upload_id, "d": True, "m": {"A": "password"}}, manager["token"])
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "mapping"}
    body = await gql.raw(START, {"u": upload_id, "d": True, "k": ["hkid"]}, manager["token"])  # hkid is masked
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    garbage = await upload(http, ws.admin_token, "c.csv", bytes(range(128, 256)) * 50)
    assert garbage.status_code == 400 and garbage.json()["errors"][0]["extensions"]["field"] == "file"


async def test_later_rows_see_what_earlier_rows_wrote_whatever_the_batch_size(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = await workspaces.create()
    first, second = hong_kong_mobile(), hong_kong_mobile()
    rows = [
        ["Ada", "ada@rows.example.com", first],  # created
        ["Ada", "ADA@rows.example.com", second],  # the same contact by e-mail: its phone becomes the second
        ["Bo", "bo@rows.example.com", second],  # the same contact by its new phone: its e-mail becomes Bo's
        ["Cy", "ada@rows.example.com", ""],  # nobody holds Ada's e-mail any more: created
        ["Di", "", first],  # nor the first phone: created
        ["Ed", "bad@", ""],  # invalid
    ]
    out = io.StringIO()
    csv.writer(out).writerows([["firstName", "email", "phone"], *rows])
    response = await upload(http, ws.admin_token, "rows.csv", out.getvalue().encode())
    upload_id = response.json()["uploadId"]
    reports = []
    for batch_rows in (2, 500):  # earlier rows in an earlier batch (committed), or in the same batch (in memory)
        monkeypatch.setattr(runtime, "import_batch_rows", batch_rows)
        _, dry = await run_import(http, gql, runtime, ws, upload_id, True, k=["email", "phone"])
        _, real = await run_import(http, gql, runtime, ws, upload_id, False, k=["email", "phone"])
        assert [r["action"] for r in real] == ["created", "updated", "updated", "created", "created", "failed"]
        assert len({r["contactId"] for r in real[:3]}) == 1
        assert [(r["action"], r["field"], r["reason"]) for r in dry] == \
            [(r["action"], r["field"], r["reason"]) for r in real]
        reports.append(real)
        await sql(runtime, ws.slug, "DELETE FROM contact_history")  # start again
        await sql(runtime, ws.slug, "DELETE FROM contacts")
    [(count,)] = await sql(runtime, ws.slug, "SELECT count(*) FROM contacts")
    assert count == 0
    assert [(r["row"], r["action"]) for r in reports[0]] == [(r["row"], r["action"]) for r in reports[1]]
